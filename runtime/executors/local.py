"""`LocalExecutor`: experiments as subprocesses on this machine, one per slot (a GPU, or a share
of the CPU).

Each experiment runs in its own git worktree at the base commit plus the engineer's files, under
the isolation in `sandbox.py`, and is judged by `_judge.py`. It never raises for what an
experiment does; only for a disk that cannot take its writes (OSError, for the run to stop on).
It does not decide keep or discard (the engine and the roles do), and it does not merge: the
experiment's commit is the base plus the files, nothing else. See docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..core.errors import disk_trouble
from ..core.git import Git, GitError
from ..core.text import os_error
from ._judge import hash_files, importable_files, judge, tampered
from .base import ExperimentResult, ExperimentSpec
from .sandbox import ProcessSpec, Sandbox, detect_slots


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


FULL_BYTES = 64 * 1024
"""Free space below which a failed write is taken to be the disk's fault."""


def _out_of_space(workdir: Path, log_tail: str = "") -> bool:
    """Whether a failure was the disk's: the system's own words for it in the log (any runtime
    prints strerror(ENOSPC)), or next to no free space left where the experiment runs (git does
    not always say why it could not write)."""
    if any(w in log_tail[-2000:] for w in ("No space left on device", "Disk quota exceeded")):
        return True
    try:
        return shutil.disk_usage(workdir).free < FULL_BYTES
    except OSError:
        return False


def _full(workdir: Path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(workdir))


class LocalExecutor:
    """Subprocess experiments on this machine, `slots` at a time (one per GPU, else `parallel`).

    A command that deletes its worktree, its log or its experiment folder ends as a `crash` (or
    `void`) result with the reason, and the next experiment runs as usual. A full disk is not the
    experiment's fault: it raises OSError(ENOSPC) instead of a result, and the run stops resumably.
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
            if disk_trouble(e):  # the machine's fault, not the change's: the run stops
                raise
            if _out_of_space(spec.workdir):
                raise _full(spec.workdir) from e
            why = os_error(e) if isinstance(e, OSError) else str(e)
            return ExperimentResult("crash", None, reason=f"could not prepare the worktree: {why}")
        try:
            result = await self._measure(spec, tree, commit, diff, slot)
            if result.status == "crash" and _out_of_space(spec.workdir, result.log_tail):
                raise _full(spec.workdir)
            return result
        except OSError as e:  # the experiment removed files the sandbox itself needed
            if disk_trouble(e):  # or the disk filled up under it: not the change's fault
                raise
            return ExperimentResult(
                "crash",
                None,
                commit,
                diff=diff,
                reason=f"the experiment broke its folder: {os_error(e)}",
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
        run = await self.sandbox.run(_process(spec, spec.command, tree, "log.txt"), device)
        isolation = {
            "worktree": True,
            "cwd": "worktree",
            **run.isolation,
            "protected_read_only": read_only,
            "mode_bits_enforced": os.geteuid() != 0,
        }
        output = run.output
        problem = tampered(tree, spec, protected, code if run.status == "ok" else None)
        if problem is None and run.status == "ok" and spec.evaluate:
            left = max(1.0, spec.timeout - (time.monotonic() - started))
            proc = _process(spec, spec.evaluate, tree, "eval.txt", timeout=left, evaluate=True)
            ev = await self.sandbox.run(proc, device)
            run = run.merge(ev)
            output = ev.output  # the metric counts only from the protected evaluation
            problem = tampered(tree, spec, protected, None)
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
        return judge(spec, output, common)


def _process(
    spec: ExperimentSpec,
    command: str,
    tree: Path,
    log: str,
    *,
    timeout: float | None = None,
    evaluate: bool = False,
) -> ProcessSpec:
    return ProcessSpec(
        command=command,
        cwd=tree,
        log=spec.workdir / log,
        timeout=spec.timeout if timeout is None else timeout,
        limits=spec.limits,
        env=spec.env,
        network=spec.network,
        seed=spec.seed,
        evaluate=evaluate,
    )
