"""Train a character-level MLP language model for the tinylm task (editable file).

The research org edits the hyperparameters below (and may change any code here) to
lower val_bpb. prepare.py is protected and owns the data, the fixed compute budget and
the evaluation: this script only trains within prepare.steps_for(...) optimiser steps,
saves model.npz in prepare's format and prints a training summary. The score comes from
`python prepare.py --evaluate model.npz`, never from here.

The model embeds each of the previous CONTEXT characters, concatenates the embeddings
and feeds them through LAYERS hidden layers of HIDDEN units to 27 logits. It trains
with Adam (decoupled weight decay), linear warmup then cosine decay, in float32 with
manual backprop; the same file gives the same model on every run.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import deque

import numpy as np
import prepare

CONTEXT = 4
EMBED = 16
HIDDEN = 128
LAYERS = 1
LR = 0.003
BATCH = 128
ACT = "tanh"
INIT_SCALE = 1.0
WEIGHT_DECAY = 0.0
WARMUP = 0.0
SEED = 0

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
GELU_C = math.sqrt(2.0 / math.pi)


def act_forward(x: np.ndarray) -> np.ndarray:
    return prepare.activation(ACT, x).astype(np.float32)


def act_backward(x: np.ndarray, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Gradient through the activation, given its input x and output y."""
    if ACT == "tanh":
        return grad * (1.0 - y * y)
    if ACT == "relu":
        return grad * (x > 0)
    t = np.tanh(GELU_C * (x + 0.044715 * x * x * x))
    dt = (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * x * x)
    return grad * (0.5 * (1.0 + t) + 0.5 * x * dt)


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    sizes = [CONTEXT * EMBED] + [HIDDEN] * LAYERS + [prepare.VOCAB_SIZE]
    params = {"emb": rng.standard_normal((prepare.VOCAB_SIZE, EMBED))}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        params[f"W{i}"] = rng.standard_normal((fan_in, fan_out)) * INIT_SCALE / fan_in**0.5
        params[f"b{i}"] = np.zeros(fan_out)
    return {k: v.astype(np.float32) for k, v in params.items()}


def train_step(
    params: dict[str, np.ndarray], ctx: np.ndarray, y: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Forward and backward on one batch; returns (loss in nats, gradients)."""
    n = len(y)
    h = params["emb"][ctx].reshape(n, -1)
    acts = [(h, h)]  # (pre-activation, output) per layer input
    for i in range(LAYERS + 1):
        z = h @ params[f"W{i}"] + params[f"b{i}"]
        h = act_forward(z) if i < LAYERS else z
        acts.append((z, h))
    logits = h - h.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = float(-np.log(probs[np.arange(n), y] + 1e-30).mean())
    grad = probs
    grad[np.arange(n), y] -= 1.0
    grad /= n
    grads = {}
    for i in range(LAYERS, -1, -1):
        x_in = acts[i][1]
        grads[f"W{i}"] = x_in.T @ grad
        grads[f"b{i}"] = grad.sum(axis=0)
        grad = grad @ params[f"W{i}"].T
        if i > 0:
            grad = act_backward(acts[i][0], acts[i][1], grad)
    # a one-hot matmul scatters the rows far faster than np.add.at
    one_hot = np.eye(prepare.VOCAB_SIZE, dtype=np.float32)[ctx.ravel()]
    grads["emb"] = one_hot.T @ grad.reshape(-1, EMBED)
    return loss, grads


def lr_at(step: int, steps: int) -> float:
    warm = int(WARMUP * steps)
    if step < warm:
        return LR * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return LR * 0.5 * (1.0 + math.cos(math.pi * progress))


def main() -> None:
    start = time.time()
    # orgloop runs the baseline under several ORGLOOP_SEEDs to measure the noise of a result
    rng = np.random.default_rng(SEED + int(os.environ.get("ORGLOOP_SEED", "0")))
    tokens = prepare.train_tokens()
    padded = np.concatenate([np.full(CONTEXT, prepare.SPACE, dtype=np.int64), tokens])
    params = init_params(rng)
    shapes = [params[f"W{i}"].shape for i in range(LAYERS + 1)]
    steps = prepare.steps_for(shapes, BATCH)
    adam_m = {k: np.zeros_like(p) for k, p in params.items()}
    adam_v = {k: np.zeros_like(p) for k, p in params.items()}
    offsets = np.arange(CONTEXT)
    recent: deque[float] = deque(maxlen=100)  # train_bpb is the mean of the last 100 steps
    for step in range(steps):
        pos = rng.integers(0, len(tokens), size=BATCH)
        loss, grads = train_step(params, padded[pos[:, None] + offsets], tokens[pos])
        recent.append(loss)
        lr = lr_at(step, steps)
        c1, c2 = 1.0 - BETA1 ** (step + 1), 1.0 - BETA2 ** (step + 1)
        for k, p in params.items():
            adam_m[k] = BETA1 * adam_m[k] + (1 - BETA1) * grads[k]
            adam_v[k] = BETA2 * adam_v[k] + (1 - BETA2) * grads[k] * grads[k]
            p *= np.float32(1.0 - lr * WEIGHT_DECAY)
            p -= np.float32(lr) * (adam_m[k] / c1) / (np.sqrt(adam_v[k] / c2) + EPS)
    np.savez("model.npz", context=np.int64(CONTEXT), act=np.array(ACT), **params)
    print("---")
    print(f"train_bpb: {sum(recent) / max(1, len(recent)) / math.log(2):.6f}")
    print(f"steps: {steps}")
    print(f"params: {sum(p.size for p in params.values())}")
    print(f"seconds: {time.time() - start:.1f}")


if __name__ == "__main__":
    main()
