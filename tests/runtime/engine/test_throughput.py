"""Keeping the slots busy: experiments start the moment a slot is free, a role with `replicas`
runs that many turns at once without proposing a change twice, the experiment budget runs
exactly, a kill -9 among replicas resumes with nothing lost or doubled, and the same seed gives
the same events. Virtual time (`VirtualClock`) and the instant executor keep it fast."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import FunctionBrain, InstantExecutor, VirtualClock

from _orgs import set_frontmatter, small_org, toy_score, use_engineer

HERE = Path(__file__).resolve().parent.parent


def org(tmp_path: Path, *, experiments: int, slots: int, replicas: object = 1) -> Path:
    root = use_engineer(
        small_org(tmp_path / "org", experiments=experiments, baseline_runs=1), "mutate"
    )
    set_frontmatter(root / "ORG.md", experiment={"parallel": slots})
    set_frontmatter(root / "roles" / "engineer.md", replicas=replicas)
    Git(root).commit_all("slots and replicas")
    return root


class Slow:
    """The offline policies after a model call of `think` seconds of the clock's time per turn
    (recorded as one, so the run measures the pace from it)."""

    name = "slow"

    def __init__(self, think: float, sleep: Any = asyncio.sleep) -> None:
        self.think, self.sleep, self.offline = think, sleep, OfflineBrain()

    async def turn(self, ctx: TurnContext) -> None:
        await self.sleep(self.think)
        ctx.record_usage(model="slow", step=1, seconds=self.think)  # thought like a model
        await self.offline.turn(ctx)


def virtual_run(root: Path, slots: int, *, think: float = 1.0, train: float = 10.0) -> Engine:
    clock = VirtualClock()
    executor = InstantExecutor(toy_score, slots=slots, seconds=train, sleep=clock.sleep)
    engine = Engine.start(root, brain=Slow(think, clock.sleep), executor=executor, clock=clock)
    asyncio.run(engine.run())
    return engine


def events(engine: Engine) -> list[Event]:
    return read_events(engine.run_dir / "events.jsonl")


def test_an_experiment_starts_the_moment_a_slot_is_free(tmp_path: Path) -> None:
    engine = virtual_run(org(tmp_path, experiments=6, slots=3), 3)
    log = events(engine)
    sent = [e.data for e in log if e.kind == "message_sent" and e.data["kind"] == "experiment"]
    experiments = {d["id"] for d in sent}
    queued = {d["id"] for d in sent if not d["turn"]}  # the baseline: deliverable at once
    running, peak, idle = 0, 0, []
    for before, ev in itertools.pairwise(log):
        if ev.t > before.t and queued and running < 3:
            idle.append((before.t, ev.t, sorted(queued), running))  # a slot free, work waiting
        if ev.kind == "turn_completed":
            queued |= set(ev.data["produced"]) & experiments
        elif ev.kind == "experiment_started":
            queued.discard(ev.data["message"])
            running += 1
            peak = max(peak, running)
        elif ev.kind == "experiment_finished":
            running -= 1
    assert sum(1 for e in log if e.kind == "experiment_started") == 7  # a baseline, six more
    assert not idle
    assert peak == 3


@pytest.mark.parametrize(("slots", "replicas"), [(1, 1), (3, 3), (2, "auto")])
def test_a_budget_of_n_experiments_runs_exactly_n(
    tmp_path: Path, slots: int, replicas: object
) -> None:
    engine = virtual_run(org(tmp_path, experiments=5, slots=slots, replicas=replicas), slots)
    state = engine.state
    assert state.finish_reason == "experiment budget spent"
    assert len(state.candidates()) == 5 and state.experiments_sent == 5
    assert all(e.decision for e in state.candidates())
    # no paid turn past the budget: every engineer turn sent its experiment
    log = events(engine)
    sent = {e.data["id"]: e.data for e in log if e.kind == "message_sent"}
    made = [
        [sent[m]["kind"] for m in e.data["produced"]]
        for e in log
        if e.kind == "turn_completed" and e.data["role"] == "engineer"
    ]
    assert made == [["experiment"]] * 5


def test_replicas_never_propose_the_same_change_twice(tmp_path: Path) -> None:
    root = org(tmp_path, experiments=3, slots=3, replicas=3)
    clock = VirtualClock()
    refusals: list[str] = []

    async def brain(ctx: TurnContext) -> None:
        if ctx.role.name == "pi" and ctx.message.kind == "kickoff":
            for _ in range(3):
                ctx.call("send", kind="direction", body="try a learning rate")
        elif ctx.role.name == "engineer":
            await clock.sleep(5.0)  # all three think at once
            text = ctx.files()["train.py"]
            line = next(x for x in text.splitlines() if x.startswith("LR = "))
            for lr in ("0.01", "0.02", "0.04", "0.08"):  # each replica tries the first idea first
                ctx.call("edit_file", path="train.py", old_string=line, new_string=f"LR = {lr}")
                result = ctx.call("send", kind="experiment", body=f"LR -> {lr}")
                if result.ok:
                    await clock.sleep(5.0)  # still in flight: its proposal is not committed yet
                    return
                refusals.append(result.content)
                ctx.call("edit_file", path="train.py", content=text)

    executor = InstantExecutor(toy_score, slots=3, seconds=10.0, sleep=clock.sleep)
    engine = Engine.start(root, brain=FunctionBrain(brain), executor=executor, clock=clock)
    asyncio.run(engine.run())
    log = events(engine)
    changes = [
        (e.data["data"]["base"], e.data["data"]["files"]["train.py"])
        for e in log
        if e.kind == "message_sent" and e.data["kind"] == "experiment" and e.data["turn"]
    ]
    assert len(changes) == 3 and len(set(changes)) == 3
    assert any("being proposed by another turn right now" in r for r in refusals), refusals
    # the three engineer turns ran at once: all started before the first completed
    order = [(e.kind, e.data["role"]) for e in log if e.kind.startswith("turn_")]
    engineer = [k for k, role in order if role == "engineer"]
    assert engineer[:3] == ["turn_started"] * 3


def projection(log: list[Event]) -> list[tuple[Any, ...]]:
    """What a run did, without what differs between two folders (paths, ids, commit hashes)."""
    out = []
    for e in log:
        d = e.data
        out.append(
            (e.kind, d.get("role"), d.get("turn"), d.get("message"), d.get("kind"), d.get("body"),
             d.get("description"), d.get("metric"), d.get("verdict"), d.get("slot"))
        )  # fmt: skip
    return out


def test_the_same_seed_gives_the_same_events_with_replicas(tmp_path: Path) -> None:
    runs = [
        projection(
            events(virtual_run(org(tmp_path / str(i), experiments=6, slots=2, replicas=3), 2))
        )
        for i in range(2)
    ]
    assert runs[0] == runs[1]
    assert sum(1 for e in runs[0] if e[0] == "experiment_started") == 7


RUNNER = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[3])
from test_throughput import Slow
from _orgs import toy_score
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor
executor = InstantExecutor(toy_score, slots=2, seconds=0.3)
engine = Engine.start(sys.argv[1], brain=Slow(0.4), executor=executor, run_id="killed")
asyncio.run(engine.run())
"""


def in_flight(log: Path, role: str) -> int:
    if not log.exists():
        return 0
    evs = read_events(log)
    started = sum(1 for e in evs if e.kind == "turn_started" and e.data["role"] == role)
    done = sum(1 for e in evs if e.kind == "turn_completed" and e.data["role"] == role)
    return started - done


def test_kill_9_with_replicas_mid_turn_resumes_with_nothing_lost_or_doubled(
    tmp_path: Path,
) -> None:
    root = org(tmp_path, experiments=4, slots=2, replicas=3)
    here = Path(__file__).resolve().parent
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(root), str(here), str(HERE)], start_new_session=True
    )
    log = root / ".orgloop" / "runs" / "killed" / "events.jsonl"
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and in_flight(log, "engineer") < 2:
        time.sleep(0.01)
    assert in_flight(log, "engineer") >= 2, "the replicas were not in flight together"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_events(log)
    assert before[-1].kind != "run_finished"

    engine = Engine.resume(
        log.parent, brain=Slow(0.4), executor=InstantExecutor(toy_score, slots=2, seconds=0.3)
    )
    state = asyncio.run(engine.run())
    log_after = read_events(log)
    assert log_after[-1].kind == "run_finished"
    consumed = Counter(e.data["message"] for e in log_after if e.kind == "turn_completed")
    assert max(consumed.values()) == 1, "a message was handled twice"
    assert not state.pending, "a message was lost"
    assert len(state.candidates()) == 4 and all(e.decision for e in state.candidates())
    decided = Counter(e.data["experiment"] for e in log_after if e.kind == "decision")
    assert max(decided.values()) == 1
    changes = [
        (m.data["base"], m.data["files"]["train.py"])
        for m in state.messages.values()
        if m.kind == "experiment" and m.turn and m.id in {e.message for e in state.candidates()}
    ]
    assert len(set(changes)) == 4


def test_the_report_and_the_tui_show_thinking_training_and_slots_busy(tmp_path: Path) -> None:
    from orgloop.runtime.report import write_report
    from orgloop.tui import Feed
    from orgloop.tui._running import pace_line

    engine = virtual_run(org(tmp_path, experiments=3, slots=2), 2, think=1.0, train=10.0)
    state = engine.state
    assert state.thinking()["engineer"].mean == pytest.approx(1.0, abs=0.05)
    assert state.training().mean == pytest.approx(10.0, abs=0.05)
    assert state.training().turns == 4  # a baseline and three candidates
    busy = state.slots_busy()
    assert busy is not None and 0.5 < busy <= 1.0
    write_report(engine.run_dir)
    report = (engine.run_dir / "report.md").read_text()
    section = report.split("## Throughput", 1)[1]
    assert f"- Slots busy: {100 * busy:.1f}% of 2 slot(s)" in section
    assert "| engineer | 3 | 3.0 | 1.00 s | thinking |" in section
    assert "| (slots) | 4 | 40.0 | 10.00 s | training |" in section
    feed = Feed(engine.run_dir)
    feed.poll()
    line = pace_line(feed.state)  # the running panel's title
    assert line.startswith(f"slots {busy:.0%} busy · ")
    assert "thinking pi 1.0s, engineer 1.0s, critic 1.0s, reviewer 1.0s" in line, line
    assert line.endswith(" · training 10.0s")
