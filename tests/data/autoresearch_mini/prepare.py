"""Fixed constants, data and evaluation for the autoresearch-mini task. Do not modify.

A stand-in for autoresearch's prepare.py that needs no download and no GPU: the text is drawn
from a seeded word-bigram source over 60 made-up words, generated in-process. `evaluate_bpb`
scores a model's next-character predictions on held-out text, in bits per character; the
held-out text is generated only inside it.
"""

from __future__ import annotations

import math

import numpy as np

TIME_BUDGET = 0.3  # seconds of training
MAX_SEQ_LEN = 4  # characters of context the model sees
ALPHABET = " abcdefghijklmnopqrstuvwxyz"
VOCAB = len(ALPHABET)
TRAIN_CHARS = 100_000
VAL_CHARS = 10_000
_WORDS, _SUCCESSORS = 60, 6
_LOOKUP = np.zeros(256, dtype=np.int64)
_LOOKUP[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(VOCAB)


def _source() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1337)
    words = sorted(
        {
            "".join(rng.choice(list(ALPHABET[1:]), size=rng.integers(2, 6)))
            for _ in range(_WORDS * 2)
        }
    )[:_WORDS]
    nexts = np.stack([rng.choice(len(words), _SUCCESSORS, replace=False) for _ in words])
    probs = rng.dirichlet(np.full(_SUCCESSORS, 0.5), size=len(words))
    return words, nexts, probs


def _text(chars: int, seed: int) -> np.ndarray:
    words, nexts, probs = _source()
    rng = np.random.default_rng(seed)
    cumulative = probs.cumsum(axis=1)
    w, out, total = 0, [], 0
    while total < chars:
        w = int(nexts[w][min(np.searchsorted(cumulative[w], rng.random()), _SUCCESSORS - 1)])
        out.append(words[w])
        total += len(words[w]) + 1
    return _LOOKUP[np.frombuffer(" ".join(out)[:chars].encode(), dtype=np.uint8)]


def train_data() -> np.ndarray:
    """The training text as indices into ALPHABET (space is 0)."""
    return _text(TRAIN_CHARS, seed=1)


def evaluate_bpb(log_probs, context: int) -> float:
    """Bits per character of `log_probs(contexts) -> (n, VOCAB) natural-log probabilities`
    over the held-out text; contexts are the `context` previous characters, space-padded."""
    tokens = _text(VAL_CHARS, seed=2)
    padded = np.concatenate([np.zeros(context, dtype=np.int64), tokens])
    windows = padded[np.arange(len(tokens))[:, None] + np.arange(context)]
    total = 0.0
    for start in range(0, len(tokens), 4096):
        lp = log_probs(windows[start : start + 4096])
        total -= float(lp[np.arange(len(lp)), tokens[start : start + 4096]].sum())
    bpb = total / len(tokens) / math.log(2)
    return bpb if math.isfinite(bpb) else float("nan")


if __name__ == "__main__":
    print(f"train chars: {len(train_data())}, vocab: {VOCAB}, time budget: {TIME_BUDGET}s")
