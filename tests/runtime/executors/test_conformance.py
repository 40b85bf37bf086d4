"""The Executor contract, one suite for every executor: the same experiments give the same statuses
and metrics, the engineer's diff is what gets measured and committed, results carry their fields,
and `slots` experiments run at once without crossing.

The task is a tiny repository whose train.py says what to do with two constants: MODE (ok, crash,
timeout, tamper) and VALUE (the metric it prints). A process-running executor runs it for real;
the instant executor scores the same files with a model of that script (`instant_outcome`). A new
executor joins by adding a factory to EXECUTORS; the Ray executor runs on a real two-node local
cluster (the `ray_cluster` fixture), where the same experiments travel to a node as data.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orgloop.org import Metric
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors import Executor, ExperimentResult, ExperimentSpec, LocalExecutor
from orgloop.runtime.testing import InstantExecutor

TRAIN = """\
import os, sys, time
MODE = {mode!r}
VALUE = {value!r}
print("start", time.time(), flush=True)
if MODE == "crash":
    sys.exit("boom: the experiment failed")
if MODE == "timeout":
    time.sleep(60)
if MODE == "tamper":
    os.chmod("prepare.py", 0o644)
    open("prepare.py", "a").write("# changed\\n")
if MODE == "sleep":
    time.sleep(1.0)
print("end", time.time(), flush=True)
print("---")
print(f"val_bpb: {{VALUE}}")
"""
PREPARE = "# the protected evaluation's code\n"
TIMEOUT = 3.0
"""For the experiment that hangs; every other has LONG, so a loaded machine never times it out."""
LONG = 60.0


def instant_outcome(files: dict[str, str]) -> tuple[str, float | None]:
    """What the task's train.py does, without running it: the instant executor's model."""
    src = files["train.py"]
    mode = re.search(r"^MODE = '(\w+)'$", src, re.MULTILINE)
    value = re.search(r"^VALUE = (.+)$", src, re.MULTILINE)
    assert mode and value
    status = {"ok": "ok", "sleep": "ok", "crash": "crash", "timeout": "timeout"}.get(
        mode.group(1), "void"
    )
    return status, float(value.group(1)) if status == "ok" else None


def _ray(slots: int) -> Executor:
    from orgloop.runtime.executors.ray import RayExecutor

    return RayExecutor(slots)  # on the cluster this process joined (the ray_cluster fixture)


EXECUTORS: dict[str, Callable[[int], Executor]] = {
    "local": lambda slots: LocalExecutor(slots),
    "instant": lambda slots: InstantExecutor(instant_outcome, slots=slots),
    "ray": _ray,
}
RUNS_PROCESSES = {"local", "ray"}


@pytest.fixture(params=sorted(EXECUTORS))
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")  # two real nodes, started once for this module
    return str(request.param)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "org"
    root.mkdir()
    (root / "prepare.py").write_text(PREPARE)
    (root / "train.py").write_text(TRAIN.format(mode="ok", value=9.0))
    git = Git(root)
    git.init()
    return root, git.commit_all("base")


def spec(repo: tuple[Path, str], mode: str, value: float = 1.25, exp: str = "e1") -> ExperimentSpec:
    """An experiment of the task with train.py's MODE and VALUE set."""
    root, base = repo
    return ExperimentSpec(
        id=exp,
        repo=root,
        base=base,
        files={"train.py": TRAIN.format(mode=mode, value=value)},
        command="python train.py",
        metric=Metric("val_bpb", "minimize", bound=0.5),
        timeout=TIMEOUT if mode == "timeout" else LONG,
        workdir=root.parent / "runs" / exp,
        protected=("prepare.py",),
        message=f"{exp}: {mode}",
        commit_date="1700000000 +0000",
        ref=f"refs/orgloop/test/{exp}",
    )


def run(kind: str, *specs: ExperimentSpec, slots: int = 1) -> list[ExperimentResult]:
    executor = EXECUTORS[kind](slots)

    async def go() -> list[ExperimentResult]:
        return list(await asyncio.gather(*(executor.run(s, i) for i, s in enumerate(specs))))

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("mode", "status", "metric"),
    [("ok", "ok", 1.25), ("crash", "crash", None), ("timeout", "timeout", None)],
)
def test_status_and_metric(
    kind: str, repo: tuple[Path, str], mode: str, status: str, metric: float | None
) -> None:
    (result,) = run(kind, spec(repo, mode))
    assert (result.status, result.metric) == (status, metric)
    if status != "ok":
        assert result.metric is None


def test_a_changed_protected_file_makes_the_experiment_void(
    kind: str, repo: tuple[Path, str]
) -> None:
    (result,) = run(kind, spec(repo, "tamper"))
    assert result.status == "void" and result.metric is None


def test_a_metric_beyond_the_bound_is_suspect_not_ok(kind: str, repo: tuple[Path, str]) -> None:
    if kind not in RUNS_PROCESSES:
        pytest.skip("the bound is judged on the output of a process")
    (result,) = run(kind, spec(repo, "ok", value=0.1))
    assert result.status == "suspect"


def test_the_diff_is_applied_and_committed_on_the_base(kind: str, repo: tuple[Path, str]) -> None:
    root, base = repo
    s = spec(repo, "ok", value=1.5)
    (result,) = run(kind, s)
    git = Git(root)
    assert git.run("rev-parse", f"{result.commit}^").strip() == base
    assert git.show(result.commit, "train.py") == s.files["train.py"]
    assert git.show(result.commit, "prepare.py") == PREPARE
    assert "+VALUE = 1.5" in result.diff and "-VALUE = 9.0" in result.diff
    assert git.run("rev-parse", s.ref).strip() == result.commit  # reachable, kept or not
    assert git.run("status", "--porcelain") == ""  # the user's checkout is untouched


def test_the_result_carries_its_fields(kind: str, repo: tuple[Path, str]) -> None:
    (result,) = run(kind, spec(repo, "ok"))
    event = result.to_event()
    assert set(event) >= {
        "status",
        "metric",
        "commit",
        "seconds",
        "memory_gb",
        "reason",
        "log_tail",
        "hardware",
        "gpus",
        "isolation",
    }
    assert result.seconds >= 0 and result.hardware
    if kind in RUNS_PROCESSES:
        assert "val_bpb: 1.25" in result.log_tail and result.isolation


def test_slots_run_at_once_without_crossing(kind: str, repo: tuple[Path, str]) -> None:
    values = [1.1, 1.2, 1.3]
    specs = [spec(repo, "sleep", v, exp=f"e{i + 1}") for i, v in enumerate(values)]
    results = run(kind, *specs, slots=len(specs))
    assert [r.metric for r in results] == values
    root = repo[0]
    for s, r in zip(specs, results, strict=True):
        assert Git(root).show(r.commit, "train.py") == s.files["train.py"]
    if kind in RUNS_PROCESSES:  # they overlapped in time: each started before any ended
        spans = [_span(r.log_tail) for r in results]
        assert max(start for start, _ in spans) < min(end for _, end in spans)


def _span(log: str) -> tuple[float, float]:
    found: dict[str, Any] = dict(re.findall(r"^(start|end) ([\d.]+)$", log, re.MULTILINE))
    return float(found["start"]), float(found["end"])


def test_slots_is_what_was_asked_on_cpu(kind: str) -> None:
    if kind == "local" and LocalExecutor(1).devices[0].gpus:
        pytest.skip("GPU slots follow the GPUs found")
    assert EXECUTORS[kind](3).slots == 3


def test_a_crash_says_why(kind: str, repo: tuple[Path, str]) -> None:
    if kind not in RUNS_PROCESSES:
        pytest.skip("only a process has an exit status and a log")
    (result,) = run(kind, spec(repo, "crash"))
    assert "boom: the experiment failed" in result.reason + result.log_tail
