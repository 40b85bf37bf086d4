"""An autoresearch folder runs with no edits, as its program.md says.

tests/data/autoresearch_mini is laid out like karpathy/autoresearch (program.md, prepare.py,
train.py, pyproject.toml; no ORG.md, no roles/): a numpy model that trains for a fraction of a
second, whose knobs carry autoresearch's names (DEPTH, MATRIX_LR, WARMDOWN_RATIO, …), and prints
autoresearch's `---` summary with val_bpb from prepare.evaluate_bpb. The tests copy it, run the
real engine and sandbox over it with the offline brain, and read what it leaves: the branch
`autoresearch/<tag>`, results.tsv where program.md keeps it (read by a script that does what
autoresearch's analysis.ipynb does), the metric as the protected function returned it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import default_roles_dir, lint, load_org, task_constants
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.errors import RunError
from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor

FIXTURE = Path(__file__).parents[1] / "data" / "autoresearch_mini"
ANALYSIS = Path(__file__).parent / "autoresearch_analysis.py"
HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription"


def pretend_uv(monkeypatch: pytest.MonkeyPatch, present: bool) -> None:
    real: Callable[..., str | None] = shutil.which

    def which(cmd: str, *args: object, **kwargs: object) -> str | None:
        if cmd == "uv":
            return "/usr/bin/uv" if present else None
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(shutil, "which", which)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy, not a git repository yet, on a machine without uv (so no venv to build)."""
    pretend_uv(monkeypatch, present=False)
    return Path(
        shutil.copytree(
            FIXTURE, tmp_path / "autoresearch", ignore=shutil.ignore_patterns("__pycache__", ".*")
        )
    )


def stop_after(engine: Engine, decisions: int) -> None:
    seen = []

    def listener(ev: Event) -> None:
        if ev.kind == "decision":
            seen.append(ev)
            if len(seen) == decisions:
                with open(engine.run_dir / "control.jsonl", "a") as f:
                    f.write(json.dumps({"cmd": "stop"}) + "\n")

    engine.listeners.append(listener)


def score(files: dict[str, str]) -> float:
    """A deterministic stand-in for training over the folder's own knobs."""
    c = {name: k.value for name, k in task_constants(files["train.py"]).items()}
    return round(2.0 + abs(math.log10(float(c["MATRIX_LR"]) / 0.01)) + 0.01 * c["DEPTH"], 6)


def test_the_folder_loads_with_autoresearchs_defaults(folder: Path) -> None:
    org = load_org(folder)
    p = org.program
    assert org.autoresearch and p.name == "autoresearch"
    assert p.body == (folder / "program.md").read_text()
    assert (p.metric.name, p.metric.goal) == ("val_bpb", "minimize")
    assert p.experiment.command == "python train.py"
    assert p.experiment.evaluate is None  # the metric comes from train.py's summary …
    assert p.experiment.measured_by == "prepare.evaluate_bpb"  # … checked against prepare.py
    assert p.experiment.protected == ("prepare.py",)
    assert p.experiment.editable == ("train.py",)
    assert p.budget.experiments is None  # LOOP FOREVER
    assert p.results == "results.tsv"
    assert org.role("reviewer").policy.data["simplicity"] == {"gain": 0.001, "lines": 20}
    assert set(org.roles) == {r.stem for r in default_roles_dir().glob("*.md")}
    findings = lint(org)
    assert not [f for f in findings if f.severity == "error"]
    (space,) = [f for f in findings if f.code == "space"]  # tinylm's knobs are not these
    assert space.message.startswith("`space` knobs LR, HIDDEN, CONTEXT, BATCH, ACT, INIT_SCALE ")
    assert "searches the file's own constants instead: ASPECT_RATIO, DEPTH, EMBED," in space.hint


def test_uv_runs_train_py_where_uv_exists(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_uv(monkeypatch, present=True)
    assert load_org(folder).program.experiment.command == "uv run train.py"


def test_a_run_is_autoresearchs_loop_and_its_analysis_runs(folder: Path) -> None:
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    engine = Engine.start(folder, brain=OfflineBrain(), tag="mar5")
    stop_after(engine, 3)
    state = asyncio.run(engine.run())
    events = read_events(engine.run_dir / "events.jsonl")
    assert events[0].data["org_name"] == "autoresearch"

    # the branch program.md names, at the best commit
    assert state.branch == "autoresearch/mar5"
    assert Git(folder).head("autoresearch/mar5") == state.incumbent

    # results.tsv where program.md keeps it, in its five columns and three statuses
    lines = (folder / "results.tsv").read_text().splitlines()
    assert lines[0] == HEADER
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 5 and re.fullmatch(r"[0-9a-f]{7}", r[0]) for r in rows)
    assert rows[0][3:] == ["keep", "baseline"]
    assert {r[3] for r in rows} <= {"keep", "discard", "crash"}
    assert len(rows) == 3 + 3  # three baseline runs, three decided candidates
    assert all(r[1:3] == ["0.000000", "0.0"] for r in rows if r[3] == "crash")
    # orgloop's own record keeps its richer statuses
    rich = [
        line.split("\t")[3]
        for line in (engine.run_dir / "results.tsv").read_text().split("\n")[1:4]
    ]
    assert rich == ["baseline"] * 3

    # the engineer searched train.py's own knobs, and the PI asked only for those
    knobs = set(task_constants((folder / "train.py").read_text()))
    asked = [
        re.match(r"Change (\w+)", e.data["body"]).group(1)  # type: ignore[union-attr]
        for e in events
        if e.kind == "message_sent" and e.data["kind"] == "direction"
    ]
    assert asked and set(asked) <= knobs
    for e in state.candidates():  # the TPE engineer sets several knobs at once
        assert re.fullmatch(r"[A-Z_]+ \S+ -> \S+(, [A-Z_]+ \S+ -> \S+)*", e.description)
        assert {c.split(" ")[0] for c in e.description.split(", ")} <= knobs, e.description

    # the metric is what prepare.evaluate_bpb returned, recorded by the sandbox
    for e in state.experiments.values():
        if e.status == "ok":
            assert e.info["measured"] is not None
            assert abs(e.info["measured"] - e.metric) <= 5e-7
            assert e.info["isolation"]["measured_by"] == "prepare.evaluate_bpb"

    # the user's files are as they were; results.tsv is new, and git leaves it alone
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k != "results.tsv"} == before
    assert "results.tsv" not in Git(folder).run("status", "--porcelain", "--ignored=no")

    # what autoresearch's analysis.ipynb does to results.tsv, it does here without an error
    done = subprocess.run(
        [sys.executable, str(ANALYSIS)], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Total experiments: 6" in done.stdout
    assert "Baseline val_bpb:" in done.stdout and (folder / "progress.png").is_file()


def test_the_run_goes_on_past_any_experiment_budget(folder: Path) -> None:
    engine = Engine.start(folder, brain=OfflineBrain(), executor=InstantExecutor(score))
    stop_after(engine, 25)
    state = asyncio.run(engine.run())
    assert len(state.decided()) == 25  # the default budget would have stopped at 20
    assert state.finish_reason == "stopped by human"
    assert not [
        e for e in read_events(engine.run_dir / "events.jsonl") if e.kind == "budget_exhausted"
    ]


def test_the_branch_tag_is_todays_and_never_reused(folder: Path) -> None:
    first = Engine.start(folder, brain=OfflineBrain(), executor=InstantExecutor(score))
    first.close()
    second = Engine.start(folder, brain=OfflineBrain(), executor=InstantExecutor(score))
    second.close()
    tag = first.state.branch.removeprefix("autoresearch/")
    assert re.fullmatch(r"[a-z]{3}\d{1,2}", tag)
    assert second.state.branch == f"autoresearch/{tag}-2"
    runs = sorted((folder / ".orgloop" / "runs").iterdir())
    with pytest.raises(RunError, match=f"branch autoresearch/{tag} already exists"):
        Engine.start(folder, brain=OfflineBrain(), executor=InstantExecutor(score), tag=tag)
    assert sorted((folder / ".orgloop" / "runs").iterdir()) == runs  # nothing half-made


def test_a_results_tsv_already_there_is_kept_in_the_run_folder(folder: Path) -> None:
    old = HEADER + "\na1b2c3d\t0.997900\t44.0\tkeep\tbaseline\n"
    (folder / "results.tsv").write_text(old)
    engine = Engine.start(folder, brain=OfflineBrain(), executor=InstantExecutor(score))
    engine.close()
    assert (engine.run_dir / "results.before.tsv").read_text() == old


def test_a_printed_val_bpb_the_evaluation_did_not_return_is_suspect(folder: Path) -> None:
    train = folder / "train.py"
    train.write_text(train.read_text().replace("{val_bpb:.6f}", "{val_bpb * 0.9:.6f}"))
    engine = Engine.start(folder, brain=OfflineBrain())
    state = asyncio.run(engine.run())
    first = state.experiments["e1"]
    assert first.status == "suspect"
    assert re.fullmatch(
        r"val_bpb printed [\d.]+, but prepare\.evaluate_bpb returned [\d.]+", first.info["reason"]
    )
    assert state.finish_reason.startswith("every baseline run failed: e1 suspect")
    rows = (folder / "results.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[3] for r in rows] == ["crash"] * 3
