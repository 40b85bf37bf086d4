"""Data, compute budget and evaluation for the "tinylm" research task (protected file).

The task: train a character-level language model, in pure numpy, on text drawn from a
fixed random source, and minimise the cross-entropy of the next character on held-out
text, in bits per character (val_bpb). ``train.py`` is the file the research org edits;
this file is protected and owns everything the score depends on:

* the text source: a seeded Markov chain over 400 random lowercase "words", each with
  about 20 successors whose transition probabilities are Dirichlet-distributed; text is
  the words joined by single spaces, over a 27-symbol alphabet (space + a-z);
* the exact entropy rate of that character process (``entropy_bound``), the floor no
  model can beat in expectation;
* the training text (``train_tokens``) and the fixed training compute budget
  (``COMPUTE_BUDGET``, ``steps_for``), counted in multiply-adds so that a given
  ``train.py`` produces the same model, and the same score, on every run;
* the model file format and the evaluation, the only place val_bpb is computed.

Model file (a numpy ``.npz``): ``context`` (int, number of previous characters seen),
``emb`` (VOCAB_SIZE x E), then an MLP over the concatenated context embeddings,
``W0, b0, W1, b1, ..., Wn, bn`` where ``Wn`` outputs VOCAB_SIZE logits, and ``act``
(``"tanh"``, ``"relu"`` or ``"gelu"``, the tanh approximation) applied after every layer
except the last. Contexts that reach before the start of the text are padded with the
space index, so the very first character is predicted from a context of all spaces.

Command line::

    python prepare.py                       # short summary
    python prepare.py --bound               # the entropy bound, bits/char
    python prepare.py --evaluate model.npz  # prints '---', then val_bpb and bound_bpb

The validation text is regenerated only inside the evaluation (``_val_tokens``), from
its own seed; nothing meant for train.py exposes it.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import math
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALPHABET = " abcdefghijklmnopqrstuvwxyz"
VOCAB_SIZE = len(ALPHABET)
SPACE = ALPHABET.index(" ")

SOURCE_SEED = 1337
TRAIN_SEED = 1
VAL_SEED = 2
NUM_WORDS = 400
SUCCESSORS = 20
# Dirichlet concentration of each word's successor distribution: 0.5 gives about
# 3.3 bits per word, an entropy rate near 0.6 bits per character.
DIRICHLET_ALPHA = 0.5
MIN_WORD_LEN = 2
MAX_WORD_LEN = 7
TRAIN_CHARS = 2_000_000
VAL_CHARS = 100_000

# Training compute in multiply-adds at scale 1.0: about 5 s of the baseline train.py on
# a 2-core CPU. TINYLM_BUDGET scales it (0.1 gives a tenth) for fast tests and benchmarks.
BASE_COMPUTE_BUDGET = 60_000_000_000
COMPUTE_BUDGET = int(BASE_COMPUTE_BUDGET * float(os.environ.get("TINYLM_BUDGET", "1.0")))
# Charged once per optimiser step on top of the matrix work, so that tiny batches cannot
# buy an unbounded number of steps whose cost is really Python and numpy call overhead.
STEP_OVERHEAD_MACS = 1_000_000

ACTIVATIONS = ("tanh", "relu", "gelu")
MAX_CONTEXT = 1024
EVAL_CHUNK = 8192
EVAL_CELLS = 1 << 23


@dataclass(frozen=True)
class Source:
    """The word-bigram source: ``probs[i]`` is the distribution over ``successors[i]``."""

    words: tuple[str, ...]
    successors: np.ndarray  # (NUM_WORDS, SUCCESSORS) int, distinct successor indices
    probs: np.ndarray  # (NUM_WORDS, SUCCESSORS) float64, rows sum to 1
    stationary: np.ndarray  # (NUM_WORDS,) float64

    def transition_matrix(self) -> np.ndarray:
        n = len(self.words)
        matrix = np.zeros((n, n))
        np.put_along_axis(matrix, self.successors, self.probs, axis=1)
        return matrix


def _is_primitive(matrix: np.ndarray) -> bool:
    """True if some power of the chain is strictly positive (irreducible and aperiodic).

    Irreducible: every state reaches state 0 and state 0 reaches every state. Aperiodic: the
    period of an irreducible chain is the gcd, over its edges u -> v, of
    level(u) + 1 - level(v), with level the breadth-first distance from state 0. A walk of the
    graph, not powers of the matrix: it runs in every experiment's process, twice.
    """
    n = matrix.shape[0]
    edges = [np.flatnonzero(row).tolist() for row in matrix > 0]
    back: list[list[int]] = [[] for _ in range(n)]
    for u, out in enumerate(edges):
        for v in out:
            back[v].append(u)
    level = _levels(edges)
    if -1 in level or -1 in _levels(back):
        return False
    period = 0
    for u, out in enumerate(edges):
        for v in out:
            period = math.gcd(period, level[u] + 1 - level[v])
    return period == 1


def _levels(edges: list[list[int]]) -> list[int]:
    """Breadth-first distance of every state from state 0 (-1: not reached)."""
    level = [-1] * len(edges)
    level[0] = 0
    frontier = [0]
    while frontier:
        nxt = []
        for u in frontier:
            for v in edges[u]:
                if level[v] < 0:
                    level[v] = level[u] + 1
                    nxt.append(v)
        frontier = nxt
    return level


@functools.lru_cache(maxsize=1)
def source() -> Source:
    """Build the fixed source from SOURCE_SEED (deterministic, cached)."""
    rng = np.random.default_rng(SOURCE_SEED)
    letters = ALPHABET.replace(" ", "")
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < NUM_WORDS:
        length = int(rng.integers(MIN_WORD_LEN, MAX_WORD_LEN + 1))
        word = "".join(letters[k] for k in rng.integers(0, len(letters), size=length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    successors = np.stack(
        [rng.choice(NUM_WORDS, size=SUCCESSORS, replace=False) for _ in range(NUM_WORDS)]
    )
    probs = rng.dirichlet(np.full(SUCCESSORS, DIRICHLET_ALPHA), size=NUM_WORDS)
    src = Source(tuple(words), successors, probs, np.empty(0))
    matrix = src.transition_matrix()
    # A random 20-out graph on 400 nodes is primitive with overwhelming probability; we
    # check rather than assume, because the bound needs a unique stationary distribution.
    if not _is_primitive(matrix):
        raise RuntimeError(f"SOURCE_SEED={SOURCE_SEED} gives a chain that is not primitive")
    pi = np.full(NUM_WORDS, 1.0 / NUM_WORDS)
    for _ in range(100_000):
        nxt = pi @ matrix
        if np.abs(nxt - pi).sum() < 1e-15:
            break
        pi = nxt
    pi = nxt / nxt.sum()
    return Source(tuple(words), successors, probs, pi)


@functools.lru_cache(maxsize=1)
def entropy_bound() -> float:
    """Exact entropy rate of the character process, in bits per character.

    Words contain no spaces, so the character stream and the word sequence determine each
    other; by the renewal-reward argument the per-character rate is the word chain's rate
    sum_i pi_i H(P_i) divided by the mean characters per word, separating space included.
    """
    src = source()
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(src.probs > 0, np.log2(src.probs), 0.0)
    bits_per_word = float(src.stationary @ -(src.probs * logp).sum(axis=1))
    chars_per_word = float(src.stationary @ np.array([len(w) + 1 for w in src.words]))
    return bits_per_word / chars_per_word


_LOOKUP = np.full(256, -1, dtype=np.int64)
_LOOKUP[np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(VOCAB_SIZE)


def encode(text: str) -> np.ndarray:
    """Map text over ALPHABET to an int64 array of indices (space is SPACE)."""
    codes = _LOOKUP[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    if (codes < 0).any():
        raise ValueError("text contains characters outside ALPHABET")
    return codes


def decode(tokens: np.ndarray) -> str:
    return "".join(ALPHABET[int(t)] for t in tokens)


def sample_words(num_chars: int, seed: int) -> list[int]:
    """Word indices from the chain, started in its stationary distribution, covering at
    least ``num_chars`` characters once joined by spaces."""
    src = source()
    rng = np.random.default_rng(seed)
    # Plain-Python bisect on cumulative lists is several times faster per step than
    # numpy calls on 20-element arrays, and sampling is inherently sequential.
    cumulative = [list(np.cumsum(row)) for row in src.probs]
    for row in cumulative:
        row[-1] = 1.0  # rounding must not leave a gap above the last successor
    successors = src.successors.tolist()
    lengths = [len(w) + 1 for w in src.words]
    word = int(rng.choice(NUM_WORDS, p=src.stationary))
    out = [word]
    total = lengths[word]
    # Expected words needed, plus slack; topped up in the (unlikely) short case.
    while total < num_chars:
        draws = rng.random(num_chars // 4 + 16).tolist()
        for u in draws:
            word = successors[word][bisect.bisect_right(cumulative[word], u)]
            out.append(word)
            total += lengths[word]
            if total >= num_chars:
                break
    return out


def generate_text(num_chars: int, seed: int) -> str:
    words = source().words
    return " ".join(words[i] for i in sample_words(num_chars, seed))[:num_chars]


@functools.lru_cache(maxsize=1)
def train_tokens() -> np.ndarray:
    """The training text (TRAIN_CHARS characters) as int64 indices; cached in-process."""
    tokens = encode(generate_text(TRAIN_CHARS, TRAIN_SEED))
    tokens.setflags(write=False)
    return tokens


def _val_tokens() -> np.ndarray:
    """Held-out text from VAL_SEED. Private: only the evaluation below should call it."""
    return encode(generate_text(VAL_CHARS, VAL_SEED))


def steps_for(weight_shapes: list[tuple[int, int]], batch: int) -> int:
    """Optimiser steps the budget allows for an MLP with these weight matrices.

    A step costs forward (1x) plus backward (2x) matrix work per example, plus the
    per-step overhead charge; embedding lookups and elementwise work are not counted.
    """
    if batch < 1:
        raise ValueError("batch must be >= 1")
    forward = sum(int(a) * int(b) for a, b in weight_shapes)
    per_step = 3 * batch * forward + STEP_OVERHEAD_MACS
    return max(1, COMPUTE_BUDGET // per_step)


def activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "gelu":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
    raise ValueError(f"unknown activation {name!r}")


@dataclass(frozen=True)
class Model:
    context: int
    emb: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    act: str


def load_model(path: str | Path) -> Model:
    """Load and validate a model file; raises ValueError/OSError with a short message."""
    path = Path(path)
    if not path.is_file():
        raise OSError(f"model file not found: {path}")
    # np.load would take a non-zip file for a pickle and say so, which misleads
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz archive")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # np.load raises many types for a corrupt file
        raise ValueError(f"cannot read {path} as .npz: {exc}") from None
    with archive as data:
        keys = set(data.files)
        for key in ("context", "emb", "act", "W0", "b0"):
            if key not in keys:
                raise ValueError(f"model file lacks {key!r}")
        context_arr = np.asarray(data["context"])
        if context_arr.size != 1 or context_arr.dtype.kind not in "iu":
            raise ValueError("'context' must be a single integer")
        context = int(context_arr.reshape(()))
        if not 1 <= context <= MAX_CONTEXT:
            raise ValueError(f"'context' must be in 1..{MAX_CONTEXT}, got {context}")
        act_arr = np.asarray(data["act"])
        if act_arr.dtype.kind != "U" or act_arr.size != 1:
            raise ValueError("'act' must be a string")
        act = str(act_arr.reshape(()))
        if act not in ACTIVATIONS:
            raise ValueError(f"'act' must be one of {ACTIVATIONS}, got {act!r}")
        emb = np.asarray(data["emb"], dtype=np.float64)
        if emb.ndim != 2 or emb.shape[0] != VOCAB_SIZE:
            raise ValueError(f"'emb' must be {VOCAB_SIZE} x E, got {emb.shape}")
        weights: list[np.ndarray] = []
        biases: list[np.ndarray] = []
        width = context * emb.shape[1]
        while f"W{len(weights)}" in keys:
            i = len(weights)
            if f"b{i}" not in keys:
                raise ValueError(f"model file has W{i} but no b{i}")
            w = np.asarray(data[f"W{i}"], dtype=np.float64)
            b = np.asarray(data[f"b{i}"], dtype=np.float64)
            if w.ndim != 2 or w.shape[0] != width:
                raise ValueError(f"W{i} must have {width} rows, got shape {w.shape}")
            if b.shape != (w.shape[1],):
                raise ValueError(f"b{i} must have shape ({w.shape[1]},), got {b.shape}")
            weights.append(w)
            biases.append(b)
            width = w.shape[1]
        if width != VOCAB_SIZE:
            raise ValueError(f"last layer must output {VOCAB_SIZE} logits, got {width}")
    return Model(context, emb, weights, biases, act)


def evaluate(model: Model, tokens: np.ndarray) -> float:
    """Mean next-character cross-entropy over ``tokens`` in bits (nan if non-finite)."""
    padded = np.concatenate([np.full(model.context, SPACE, dtype=np.int64), tokens])
    offsets = np.arange(model.context)
    # rows per batch: bounded so the widest activation stays near 64 MB in float64
    widest = max([model.context * model.emb.shape[1]] + [w.shape[1] for w in model.weights])
    chunk = max(16, min(EVAL_CHUNK, EVAL_CELLS // max(1, widest)))
    total = 0.0
    with np.errstate(all="ignore"):
        for start in range(0, len(tokens), chunk):
            pos = np.arange(start, min(start + chunk, len(tokens)))
            # padded[pos + k] for k < context are the context characters of tokens[pos]
            x = model.emb[padded[pos[:, None] + offsets]].reshape(len(pos), -1)
            for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
                x = x @ w + b
                if i < len(model.weights) - 1:
                    x = activation(model.act, x)
            if not np.isfinite(x).all():
                return math.nan
            top = x.max(axis=1, keepdims=True)
            logz = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
            total += float((logz - x[np.arange(len(pos)), tokens[pos]]).sum())
    bpb = total / len(tokens) / math.log(2)
    return bpb if math.isfinite(bpb) else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--evaluate", metavar="MODEL", help="score a model .npz file")
    group.add_argument("--bound", action="store_true", help="print the entropy bound")
    args = parser.parse_args(argv)
    if args.bound:
        print(f"{entropy_bound():.6f}")
        return 0
    if args.evaluate is not None:
        try:
            model = load_model(args.evaluate)
        except Exception as exc:  # report any bad file as one line, never a traceback
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"error: {message}", file=sys.stderr)
            return 1
        val_bpb = evaluate(model, _val_tokens())
        print("---")
        print("val_bpb: nan" if math.isnan(val_bpb) else f"val_bpb: {val_bpb:.6f}")
        print(f"bound_bpb: {entropy_bound():.6f}")
        return 0
    print("tinylm: character-level LM on a seeded word-bigram source")
    print(f"vocab_size: {VOCAB_SIZE}")
    print(f"bound_bpb: {entropy_bound():.6f}")
    print(f"uniform_bpb: {math.log2(VOCAB_SIZE):.6f}")
    print(f"train_chars: {len(train_tokens())}")
    print(f"val_chars: {VAL_CHARS}")
    print(f"compute_budget: {COMPUTE_BUDGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
