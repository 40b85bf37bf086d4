"""The metric from protected code: what `prepare.evaluate_bpb` returned in the experiment's own
process, recorded through a file the sandbox owns, held against the val_bpb the script prints.

Real subprocesses in real worktrees: prepare.py defines evaluate_bpb; each train.py reports its
result honestly, or prints a number of its own, or never calls the function.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from orgloop.org import Metric
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors._measure import judge
from orgloop.runtime.executors.base import ExperimentResult, ExperimentSpec
from orgloop.runtime.executors.local import LocalExecutor

PREPARE = '''"""Fixed evaluation. Do not modify."""
def evaluate_bpb(quality):
    return 1.0 + 1.0 / (1.0 + quality)
'''


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "org"
    root.mkdir()
    (root / "prepare.py").write_text(PREPARE)
    (root / "train.py").write_text("print('hi')\n")
    (root / "site").mkdir()  # a sitecustomize of the user's own, for their PYTHONPATH
    (root / "site" / "sitecustomize.py").write_text(
        "import os\nos.environ['USER_SITE_RAN'] = 'yes'\n"
    )
    git = Git(root)
    git.init()
    return root, git.commit_all("base")


def run(repo: tuple[Path, str], train: str, **kw: Any) -> ExperimentResult:
    root, base = repo
    spec = ExperimentSpec(
        id="e1",
        repo=root,
        base=base,
        files={"train.py": textwrap.dedent(train)},
        command="python train.py",
        metric=Metric("val_bpb", "minimize"),
        timeout=30.0,
        workdir=root.parent / "runs" / "e1",
        protected=("prepare.py",),
        measured_by="prepare.evaluate_bpb",
        **kw,
    )
    return asyncio.run(LocalExecutor(1).run(spec, 0))


HONEST = """
    import os
    from prepare import evaluate_bpb
    bpb = evaluate_bpb(3)
    print("---")
    print(f"val_bpb:          {bpb:.6f}")
    print("user sitecustomize:", os.environ.get("USER_SITE_RAN"))
"""


def test_the_value_evaluate_bpb_returned_is_recorded(
    repo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "site")  # relative: the experiment's own copy of the folder
    result = run(repo, HONEST, env=("PYTHONPATH",))
    assert result.status == "ok", result.reason
    assert result.metric == 1.25 and result.measured == 1.25
    assert result.to_event()["measured"] == 1.25
    assert result.isolation["measured_by"] == "prepare.evaluate_bpb"
    assert "user sitecustomize: yes" in result.log_tail  # the user's own still runs


def test_a_printed_value_that_differs_is_suspect(repo: tuple[Path, str]) -> None:
    result = run(
        repo,
        """
        import prepare
        bpb = prepare.evaluate_bpb(3)
        print("---")
        print(f"val_bpb: {bpb * 0.9:.6f}")
        """,
    )
    assert (result.status, result.metric, result.measured) == ("suspect", 1.125, 1.25)
    assert result.reason == "val_bpb printed 1.125000, but prepare.evaluate_bpb returned 1.25"


def test_a_metric_printed_without_calling_the_function_is_suspect(
    repo: tuple[Path, str],
) -> None:
    result = run(repo, "print('---')\nprint('val_bpb: 0.5')\n")
    assert (result.status, result.measured) == ("suspect", None)
    assert result.reason == "val_bpb 0.5 was printed, but prepare.evaluate_bpb never returned"


def test_the_last_of_several_evaluations_counts(repo: tuple[Path, str]) -> None:
    result = run(
        repo,
        """
        from prepare import evaluate_bpb
        for q in (1, 2, 4):
            bpb = evaluate_bpb(q)
        print(f"val_bpb: {bpb:.4f}")
        """,
    )
    assert (result.status, result.measured) == ("ok", 1.2)


def test_print_rounding_is_no_difference() -> None:
    assert not judge(1.2346, "1.2346", "val_bpb", "f", [1.23456]).problem
    assert judge(1.2345, "1.2345", "val_bpb", "f", [1.23456]).problem
    assert not judge(1.0e-3, "1.0e-3", "val_bpb", "f", [0.00104]).problem
    assert judge(2.0, "2", "val_bpb", "f", [2.6]).problem
    assert judge(1.0, "1.0", "val_bpb", "f", [None]).problem.endswith("never returned a number")
