"""Test doubles that ship with orgloop: brains and an executor that need no model and no time.

- `FunctionBrain(fn)`: a policy written inline — `fn(ctx)` (sync or async) calls tools.
- `NoopBrain`: does nothing; every turn ends without a message.
- `InstantExecutor(score)`: "runs" an experiment by committing its files and scoring them with
  `score(files, base_text)` — no subprocess, so engine tests and benchmarks measure the engine.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._git import Git
from .brain import TurnContext
from .executor import ExperimentResult, ExperimentSpec


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


Score = Callable[[dict[str, str]], float | None]


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
        metric = self.score(files)
        status = self.status if metric is not None else "crash"
        diff = git.run("diff", spec.base, commit)  # as LocalExecutor's: the critic reads it
        return ExperimentResult(
            status, metric, commit=commit, seconds=0.0, diff=diff, hardware="instant"
        )
