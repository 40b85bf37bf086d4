"""Data, time budget and evaluation for the gpu-nanogpt task (protected: do not modify).

The task: train a character-level GPT on a GPU for a fixed wall-clock budget and minimise the
cross-entropy of the next character on held-out text, in bits per character (val_bpb).

Nothing is downloaded. The text comes from a seeded word-bigram source (2,000 made-up words, each
followed by one of 32 successors with Dirichlet-drawn probabilities) over a 27-symbol alphabet
(space + a-z). Because the source is known, its entropy rate is exact (`entropy_bound`): no model
can score below it, and a result that does is a leak, which orgloop marks `suspect`.

What train.py may use: the constants below, `train_tokens()` and `save_model()`. The validation
text is generated only inside `evaluate()`, in the evaluation's own process, from its own seed.
The model is handed over as a traced TorchScript file (`save_model`): a pure function from
(EVAL_BATCH, SEQ_LEN) character indices to logits, which the evaluation checks is causal before
scoring it — so no code from train.py runs while val_bpb is computed.

    python prepare.py                      # summary: sizes, budget, bound
    python prepare.py --bound              # the entropy bound, bits/char
    python prepare.py --evaluate model.pt  # prints '---', then val_bpb and bound_bpb

Data and the bound need only numpy; saving and evaluating a model need torch.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys

import numpy as np

ALPHABET = " abcdefghijklmnopqrstuvwxyz"
VOCAB_SIZE = len(ALPHABET)
SEQ_LEN = 256  # characters of context the evaluation gives the model
# Seconds of training, compilation and the first step excluded. NANOGPT_TIME_BUDGET overrides it
# for smoke tests (ORG.md passes it through to the sandbox); real runs leave it unset.
TIME_BUDGET = float(os.environ.get("NANOGPT_TIME_BUDGET", "180"))
EVAL_BATCH = 32
# Characters of held-out text scored. NANOGPT_EVAL_CHARS shrinks it for CPU smoke tests only: the
# score then moves, so compare runs at one setting.
EVAL_CHARS = int(os.environ.get("NANOGPT_EVAL_CHARS", str(1 << 20)))
TRAIN_CHARS = 40_000_000

SOURCE_SEED, TRAIN_SEED, VAL_SEED = 2024, 1, 2
NUM_WORDS = 2000
SUCCESSORS = 32
DIRICHLET_ALPHA = 0.3
MIN_WORD_LEN, MAX_WORD_LEN = 2, 8
CHAIN_CHARS = 50_000  # characters per chain; chains are sampled side by side (numpy is fast wide)


@functools.lru_cache(maxsize=1)
def source() -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """(words, successors, probs, stationary) of the fixed word-bigram source."""
    rng = np.random.default_rng(SOURCE_SEED)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < NUM_WORDS:
        length = int(rng.integers(MIN_WORD_LEN, MAX_WORD_LEN + 1))
        word = "".join(ALPHABET[1 + k] for k in rng.integers(0, 26, size=length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    successors = np.stack(
        [rng.choice(NUM_WORDS, size=SUCCESSORS, replace=False) for _ in range(NUM_WORDS)]
    )
    probs = rng.dirichlet(np.full(SUCCESSORS, DIRICHLET_ALPHA), size=NUM_WORDS)
    pi = np.full(NUM_WORDS, 1.0 / NUM_WORDS)
    for _ in range(10_000):
        nxt = np.zeros(NUM_WORDS)
        np.add.at(nxt, successors.ravel(), (pi[:, None] * probs).ravel())
        if np.abs(nxt - pi).sum() < 1e-14:
            break
        pi = nxt
    else:  # a periodic or reducible chain has no unique stationary law, and then no exact bound
        raise RuntimeError(f"SOURCE_SEED={SOURCE_SEED} gives a chain that does not mix")
    return tuple(words), successors, probs, nxt / nxt.sum()


@functools.lru_cache(maxsize=1)
def entropy_bound() -> float:
    """The entropy rate of the character process, bits per character: the word chain's rate
    divided by the mean characters per word (separating space included)."""
    words, _, probs, pi = source()
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(probs > 0, np.log2(probs), 0.0)
    bits_per_word = float(pi @ -(probs * logp).sum(axis=1))
    chars_per_word = float(pi @ np.array([len(w) + 1 for w in words]))
    return bits_per_word / chars_per_word


def sample_text(num_chars: int, seed: int) -> np.ndarray:
    """`num_chars` character indices (uint8) from chains of about CHAIN_CHARS characters, each
    started in the stationary law, run side by side and laid end to end. A chain's first word
    does not follow the previous chain's last word: one seam in ~9,000 words costs a model a
    little and never helps it, so the bound stays a bound."""
    words, successors, probs, pi = source()
    rng = np.random.default_rng(seed)
    chains = max(1, num_chars // CHAIN_CHARS)
    mean_len = float(pi @ np.array([len(w) + 1 for w in words]))
    steps = int(num_chars / mean_len / chains * 1.1) + 2
    cumulative = probs.cumsum(axis=1)
    word = rng.choice(NUM_WORDS, size=chains, p=pi)
    seq = np.empty((steps, chains), dtype=np.int64)
    for t in range(steps):
        seq[t] = word
        pick = (cumulative[word] < rng.random(chains)[:, None]).sum(axis=1)
        word = successors[word, np.minimum(pick, SUCCESSORS - 1)]
    ids = seq.T.ravel()  # chain after chain
    spelled = [np.array([ALPHABET.index(c) for c in w] + [0], dtype=np.uint8) for w in words]
    flat = np.concatenate(spelled)
    starts = np.concatenate([[0], np.cumsum([len(s) for s in spelled])[:-1]])
    lengths = np.array([len(s) for s in spelled])[ids]
    total = int(lengths.sum())
    if total < num_chars:
        raise RuntimeError("sampled too few characters")  # the 10% slack makes this unreachable
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    index = np.repeat(starts[ids], lengths) + np.arange(total) - first
    return flat[index][:num_chars]


@functools.lru_cache(maxsize=1)
def train_tokens() -> np.ndarray:
    """The training text (TRAIN_CHARS character indices, uint8); cached in-process."""
    tokens = sample_text(TRAIN_CHARS, TRAIN_SEED)
    tokens.setflags(write=False)
    return tokens


def save_model(model, path: str = "model.pt") -> None:  # model: a torch.nn.Module
    """Trace `model` (index tensor (EVAL_BATCH, SEQ_LEN) -> logits (EVAL_BATCH, SEQ_LEN, VOCAB))
    in float32 and save it where `--evaluate` will find it."""
    import torch

    device = next(model.parameters()).device
    example = torch.zeros((EVAL_BATCH, SEQ_LEN), dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        traced = torch.jit.trace(model.float(), example, check_trace=False)
    extra = {"meta.json": json.dumps({"seq_len": SEQ_LEN, "vocab": VOCAB_SIZE})}
    torch.jit.save(traced, path, _extra_files=extra)
    model.train(was_training)


def evaluate(path: str) -> float:
    """val_bpb of a saved model on held-out text generated here; raises ValueError for a model
    that is malformed or looks at characters it is asked to predict."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = torch.jit.load(path, map_location=device)
    model.eval()
    tokens = torch.from_numpy(sample_text(EVAL_CHARS + 1, VAL_SEED).astype(np.int64))
    rows = EVAL_CHARS // SEQ_LEN // EVAL_BATCH * EVAL_BATCH
    x = tokens[: rows * SEQ_LEN].view(rows, SEQ_LEN).to(device)
    y = tokens[1 : rows * SEQ_LEN + 1].view(rows, SEQ_LEN).to(device)
    total = 0.0
    with torch.no_grad():
        _check_causal(model, x[:EVAL_BATCH])
        for i in range(0, rows, EVAL_BATCH):
            logits = model(x[i : i + EVAL_BATCH]).float()
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, VOCAB_SIZE), y[i : i + EVAL_BATCH].reshape(-1), reduction="sum"
            )
            total += float(loss)
    bpb = total / (rows * SEQ_LEN) / math.log(2)
    return bpb if math.isfinite(bpb) else math.nan


def _check_causal(model, x) -> None:  # torch objects: torch is imported lazily
    import torch

    logits = model(x).float()
    if tuple(logits.shape) != (EVAL_BATCH, SEQ_LEN, VOCAB_SIZE):
        raise ValueError(f"logits must be {(EVAL_BATCH, SEQ_LEN, VOCAB_SIZE)}, got {logits.shape}")
    half = SEQ_LEN // 2
    changed = x.clone()
    changed[:, half:] = torch.randint_like(changed[:, half:], VOCAB_SIZE)
    again = model(changed).float()
    scale = 1.0 + float(logits[:, :half].abs().max())
    if float((again[:, :half] - logits[:, :half]).abs().max()) > 1e-3 * scale:
        raise ValueError("the model's early predictions change with later characters: not causal")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--evaluate", metavar="MODEL", help="score a saved model")
    group.add_argument("--bound", action="store_true", help="print the entropy bound")
    args = parser.parse_args(argv)
    if args.bound:
        print(f"{entropy_bound():.6f}")
        return 0
    if args.evaluate:
        try:
            val_bpb = evaluate(args.evaluate)
        except Exception as exc:  # one line, not a traceback: the critic quotes the log's tail
            print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
            return 1
        print("---")
        print("val_bpb: nan" if math.isnan(val_bpb) else f"val_bpb: {val_bpb:.6f}")
        print(f"bound_bpb: {entropy_bound():.6f}")
        return 0
    print("gpu-nanogpt: character-level GPT on a seeded word-bigram source")
    print(f"vocab_size: {VOCAB_SIZE}  seq_len: {SEQ_LEN}  time_budget: {TIME_BUDGET:.0f}s")
    print(f"train_chars: {TRAIN_CHARS}  eval_chars: {EVAL_CHARS}")
    print(f"bound_bpb: {entropy_bound():.6f}  uniform_bpb: {math.log2(VOCAB_SIZE):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
