"""Hot reload: human edits of role files during a run, seen by a real watchdog observer.

Every test does real file operations in a real folder and polls with a timeout; nothing sleeps for
a fixed long time.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.meta.reload import RoleWatcher, merge3
from orgloop.runtime.testing import FunctionBrain, InstantExecutor, NoopBrain

from _orgs import small_org, toy_score

PI = "roles/pi.md"


def wait_for(check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def save_by_rename(path: Path, text: str) -> None:
    """How most editors save: write a temp file beside it, then rename it over the original."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_like_vim(path: Path, text: str) -> None:
    """vim's backup dance: rename the original to file~, write a new file, delete the backup."""
    backup = path.with_name(path.name + "~")
    os.rename(path, backup)
    path.write_text(text)
    backup.unlink()


SAVES = [save_by_rename, save_like_vim]


@pytest.mark.parametrize("save", SAVES, ids=lambda f: f.__name__)
def test_the_watcher_sees_a_save(tmp_path: Path, save: Callable[[Path, str], None]) -> None:
    (tmp_path / "pi.md").write_text("old\n")
    watcher = RoleWatcher(tmp_path, debounce=0.05)
    watcher.start()
    try:
        save(tmp_path / "pi.md", "new\n")
        (tmp_path / "notes.txt").write_text("not a role\n")
        assert wait_for(watcher.ready) == ["pi.md"]
    finally:
        watcher.stop()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Engine]:
    root = small_org(tmp_path / "org")
    git = Git(root)
    git.run("config", "user.name", "Ada Lovelace")
    git.run("config", "user.email", "ada@example.org")
    engine = Engine.start(
        root, brain=NoopBrain(), executor=InstantExecutor(toy_score), durable=False
    )
    engine.meta.watch()
    yield engine
    engine.meta.unwatch()
    engine.close()


def org_events(engine: Engine) -> list[Event]:
    engine.apply(engine.meta.poll())
    engine.log.commit()
    return [e for e in read_events(engine.run_dir / "events.jsonl") if e.kind.startswith("org_")]


def branch_text(engine: Engine, path: str) -> str:
    git = Git(engine.org.root)
    return git.show(git.head(f"refs/heads/{engine.state.branch}"), path)


@pytest.mark.parametrize("save", SAVES, ids=lambda f: f.__name__)
def test_a_human_edit_is_committed_as_theirs_and_applied(
    live: Engine, save: Callable[[Path, str], None]
) -> None:
    path = live.org.root / PI
    save(path, path.read_text().replace("patience: 3", "patience: 5"))
    (edited,) = wait_for(lambda: org_events(live))
    d = edited.data
    assert edited.kind == "org_edited"
    assert (d["author"], d["who"], d["file"], d["role"]) == ("human", "Ada Lovelace", PI, "pi")
    git = Git(live.org.root)
    assert git.run("log", "-1", "--format=%an <%ae>", d["commit"]).strip() == (
        "Ada Lovelace <ada@example.org>"
    )
    assert "patience: 5" in branch_text(live, PI)
    assert live.org.roles["pi"].policy.data["patience"] == 5


def test_an_invalid_human_edit_keeps_the_last_good_version(live: Engine) -> None:
    path = live.org.root / PI
    good = path.read_text()
    before = live.state.incumbent
    save_by_rename(
        path, good.replace("receives: [kickoff, review, question]", "receives: [kickoff")
    )
    (rejected,) = wait_for(lambda: org_events(live))
    assert rejected.kind == "org_rejected" and rejected.data["author"] == "human"
    assert "not valid YAML" in rejected.data["reason"]
    assert live.state.incumbent == before and branch_text(live, PI) == good
    assert live.org.roles["pi"].receives == ("kickoff", "review", "question")
    save_like_vim(path, good.replace("patience: 3", "patience: 4"))  # the fix goes through
    events = wait_for(lambda: [e for e in org_events(live) if e.kind == "org_edited"])
    assert "patience: 4" in branch_text(live, PI) and events


def test_a_human_edit_and_a_meta_edit_landing_together_are_both_kept(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    pi = root / PI
    original = pi.read_text()
    human = original.replace("Principal investigator.", "Principal investigator, edited live.")

    async def brain(ctx: TurnContext) -> None:
        if ctx.role.name != "meta":
            return
        text = ctx.call("read_file", path=PI).content  # the meta reads the old version...
        save_by_rename(pi, human)  # ...a person saves theirs while the meta is still writing
        deadline = time.monotonic() + 10
        while not ctx.state.org_edits and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # the engine's loop applies the human edit meanwhile
        new = text.replace("patience: 3", "patience: 2")
        ctx.call("edit_file", path=PI, content=new, rationale="change course sooner")

    engine = Engine.start(
        root, brain=FunctionBrain(brain), executor=InstantExecutor(toy_score), durable=False
    )
    control = {"cmd": "inject", "to": "meta", "kind": "window", "body": "look now"}
    (engine.run_dir / "control.jsonl").write_text(json.dumps(control) + "\n")
    asyncio.run(engine.run())
    edits = engine.state.org_edits
    assert [(e["author"], e["generation"]) for e in edits] == [("human", 1), ("meta", 2)]
    final = branch_text(engine, PI)
    assert "edited live." in final and "patience: 2" in final
    assert edits[1]["parent"] == edits[0]["commit"]  # the meta commit sits on the human's


def test_merge3_combines_edits_of_different_lines_and_refuses_a_conflict() -> None:
    base = "a\nb\nc\nd\ne\n"
    assert merge3(base, "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n") == "A\nb\nc\nd\nE\n"
    assert merge3(base, "a\nB\nc\nd\ne\n", "a\nX\nc\nd\ne\n") is None
