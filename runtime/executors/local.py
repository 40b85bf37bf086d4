"""The Executor seam: where an experiment runs, and how its result is judged.

An executor takes an `ExperimentSpec` (the base commit, the engineer's files, the command) and
returns an `ExperimentResult` (status, metric, commit, diff, log, hardware, memory, seconds, and
the isolation the experiment actually got). `slots` says how many experiments it runs at once; the
engine never starts more.

`LocalExecutor` runs each experiment on this machine in its own git worktree, under the isolation
in `sandbox.py`, and judges it: protected files hashed before and after (`void` if changed), no
code planted for the evaluation (`void`), the metric read from the protected evaluation when there
is one, finite (else `crash`) and not beyond the task's bound (else `suspect`). It never raises for
what an experiment does. It does not decide keep or discard (the engine and the roles do), and it
does not merge: the experiment's commit is the base plus the files, nothing else. A distributed
executor would implement the same `run` coroutine. See docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...org import Metric
from ..core.git import Git, GitError
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
    seed: int = 0
    """ORGLOOP_SEED for the experiment: baseline run i gets i, so their spread is the noise."""


@dataclass(frozen=True)
class ExperimentResult:
    status: str
    """ok, crash, timeout, suspect (beyond the task's bound) or void (a protected file changed, or
    code was planted for the evaluation)."""
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
    """What the experiment actually got: see `sandbox.py` and docs/sandbox.md."""
    rss_gb: float = 0.0
    """Peak resident memory of the largest process of the run."""
    gpu_gb: float = 0.0
    """Peak memory in use on the slot's GPU (0 on CPU slots or without nvidia-smi)."""

    def to_event(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "metric": self.metric,
            "commit": self.commit,
            "seconds": round(self.seconds, 3),
            "memory_gb": self.memory_gb,
            "rss_gb": self.rss_gb,
            "gpu_gb": self.gpu_gb,
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


_IMPORTABLE = (".py", ".pyc", ".pth", ".so", ".pyd")


def importable_files(root: Path) -> dict[str, str]:
    """Hash of every file Python could import from `root`, and of every symlink (hidden folders
    and __pycache__ aside): what a training run must not add or change before the evaluation."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        here = Path(dirpath)
        for name in [*filenames, *dirnames]:
            path = here / name
            rel = str(path.relative_to(root))
            with contextlib.suppress(OSError):
                if path.is_symlink():
                    out[rel] = "link:" + os.readlink(path)
                elif name.endswith(_IMPORTABLE) and path.is_file():
                    out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _read_only(root: Path, patterns: tuple[str, ...]) -> list[str]:
    # A guard against accidents only: root ignores mode bits, and anyone may chmod them back.
    # The hash check after the run is what catches a change.
    done = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)
                done.append(str(path.relative_to(root)))
    return done


def _remove(tree: Path) -> None:
    shutil.rmtree(tree, ignore_errors=True)
    if tree.exists():  # folders the experiment made read-only: give the owner write back
        for dirpath, _, _ in os.walk(tree):
            with contextlib.suppress(OSError):
                os.chmod(dirpath, 0o700)
        shutil.rmtree(tree, ignore_errors=True)


class LocalExecutor:
    """Subprocess experiments on this machine, `slots` at a time (one per GPU, else `parallel`).

    A command that deletes its worktree, its log or its experiment folder ends as a `crash` (or
    `void`) result with the reason, and the next experiment runs as usual.
    """

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
        except OSError as e:  # the experiment removed files the sandbox itself needed
            return ExperimentResult(
                "crash", None, commit, diff=diff, reason=f"the experiment broke its folder: {e}"
            )
        finally:
            await asyncio.to_thread(repo.worktree_remove, tree)
            await asyncio.to_thread(_remove, tree)

    def _checkout(self, repo: Git, spec: ExperimentSpec, tree: Path) -> tuple[str, str]:
        if tree.exists():  # left by a run that died mid-experiment: start clean
            repo.worktree_remove(tree)
            _remove(tree)
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
        protected = hash_files(tree, spec.protected)
        read_only = _read_only(tree, spec.protected)
        code = importable_files(tree) if spec.evaluate else None
        started = time.monotonic()
        run = await self.sandbox.run(
            spec.command, tree, spec, device, spec.workdir / "log.txt", spec.timeout
        )
        isolation = {
            "worktree": True,
            "cwd": "worktree",
            **run.isolation,
            "protected_read_only": read_only,
            "mode_bits_enforced": os.geteuid() != 0,
        }
        output = run.output
        problem = _tampered(tree, spec, protected, code if run.status == "ok" else None)
        if problem is None and run.status == "ok" and spec.evaluate:
            left = max(1.0, spec.timeout - (time.monotonic() - started))
            ev = await self.sandbox.run(
                spec.evaluate, tree, spec, device, spec.workdir / "eval.txt", left, evaluate=True
            )
            run = run.merge(ev)
            output = ev.output  # the metric counts only from the protected evaluation
            problem = _tampered(tree, spec, protected, None)
        on_gpu = bool(device.gpus) and run.gpu_peak_gb > 0
        common: dict[str, Any] = {
            "commit": commit,
            "seconds": time.monotonic() - started,
            "memory_gb": round(run.gpu_peak_gb if on_gpu else run.peak_gb, 1),
            "rss_gb": round(run.peak_gb, 3),
            "gpu_gb": round(run.gpu_peak_gb, 3),
            "log_tail": run.output[-3000:],
            "diff": diff,
            "hardware": device.hardware,
            "gpus": device.gpus,
            "isolation": isolation,
        }
        if problem is not None:
            return ExperimentResult(problem[0], None, reason=problem[1], **common)
        if run.status != "ok":
            return ExperimentResult(run.status, None, reason=run.reason, **common)
        return _judge(spec, output, common)


def _tampered(
    tree: Path, spec: ExperimentSpec, protected: dict[str, str], code: dict[str, str] | None
) -> tuple[str, str] | None:
    """Why the run's result cannot be trusted, as (status, reason); None when it can."""
    if not (tree / ".git").exists():
        return "crash", "the experiment deleted its worktree"
    changed = _changed(protected, hash_files(tree, spec.protected))
    if changed:
        return "void", f"protected files changed: {changed}"
    if code is not None and (planted := _changed(code, importable_files(tree))):
        return "void", f"the run wrote code the evaluation would import: {planted[:5]}"
    return None


def _judge(spec: ExperimentSpec, output: str, common: dict[str, Any]) -> ExperimentResult:
    name = spec.metric.name
    metric = parse_metric(output, name)
    if metric is None:
        where = "the evaluation's" if spec.evaluate else "the"
        return ExperimentResult(
            "crash", None, reason=f"no `{name}:` line in {where} output", **common
        )
    if not math.isfinite(metric):
        return ExperimentResult("crash", None, reason=f"{name} is {metric}: not finite", **common)
    if spec.metric.beyond_bound(metric):
        reason = f"{metric} is beyond the bound {spec.metric.bound}: a leak, not a win"
        return ExperimentResult("suspect", metric, reason=reason, **common)
    return ExperimentResult("ok", metric, **common)
