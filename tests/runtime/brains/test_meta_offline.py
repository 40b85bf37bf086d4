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
        experiment={"baseline_runs": 1, "env": ["TINYLM_BUDGET"]},
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
