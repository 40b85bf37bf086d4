"""autoresearch-mini: a character-level MLP language model in numpy. The file the agent edits.

Embeds the CONTEXT previous characters, runs one hidden layer, predicts the next character;
trains with Adam for prepare.TIME_BUDGET seconds, then reports val_bpb from prepare.evaluate_bpb
in autoresearch's summary format.
"""

import time

import numpy as np
from prepare import TIME_BUDGET, VOCAB, evaluate_bpb, train_data

CONTEXT = 4
EMBED = 16
HIDDEN = 64
LR = 0.003
BATCH = 64
ACT = "tanh"
INIT_SCALE = 1.0
SEED = 0


def act(x):
    if ACT == "tanh":
        return np.tanh(x)
    if ACT == "relu":
        return np.maximum(x, 0.0)
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))  # gelu


def forward(p, ctx):
    h_in = p["emb"][ctx].reshape(len(ctx), -1)
    z = h_in @ p["W0"] + p["b0"]
    h = act(z)
    logits = h @ p["W1"] + p["b1"]
    return h_in, z, h, logits


def log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def grads(p, ctx, y):
    h_in, z, h, logits = forward(p, ctx)
    d = np.exp(log_softmax(logits))
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)
    g = {"W1": h.T @ d, "b1": d.sum(0)}
    dh = d @ p["W1"].T
    eps = 1e-4  # activation derivative numerically: the agent may change ACT freely
    dz = dh * (act(z + eps) - act(z - eps)) / (2 * eps)
    g["W0"], g["b0"] = h_in.T @ dz, dz.sum(0)
    demb = np.zeros_like(p["emb"])
    np.add.at(demb, ctx.ravel(), (dz @ p["W0"].T).reshape(-1, EMBED))
    g["emb"] = demb
    return g


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    tokens = train_data()
    p = {
        "emb": rng.standard_normal((VOCAB, EMBED)) * 0.5,
        "W0": rng.standard_normal((CONTEXT * EMBED, HIDDEN))
        * INIT_SCALE
        / np.sqrt(EMBED * CONTEXT),
        "b0": np.zeros(HIDDEN),
        "W1": rng.standard_normal((HIDDEN, VOCAB)) * INIT_SCALE / np.sqrt(HIDDEN),
        "b1": np.zeros(VOCAB),
    }
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    step, start = 0, time.time()
    while time.time() - start < TIME_BUDGET:
        pos = rng.integers(CONTEXT, len(tokens), size=BATCH)
        ctx = tokens[pos[:, None] - CONTEXT + np.arange(CONTEXT)]
        g = grads(p, ctx, tokens[pos])
        step += 1
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            p[k] -= LR * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
    training_seconds = time.time() - start
    val_bpb = evaluate_bpb(lambda ctx: log_softmax(forward(p, ctx)[3]), CONTEXT)
    print("---")
    print(f"val_bpb:          {val_bpb:.6f}")
    print(f"training_seconds: {training_seconds:.1f}")
    print(f"total_seconds:    {time.time() - t0:.1f}")
    print("peak_vram_mb:     0.0")
    print(f"num_steps:        {step}")
    print(f"num_params_M:     {sum(x.size for x in p.values()) / 1e6:.2f}")


if __name__ == "__main__":
    main()
