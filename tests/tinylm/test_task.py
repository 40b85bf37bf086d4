"""The built-in tinylm task: its data source, bound, evaluation and baseline train.py.

The scripts run for real, as subprocesses in a temporary copy of the template folder,
with TINYLM_BUDGET scaled down so training takes well under a second.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

TEMPLATE = Path(__file__).parents[2] / "org/templates/tinylm"
UNIFORM_BPB = math.log2(27)
BUDGET = "0.05"
HYPERPARAMETERS = [
    "CONTEXT",
    "EMBED",
    "HIDDEN",
    "LAYERS",
    "LR",
    "BATCH",
    "ACT",
    "INIT_SCALE",
    "WEIGHT_DECAY",
    "WARMUP",
    "SEED",
]


@pytest.fixture(scope="module")
def prepare() -> Iterator[ModuleType]:
    # A unique module name: other templates may have their own prepare.py.
    spec = importlib.util.spec_from_file_location("tinylm_prepare", TEMPLATE / "prepare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while it loads
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TINYLM_BUDGET": BUDGET}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def copy_task(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("prepare.py", "train.py"):
        shutil.copy(TEMPLATE / name, dest / name)
    return dest


def summary(stdout: str) -> dict[str, str]:
    """The `key: value` lines after the `---` line."""
    lines = stdout.splitlines()
    assert "---" in lines, stdout
    pairs = (line.split(":", 1) for line in lines[lines.index("---") + 1 :] if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def evaluate(model: Path, cwd: Path) -> float:
    proc = run(["prepare.py", "--evaluate", str(model)], cwd)
    assert proc.returncode == 0, proc.stderr
    result = summary(proc.stdout)
    assert re.fullmatch(r"\d+\.\d{6}", result["bound_bpb"])
    return float(result["val_bpb"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    """Two independent train.py runs: (folder, stdout) each."""
    runs = []
    for i in range(2):
        folder = copy_task(tmp_path_factory.mktemp("tinylm") / f"run{i}")
        proc = run(["train.py"], folder)
        assert proc.returncode == 0, proc.stderr
        runs.append((folder, proc.stdout))
    return runs


def test_bound_matches_an_empirical_estimate(prepare: ModuleType) -> None:
    src = prepare.source()
    matrix = src.transition_matrix()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(src.stationary @ matrix, src.stationary, atol=1e-12)
    assert ((matrix > 0).sum(axis=1) == prepare.SUCCESSORS).all()
    # -log2 P(sample) per character of a long sample, scored by the true transition matrix
    words = np.array(prepare.sample_words(2_000_000, seed=12345))
    bits = -np.log2(matrix[words[:-1], words[1:]]).sum()
    chars = sum(len(src.words[w]) + 1 for w in words[1:])
    bound = prepare.entropy_bound()
    assert bits / chars == pytest.approx(bound, rel=0.01)
    assert 0.5 < bound < 0.8


def _primitive_by_powers(matrix: np.ndarray) -> bool:
    """The definition: some power of the pattern is all positive (Wielandt's exponent bounds it)."""
    n = matrix.shape[0]
    reach = power = (matrix > 0).astype(np.int64)
    for _ in range((n - 1) ** 2):
        if power.all():
            return True
        power = ((power @ reach) > 0).astype(np.int64)
    return bool(power.all())


def test_primitivity_is_decided_as_the_matrix_powers_say(prepare: ModuleType) -> None:
    rng = np.random.default_rng(0)
    cycle = np.roll(np.eye(4), 1, axis=1)  # period 4
    bipartite = np.kron([[0, 1], [1, 0]], np.ones((2, 2)))  # period 2
    split = np.kron(np.eye(2), np.ones((2, 2)))  # two classes: not irreducible
    loop = cycle.copy()
    loop[0, 0] = 1  # a self-loop makes the cycle aperiodic
    cases = [cycle, bipartite, split, loop, np.zeros((1, 1)), np.ones((1, 1))]
    cases += [(rng.random((n, n)) < 0.25).astype(float) for n in (2, 3, 5, 6, 8) for _ in range(40)]
    answers = [prepare._is_primitive(m) for m in cases]
    assert answers == [_primitive_by_powers(m) for m in cases]
    assert answers[:6] == [False, False, False, True, False, True]
    assert 0 < sum(answers) < len(answers)  # both answers occur among the random ones


def test_text_is_words_over_the_alphabet(prepare: ModuleType) -> None:
    tokens = prepare.train_tokens()
    assert len(tokens) == prepare.TRAIN_CHARS
    assert tokens.min() >= 0 and tokens.max() < prepare.VOCAB_SIZE == 27
    text = prepare.decode(tokens[:5000])
    vocabulary = set(prepare.source().words)
    assert all(word in vocabulary for word in text.split(" ")[1:-1])
    assert np.array_equal(prepare.encode(text), tokens[:5000])


def test_bound_cli(tmp_path: Path, prepare: ModuleType) -> None:
    folder = copy_task(tmp_path / "task")
    proc = run(["prepare.py", "--bound"], folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{prepare.entropy_bound():.6f}"


def test_uniform_model_scores_log2_27(tmp_path: Path) -> None:
    folder = copy_task(tmp_path / "task")
    rng = np.random.default_rng(0)
    np.savez(
        folder / "uniform.npz",
        context=np.int64(3),
        act=np.array("relu"),
        emb=rng.standard_normal((27, 5)),
        W0=rng.standard_normal((15, 8)),
        b0=rng.standard_normal(8),
        W1=np.zeros((8, 27)),
        b1=np.zeros(27),
    )
    assert abs(evaluate(folder / "uniform.npz", folder) - UNIFORM_BPB) < 1e-6


def test_non_finite_model_scores_nan(tmp_path: Path) -> None:
    folder = copy_task(tmp_path / "task")
    weights = np.zeros((8, 27))
    weights[0, 0] = np.nan  # one bad weight poisons every logit through the all-ones input
    np.savez(
        folder / "nan.npz",
        context=np.int64(2),
        act=np.array("tanh"),
        emb=np.ones((27, 4)),
        W0=weights,
        b0=np.zeros(27),
    )
    proc = run(["prepare.py", "--evaluate", "nan.npz"], folder)
    assert "val_bpb: nan" in proc.stdout.splitlines()


def test_training_lands_between_bound_and_uniform(
    trained: list[tuple[Path, str]], prepare: ModuleType
) -> None:
    folder, stdout = trained[0]
    result = summary(stdout)
    assert {"train_bpb", "steps", "params", "seconds"} <= result.keys()
    assert int(result["steps"]) > 0
    val_bpb = evaluate(folder / "model.npz", folder)
    assert prepare.entropy_bound() < val_bpb < UNIFORM_BPB


def test_training_is_deterministic(trained: list[tuple[Path, str]]) -> None:
    (first, out_a), (second, out_b) = trained
    assert summary(out_a)["train_bpb"] == summary(out_b)["train_bpb"]
    with np.load(first / "model.npz") as a, np.load(second / "model.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
    assert evaluate(first / "model.npz", first) == evaluate(second / "model.npz", second)


def test_train_never_reports_val_bpb(trained: list[tuple[Path, str]]) -> None:
    for _, stdout in trained:
        assert "val_bpb" not in stdout


def test_hyperparameters_are_one_plain_line_each() -> None:
    source = (TEMPLATE / "train.py").read_text()
    for name in HYPERPARAMETERS:
        lines = re.findall(rf"^{name} = .*$", source, flags=re.MULTILINE)
        assert len(lines) == 1, name
        assert "#" not in lines[0], lines[0]


@pytest.mark.parametrize(
    "content",
    [
        None,  # missing file
        b"not a zip file at all",
        "no-keys",
        "bad-shape",
    ],
)
def test_bad_model_file_is_a_one_line_error(tmp_path: Path, content: bytes | str | None) -> None:
    folder = copy_task(tmp_path / "task")
    model = folder / "model.npz"
    if isinstance(content, bytes):
        model.write_bytes(content)
    elif content == "no-keys":
        np.savez(model, emb=np.zeros((27, 4)))
    elif content == "bad-shape":
        np.savez(
            model,
            context=np.int64(4),
            act=np.array("tanh"),
            emb=np.zeros((27, 4)),
            W0=np.zeros((15, 27)),  # 4 chars x 4 dims is 16 inputs, not 15
            b0=np.zeros(27),
        )
    proc = run(["prepare.py", "--evaluate", "model.npz"], folder)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "val_bpb" not in proc.stdout
