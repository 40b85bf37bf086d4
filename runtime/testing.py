"""Test doubles that ship with orgloop: brains and an executor that need no model and no time.

- `FunctionBrain(fn)`: a policy written inline — `fn(ctx)` (sync or async) calls tools.
- `NoopBrain`: does nothing; every turn ends without a message.
- `InstantExecutor(score)`: "runs" an experiment by committing its files and scoring them with
  `score(files)` — no subprocess, so engine tests and benchmarks measure the engine. The score is
  the metric (status ok), None (a crash), or (status, metric) for any other outcome.
- `RecordingRun(org)`: a `Run` with no engine behind it, for desks, toolboxes and brains tested
  on their own: events are folded into its state and kept in a list; nothing is written.
"""

from __future__ import annotations

import inspect
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

    def __init__(self, score: Score, slots: int = 1, status: str = "ok") -> None:
        self.score = score
        self.slots = slots
        self.status = status
        self.runs: list[ExperimentSpec] = []

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        self.runs.append(spec)
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
            status, metric, commit=commit, seconds=0.0, diff=diff, hardware="instant"
        )


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
