"""An autoresearch folder runs with no edits.

tests/data/autoresearch_mini is laid out like karpathy/autoresearch (program.md, prepare.py,
train.py, pyproject.toml; no ORG.md, no roles/), with a numpy model that trains for a fraction of
a second and prints autoresearch's `---` summary, val_bpb computed by a function imported from
prepare.py. The test copies it, runs the real engine and sandbox over it with the offline brain,
and reads results.tsv.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import default_roles_dir, lint, load_org
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import Event
from orgloop.runtime.engine import Engine

FIXTURE = Path(__file__).parents[1] / "data" / "autoresearch_mini"
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


def test_the_folder_loads_with_autoresearchs_defaults(folder: Path) -> None:
    org = load_org(folder)
    p = org.program
    assert org.autoresearch
    assert p.body == (folder / "program.md").read_text()
    assert (p.metric.name, p.metric.goal) == ("val_bpb", "minimize")
    assert p.experiment.command == "python train.py"
    assert p.experiment.evaluate is None  # the metric comes from train.py's summary
    assert p.experiment.protected == ("prepare.py",)
    assert p.experiment.editable == ("train.py",)
    assert set(org.roles) == {r.stem for r in default_roles_dir().glob("*.md")}
    assert not [f for f in lint(org) if f.severity == "error"]


def test_uv_runs_train_py_where_uv_exists(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_uv(monkeypatch, present=True)
    assert load_org(folder).program.experiment.command == "uv run train.py"


def test_a_short_run_writes_autoresearchs_results_tsv(folder: Path) -> None:
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    engine = Engine.start(folder, brain=OfflineBrain())

    def stop_after_first_decision(ev: Event) -> None:
        if ev.kind == "decision":
            with open(engine.run_dir / "control.jsonl", "a") as f:
                f.write(json.dumps({"cmd": "stop"}) + "\n")

    engine.listeners.append(stop_after_first_decision)
    state = asyncio.run(engine.run())

    lines = (engine.run_dir / "results.tsv").read_text().splitlines()
    assert lines[0] == HEADER
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 5 and re.fullmatch(r"[0-9a-f]{7}", r[0]) for r in rows)
    statuses = [r[3] for r in rows]
    assert statuses[:3] == ["baseline"] * 3  # baseline_runs defaults to 3
    assert {"keep", "discard"} & set(statuses[3:])
    assert all(0.0 < float(r[1]) < 5.0 for r in rows if r[3] != "crash")
    assert state.noise is not None
    # the engineer's change is a `NAME = value` edit of train.py, tested in the sandbox
    first = state.experiments["e4"]
    assert re.fullmatch(r"[A-Z_]+ \S+ -> \S+", first.description)
    assert first.info["isolation"]["network"] in ("none", "host")
    # the user's folder is as it was: runs live on their own branch and in .orgloop/
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
