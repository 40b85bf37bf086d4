"""The Executor seam: where an experiment runs.

An executor takes an `ExperimentSpec` (the base commit, the engineer's files, the command) and
returns an `ExperimentResult` (status, metric, commit, diff, log, hardware, seconds). `slots` says
how many experiments it runs at once; the engine never starts more.

`LocalExecutor` runs each experiment as a subprocess in its own git worktree on this machine (the
isolation it applies lives in `sandbox.py`). A distributed executor would implement the same
`run` coroutine.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..org import Metric
from ._git import Git, GitError
from .sandbox import Sandbox, detect_slots


@dataclass(frozen=True)
class ExperimentSpec:
    id: str
    repo: Path
    base: str
    files: Mapping[str, str]
    command: str
    metric: Metric
    timeout: float
    workdir: Path
    """The experiment's folder in the run folder: log.txt and diff.patch are kept there."""
    evaluate: str | None = None
    protected: tuple[str, ...] = ()
    message: str = "experiment"
    commit_date: str | None = None
    ref: str = ""
    """A ref that keeps the experiment's commit reachable, kept or not."""
    limits: Mapping[str, Any] = field(default_factory=dict)
    env: tuple[str, ...] = ()
    network: bool = False


@dataclass(frozen=True)
class ExperimentResult:
    status: str
    """ok, crash, timeout, suspect (beyond the task's bound) or void (a protected file changed)."""
    metric: float | None
    commit: str = ""
    seconds: float = 0.0
    memory_gb: float = 0.0
    reason: str = ""
    log_tail: str = ""
    diff: str = ""
    hardware: str = ""
    gpus: tuple[str, ...] = ()
    isolation: Mapping[str, Any] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "metric": self.metric,
            "commit": self.commit,
            "seconds": round(self.seconds, 3),
            "memory_gb": self.memory_gb,
            "reason": self.reason,
            "log_tail": self.log_tail[-2000:],
            "hardware": self.hardware,
            "gpus": list(self.gpus),
            "isolation": dict(self.isolation),
        }


class Executor(Protocol):
    slots: int

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult: ...


_NUMBER = r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|nan|inf|infinity))"


def parse_metric(output: str, name: str) -> float | None:
    """The metric from an autoresearch-style summary: the last `name: value` after the last `---`
    line, or the last such line anywhere when there is no `---` block."""
    lines = output.splitlines()
    cut = max((i for i, line in enumerate(lines) if line.strip() == "---"), default=-1)
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*[:=]\s*{_NUMBER}\s*$", re.IGNORECASE)
    for scope in (lines[cut + 1 :], lines) if cut >= 0 else (lines,):
        for line in reversed(scope):
            m = pattern.match(line)
            if m:
                return float(m.group(1))
    return None


def hash_files(root: Path, patterns: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif not path.exists():
                out[pattern] = "missing"
    for pattern in patterns:
        if not any(root.glob(pattern)):
            out[pattern] = "missing"
    return out


class LocalExecutor:
    """Subprocess experiments on this machine, `slots` at a time (one per GPU, else `parallel`)."""

    def __init__(self, slots: int = 1, *, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox or Sandbox()
        self.devices = detect_slots(slots)
        self.slots = len(self.devices)

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        spec.workdir.mkdir(parents=True, exist_ok=True)
        tree = spec.workdir / "tree"
        repo = Git(spec.repo)
        try:
            commit, diff = await asyncio.to_thread(self._checkout, repo, spec, tree)
        except (GitError, OSError) as e:
            return ExperimentResult("crash", None, reason=f"could not prepare the worktree: {e}")
        try:
            return await self._measure(spec, tree, commit, diff, slot)
        finally:
            await asyncio.to_thread(repo.worktree_remove, tree)
            shutil.rmtree(tree, ignore_errors=True)

    def _checkout(self, repo: Git, spec: ExperimentSpec, tree: Path) -> tuple[str, str]:
        if tree.exists():  # left by a run that died mid-experiment: start clean
            repo.worktree_remove(tree)
            shutil.rmtree(tree, ignore_errors=True)
        wt = repo.worktree_add(tree, spec.base)
        for rel, text in spec.files.items():
            target = tree / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        commit = wt.commit_all(spec.message, date=spec.commit_date)
        diff = wt.run("diff", f"{spec.base}..{commit}")
        if spec.ref:
            repo.run("update-ref", spec.ref, commit)
        (spec.workdir / "diff.patch").write_text(diff, encoding="utf-8")
        return commit, diff

    async def _measure(
        self, spec: ExperimentSpec, tree: Path, commit: str, diff: str, slot: int
    ) -> ExperimentResult:
        device = self.devices[slot % len(self.devices)]
        before = hash_files(tree, spec.protected)
        started = time.monotonic()
        log_path = spec.workdir / "log.txt"
        run = await self.sandbox.run(spec.command, tree, spec, device, log_path, spec.timeout)
        output = run.output
        if run.status == "ok" and spec.evaluate:
            left = max(1.0, spec.timeout - (time.monotonic() - started))
            ev = await self.sandbox.run(
                spec.evaluate, tree, spec, device, spec.workdir / "eval.txt", left, evaluate=True
            )
            run = run.merge(ev)
            output = ev.output
        seconds = time.monotonic() - started
        common: dict[str, Any] = {
            "commit": commit,
            "seconds": seconds,
            "memory_gb": round(run.peak_gb, 1),
            "log_tail": run.output[-3000:],
            "diff": diff,
            "hardware": device.hardware,
            "gpus": device.gpus,
            "isolation": run.isolation,
        }
        after = hash_files(tree, spec.protected)
        if before != after:
            changed = sorted(
                k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
            )
            return ExperimentResult("void", None, reason=f"protected changed: {changed}", **common)
        if run.status != "ok":
            return ExperimentResult(run.status, None, reason=run.reason, **common)
        metric = parse_metric(output, spec.metric.name)
        if metric is None:
            return ExperimentResult(
                "crash", None, reason=f"no `{spec.metric.name}:` line in the output", **common
            )
        if not math.isfinite(metric):
            return ExperimentResult("crash", None, reason=f"metric is {metric}", **common)
        if spec.metric.beyond_bound(metric):
            return ExperimentResult(
                "suspect",
                metric,
                reason=f"{metric} is beyond the bound {spec.metric.bound}",
                **common,
            )
        return ExperimentResult("ok", metric, **common)
