"""Done-when: the built-in org, run offline for real, rewrites itself and `history` shows it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.history import format_history, history
from orgloop.runtime.scaffold import init_org

from _orgs import set_frontmatter


@pytest.mark.slow
def test_an_offline_run_commits_a_meta_edit_with_its_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYLM_BUDGET", "0.002")  # a fraction of a second of training each
    root = init_org(tmp_path / "org")
    set_frontmatter(
        root / "ORG.md",
        budget={"experiments": 6},
        experiment={"baseline_runs": 1, "env": ["TINYLM_BUDGET"], "confirm": 0},
        meta={"every": 2},
    )
    git = Git(root)
    git.commit_all("a fast budget")
    engine = Engine.start(root, brain=OfflineBrain(), durable=False)
    state = asyncio.run(engine.run())
    assert state.finished and len(state.candidates()) == 6
    edits = [e for e in state.org_edits if e["author"] == "meta"]
    assert edits, "two windows closed; the offline meta should have edited the org"
    edit = edits[0]
    assert edit["evidence"]["experiments"] and edit["metric_before"] is not None
    assert edit["rationale"] and edit["diff"].startswith("--- a/roles/")
    commit = edit["commit"]
    git.run("merge-base", "--is-ancestor", commit, state.branch)  # on the run branch
    assert git.run("log", "-1", "--format=%an", commit).strip() == "orgloop meta"
    message = git.run("log", "-1", "--format=%B", commit)
    assert f"Generation: {edit['generation']}" in message
    assert all(i in message for i in edit["evidence"]["experiments"])
    gens = history(root)
    assert next(g.commit for g in gens if g.author == "meta") == commit
    text = format_history(gens)
    assert f"gen {edit['generation']}" in text and commit[:7] in text


def _meta_turn(tmp_path: Path, changes: list[str], engineer: str = "mutate") -> str:
    """The offline meta's rationale after a window of discarded `changes` from one incumbent,
    with an engineer of policy kind `engineer`."""
    from orgloop.org import load_org
    from orgloop.runtime.brains._policy_edit import offline_proposal
    from orgloop.runtime.brains.base import TurnContext
    from orgloop.runtime.core.state import Message
    from orgloop.runtime.core.tools import Toolbox
    from orgloop.runtime.testing import RecordingRun

    root = init_org(tmp_path / "org")
    path = root / "roles" / "engineer.md"
    path.write_text(path.read_text().replace("kind: tpe", f"kind: {engineer}"))
    org = load_org(root)
    run, head = RecordingRun(org), Git(root).head()
    run.emit("run_started", {"run_id": "r", "branch": "b", "base": head})
    run.emit("experiment_started", {"id": "e1", "turn": "t", "message": "m", "baseline": True})
    run.emit("experiment_finished", {"id": "e1", "status": "ok", "metric": 2.0})
    ids = []
    for i, change in enumerate(changes, start=2):
        ids.append(f"e{i}")
        run.emit("experiment_started", {"id": f"e{i}", "turn": "t", "message": "m",
                                        "description": change, "base": head})  # fmt: skip
        run.emit("experiment_finished", {"id": f"e{i}", "status": "ok", "metric": 2.1})
        run.emit("decision", {"experiment": f"e{i}", "verdict": "discard", "commit": ""})
    meta = org.roles["meta"]
    window = Message("m9", "human", "meta", "window", "", {"experiments": ids, "window": 1}, None)
    ctx = TurnContext(org=org, role=meta, message=window, render=lambda: "", ledger={},
                      state=run.state, box=Toolbox(run, meta, "t9"), seed="0")  # fmt: skip
    proposal = offline_proposal(ctx)
    return proposal[2] if proposal else ""


def test_a_change_run_twice_from_one_incumbent_counts_as_one_try(tmp_path: Path) -> None:
    twice = _meta_turn(tmp_path / "a", ["INIT_SCALE 1.0 -> 3", "INIT_SCALE 1.0 -> 3"])
    assert "INIT_SCALE was tried" not in twice
    two = _meta_turn(tmp_path / "b", ["INIT_SCALE 1.0 -> 3", "INIT_SCALE 1.0 -> 0.5"])
    assert "INIT_SCALE was tried 2 times (e2, e3) and never kept" in two


def test_a_joint_change_engineer_gets_no_edit_from_a_window_without_a_keep(tmp_path: Path) -> None:
    """A TPE engineer changes every knob each time and ignores the PI's knob directions: a knob's
    record of discards and the PI's patience say nothing about it, so the meta proposes neither
    (a no-op on trial), where a one-knob engineer gets both from the same window."""
    window = ["INIT_SCALE 1.0 -> 3, LR 0.003 -> 0.01", "INIT_SCALE 1.0 -> 0.5, LR 0.003 -> 0.02"]
    assert _meta_turn(tmp_path / "tpe", window, engineer="tpe") == ""
    one_knob = _meta_turn(tmp_path / "mutate", window, engineer="mutate")
    assert "tried 2 times (e2, e3) and never kept" in one_knob
