"""kill -9 at any moment, then resume: the run finishes, no message is lost or handled twice, and
results.tsv agrees with the run branch. Real processes, real experiments (tinylm, tiny budget)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors._procs import TAG

from _orgs import small_org

RUNNER = """
import asyncio, sys
from orgloop.runtime.engine import Engine
from orgloop.runtime.brains.offline import OfflineBrain
engine = Engine.start(sys.argv[1], brain=OfflineBrain(), run_id="killed")
asyncio.run(engine.run())
"""


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process, or None when it is gone (or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else (int(fields[1]), int(fields[19]))


def descendants(root: int) -> dict[int, int]:
    """Every live process under `root`, pid -> start time (a pid reused later is not ours)."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))):
            parents[int(entry.name)], starts[int(entry.name)] = st
    out: dict[int, int] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in out:
                out[child] = starts[child]
                frontier.append(child)
    return out


def experiments_under(root: int) -> dict[int, int]:
    """The sandboxed processes under `root`: those whose environment carries the sandbox's tag
    (their folders and mounts are private, so their cwd says nothing)."""
    out = {}
    for pid, start in descendants(root).items():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(item.startswith(TAG.encode() + b"=") for item in environ):
            out[pid] = start
    return out


def still_alive(procs: dict[int, int]) -> list[int]:
    return [pid for pid, start in procs.items() if (st := _stat(pid)) and st[1] == start]


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [0, 6, 40])
def test_kill_9_then_resume_finishes_exactly_once(tmp_path: Path, kill_at: int) -> None:
    root = small_org(tmp_path / "org", experiments=2, baseline_runs=1)
    env = {**os.environ, "TINYLM_BUDGET": "0.03"}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(root)], env=env, start_new_session=True
    )
    log = root / ".orgloop" / "runs" / "killed" / "events.jsonl"
    deadline = time.monotonic() + 60
    # kill_at 0: once an experiment process runs; else once the log has that many lines
    while proc.poll() is None and time.monotonic() < deadline:
        if experiments_under(proc.pid) if kill_at == 0 else lines(log) >= kill_at:
            break
        time.sleep(0.01)
    under = descendants(proc.pid)
    if kill_at == 0:
        assert experiments_under(proc.pid), "no experiment was running at the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # the experiment runs in its own session, so the kill did not reach it: it must die anyway
    deadline = time.monotonic() + 5
    while still_alive(under) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not still_alive(under), "a process outlived the engine"
    before = read_events(log)
    assert before and before[-1].kind != "run_finished", "killed before the end"

    os.environ["TINYLM_BUDGET"] = "0.03"
    try:
        engine = Engine.resume(log.parent, brain=OfflineBrain())
        asyncio.run(engine.run())
    finally:
        del os.environ["TINYLM_BUDGET"]
    events = read_events(log)
    assert events[-1].kind == "run_finished"
    consumed = Counter(e.data["message"] for e in events if e.kind == "turn_completed")
    assert max(consumed.values()) == 1, "a message was handled twice"
    state = engine.state
    # what the kill left (a half-made worktree, a lock) did not cost the rerun its experiment
    reasons = [str(e.info.get("reason", "")) for e in state.experiments.values()]
    assert not [r for r in reasons if "could not prepare" in r], reasons
    assert not state.pending
    assert len(state.candidates()) == 2 and all(e.decision for e in state.candidates())
    decisions = Counter(e.data["experiment"] for e in events if e.kind == "decision")
    assert max(decisions.values()) == 1
    # results.tsv agrees with the run branch: its kept commits, in order, are the branch's history
    rows = [r.split("\t") for r in (log.parent / "results.tsv").read_text().splitlines()[1:]]
    kept = [r[0] for r in rows if r[3] == "keep"]
    git = Git(root)
    history = [c[:7] for c in git.run("rev-list", "--reverse", state.branch).split()]
    assert kept == [c for c in history if c in kept]
    assert git.head(state.branch) == state.incumbent
    if kept:
        assert history[-1] == kept[-1]
    assert len(rows) == 1 + 2  # one baseline, two candidates, each once


def test_resume_clears_the_lock_a_killed_git_left_on_the_run_branch(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    engine = Engine.start(root, brain=OfflineBrain(), run_id="locked")
    engine.close()
    branch = engine.state.branch
    # what `git update-ref` leaves when it is killed between taking the lock and renaming it
    lock = root / ".git" / "refs" / "heads" / f"{branch}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("0" * 40 + "\n")
    os.environ["TINYLM_BUDGET"] = "0.03"
    try:
        resumed = Engine.resume(engine.run_dir, brain=OfflineBrain())
        state = asyncio.run(resumed.run())
    finally:
        del os.environ["TINYLM_BUDGET"]
    assert state.finished and not lock.exists()
    assert Git(root).head(branch) == state.incumbent


def test_an_experiment_reruns_over_the_locked_worktree_a_killed_run_left(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    engine = Engine.start(root, brain=OfflineBrain(), run_id="half-made")
    # `git worktree add` killed midway: the worktree is registered, locked, and gone from disk
    tree = engine.run_dir / "experiments" / "e1" / "tree"
    Git(root).run("worktree", "add", "-q", "--detach", "--lock", str(tree), "HEAD")
    shutil.rmtree(tree)
    os.environ["TINYLM_BUDGET"] = "0.03"
    try:
        state = asyncio.run(engine.run())
    finally:
        del os.environ["TINYLM_BUDGET"]
    assert state.experiments["e1"].status == "ok", state.experiments["e1"].info.get("reason")
    assert state.finished and len(state.candidates()) == 1
