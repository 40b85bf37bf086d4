"""autoresearch-mini: a character-level MLP language model in numpy. The file the agent edits.

Embeds the prepare.MAX_SEQ_LEN previous characters, runs DEPTH hidden layers of
DEPTH * ASPECT_RATIO units, predicts the next character. Adam with decoupled weight decay, a
learning rate per parameter group (embedding, matrices, unembedding) on a warmup / warmdown
schedule over prepare.TIME_BUDGET seconds; then val_bpb from prepare.evaluate_bpb in
autoresearch's summary format. The knob names follow autoresearch's train.py.
"""

import os
import time

import numpy as np
from prepare import MAX_SEQ_LEN, TIME_BUDGET, VOCAB, evaluate_bpb, train_data

# Model size
DEPTH = 1               # number of hidden layers
ASPECT_RATIO = 64       # hidden width = DEPTH * ASPECT_RATIO

# Optimization
TOTAL_BATCH_SIZE = 2**6 # characters per optimizer step
EMBEDDING_LR = 0.01     # learning rate for the character embeddings
MATRIX_LR = 0.003       # learning rate for the hidden layers
UNEMBEDDING_LR = 0.003  # learning rate for the output layer
WEIGHT_DECAY = 0.0      # decoupled weight decay on the matrices
WARMUP_RATIO = 0.0      # fraction of the time budget for LR warmup
WARMDOWN_RATIO = 0.5    # fraction of the time budget for LR warmdown
FINAL_LR_FRAC = 0.0     # final LR as a fraction of the initial one

EMBED = 16


def init(rng):
    width = DEPTH * ASPECT_RATIO
    sizes = [MAX_SEQ_LEN * EMBED] + [width] * DEPTH
    p = {"emb": rng.standard_normal((VOCAB, EMBED)) * 0.5}
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        p[f"W{i}"] = rng.standard_normal((a, b)) / np.sqrt(a)
        p[f"b{i}"] = np.zeros(b)
    p["Wout"] = rng.standard_normal((sizes[-1], VOCAB)) / np.sqrt(sizes[-1])
    p["bout"] = np.zeros(VOCAB)
    return p


def forward(p, ctx):
    x = p["emb"][ctx].reshape(len(ctx), -1)
    acts = [x]
    for i in range(DEPTH):
        x = np.tanh(x @ p[f"W{i}"] + p[f"b{i}"])
        acts.append(x)
    return acts, x @ p["Wout"] + p["bout"]


def log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def grads(p, ctx, y):
    acts, logits = forward(p, ctx)
    d = np.exp(log_softmax(logits))
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)
    g = {"Wout": acts[-1].T @ d, "bout": d.sum(0)}
    dx = d @ p["Wout"].T
    for i in reversed(range(DEPTH)):
        dz = dx * (1.0 - acts[i + 1] ** 2)
        g[f"W{i}"], g[f"b{i}"] = acts[i].T @ dz, dz.sum(0)
        dx = dz @ p[f"W{i}"].T
    demb = np.zeros_like(p["emb"])
    np.add.at(demb, ctx.ravel(), dx.reshape(-1, EMBED))
    g["emb"] = demb
    return g


def lr_scale(progress):
    if progress < WARMUP_RATIO:
        return (progress + 1e-8) / WARMUP_RATIO
    if progress > 1.0 - WARMDOWN_RATIO:
        left = (1.0 - progress) / max(WARMDOWN_RATIO, 1e-8)
        return FINAL_LR_FRAC + (1.0 - FINAL_LR_FRAC) * max(left, 0.0)
    return 1.0


def main():
    t0 = time.time()
    rng = np.random.default_rng(int(os.environ.get("ORGLOOP_SEED", "0")))
    tokens = train_data()
    p = init(rng)
    lrs = {k: EMBEDDING_LR if k == "emb" else UNEMBEDDING_LR if "out" in k else MATRIX_LR for k in p}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    step, start = 0, time.time()
    while (elapsed := time.time() - start) < TIME_BUDGET:
        pos = rng.integers(MAX_SEQ_LEN, len(tokens), size=TOTAL_BATCH_SIZE)
        ctx = tokens[pos[:, None] - MAX_SEQ_LEN + np.arange(MAX_SEQ_LEN)]
        g = grads(p, ctx, tokens[pos])
        step += 1
        scale = lr_scale(elapsed / TIME_BUDGET)
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            update = (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
            if k.startswith("W"):
                update = update + WEIGHT_DECAY * p[k]
            p[k] -= lrs[k] * scale * update
    training_seconds = time.time() - start
    val_bpb = evaluate_bpb(lambda ctx: log_softmax(forward(p, ctx)[1]), MAX_SEQ_LEN)
    print("---")
    print(f"val_bpb:          {val_bpb:.6f}")
    print(f"training_seconds: {training_seconds:.1f}")
    print(f"total_seconds:    {time.time() - t0:.1f}")
    print("peak_vram_mb:     0.0")
    print(f"num_steps:        {step}")
    print(f"num_params_M:     {sum(x.size for x in p.values()) / 1e6:.2f}")
    print(f"depth:            {DEPTH}")


if __name__ == "__main__":
    main()
