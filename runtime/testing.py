"""Test doubles that ship with orgloop: brains and an executor that need no model and no time.

- `FunctionBrain(fn)`: a policy written inline — `fn(ctx)` (sync or async) calls tools.
- `NoopBrain`: does nothing; every turn ends without a message.
- `InstantExecutor(score)`: "runs" an experiment by committing its files and scoring them with
  `score(files)` — no subprocess, so engine tests and benchmarks measure the engine. The score is
  the metric (status ok), None (a crash), or (status, metric) for any other outcome.
  With `seconds` and a `sleep`, each experiment takes that long on that clock.
- `VirtualClock()`: time that passes only as fast as someone sleeps on it. Hand it to the engine
  (`clock=`), the brain (`clock=`, `sleep=clock.sleep`) and an executor, and an eight-hour
  night of outages and experiments runs in seconds.
- `RecordingRun(org)`: a `Run` with no engine behind it, for desks, toolboxes and brains tested
  on their own: events are folded into its state and kept in a list; nothing is written.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..org import Org
from .brains import TurnContext
from .core.events import Event
from .core.git import Git
from .core.state import RunState
from .core.workspace import Workspace
from .executors import ExperimentResult, ExperimentSpec


class FunctionBrain:
    name = "function"

    def __init__(self, fn: Callable[[TurnContext], Awaitable[None] | None]) -> None:
        self.fn = fn

    async def turn(self, ctx: TurnContext) -> None:
        result = self.fn(ctx)
        if inspect.isawaitable(result):
            await result


class NoopBrain:
    name = "noop"

    async def turn(self, ctx: TurnContext) -> None:
        return None


Score = Callable[[dict[str, str]], float | tuple[str, float | None] | None]


class InstantExecutor:
    """Commits the experiment's files on its base and scores the resulting editable files."""

    def __init__(
        self,
        score: Score,
        slots: int = 1,
        status: str = "ok",
        *,
        seconds: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.score = score
        self.slots = slots
        self.status = status
        self.seconds = seconds
        """How long each experiment takes, slept on `sleep` (0: no time at all)."""
        self.sleep = sleep or asyncio.sleep
        self.runs: list[ExperimentSpec] = []

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        self.runs.append(spec)
        if self.seconds:
            await self.sleep(self.seconds)
        git = Git(spec.repo)
        commit = git.commit_files(spec.base, dict(spec.files), spec.message, spec.commit_date)
        if spec.ref:
            git.run("update-ref", spec.ref, commit)
        files: dict[str, Any] = {}
        for path in git.run("ls-tree", "-r", "--name-only", commit).split():
            if path.endswith(".py"):
                files[path] = git.show(commit, path)
        scored = self.score(files)
        status, metric = scored if isinstance(scored, tuple) else (self.status, scored)
        if metric is None and status == "ok":
            status = "crash"
        diff = git.run("diff", spec.base, commit)  # as LocalExecutor's: the critic reads it
        return ExperimentResult(
            status, metric, commit=commit, seconds=self.seconds, diff=diff, hardware="instant"
        )


SETTLE = 8
"""Loop iterations the virtual clock lets pass after its tick before it jumps: a turn that
finished wakes the engine, which starts the next turn, which reaches its first sleep, a few
callbacks apart; all of that happens at the time it was woken."""


class VirtualClock:
    """A clock whose time moves only when everything that sleeps on it waits: each `sleep`
    registers a wake-up time, and a driver task, whenever the event loop has had a moment
    (`tick` real seconds) to run whatever can run, jumps the time to the earliest wake-up and
    wakes that sleeper. Call it for the time (a Unix timestamp, from `start`).

    Real work (an HTTP round trip, a git commit) takes no virtual time of its own, but a tick
    may pass while it is under way and wake a sleeper early by that much real work: figures
    from a virtual night are right to within the time of a few real calls."""

    def __init__(self, start: float = 1_767_225_600.0, tick: float = 0.001) -> None:
        self.now = start
        self.tick = tick
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), wake))
        if self._driver is None or self._driver.done() or self._driver.get_loop() is not loop:
            self._driver = loop.create_task(self._drive())
        await wake

    async def _drive(self) -> None:
        while self._sleepers:
            await asyncio.sleep(self.tick)
            for _ in range(SETTLE):  # what the last wake-up set off (a task it started) runs first
                await asyncio.sleep(0)
            at, _, wake = heapq.heappop(self._sleepers)
            if wake.done():  # its sleeper was cancelled: its time never comes
                continue
            self.now = max(self.now, at)
            wake.set_result(None)


@dataclass
class RecordingRun:
    """The `Run` contract over an org's repository, without an engine."""

    org: Org
    state: RunState = field(default_factory=RunState)
    run_dir: Path = Path(".")
    workspace: Workspace = field(init=False)
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workspace = Workspace(Git(self.org.root))

    def emit(self, kind: str, data: dict[str, Any]) -> Event:
        ev = Event(len(self.events), 0.0, kind, data)
        self.events.append(ev)
        self.state.apply(ev)
        return ev

    def send(
        self,
        sender: str,
        receiver: str,
        kind: str,
        body: str,
        data: dict[str, Any],
        turn: str | None = None,
    ) -> str:
        mid = f"m{len(self.events)}"
        message = {"id": mid, "sender": sender, "receiver": receiver, "kind": kind}
        self.emit("message_sent", {**message, "body": body, "data": data, "turn": turn})
        return mid
