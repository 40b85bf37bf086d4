"""`LocalExecutor`: experiments as subprocesses on this machine, one per slot (a GPU, or a share
of the CPU).

Each experiment's commit is made from git objects before it runs (`_tree.prepare`); its files are
then written into a private folder that shares nothing with the org's repository
(`_tree.materialize`), run under the isolation in `sandbox.py`, and judged by `_judge.py`.
`measure` is the part that needs no repository: an executor that ships the snapshot to another
machine runs it there. It never raises for what an experiment does; only for a disk that cannot take
its writes (OSError, for the run to stop on). It does not decide keep or discard (the engine and
the roles do), and it does not merge: the experiment's commit is the base plus the files, nothing
else. See docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import disk_trouble
from ..core.git import GitError
from ..core.text import os_error
from ._judge import hash_files, importable_files, judge, tampered
from ._measure import returned
from ._tree import Prepared, Snapshot, materialize, prepare
from .base import ExperimentResult, ExperimentSpec
from .sandbox import Device, ProcessSpec, Sandbox, detect_slots


def _read_only(root: Path, patterns: tuple[str, ...]) -> list[str]:
    # A guard against accidents only: the owner may chmod them back. The hash check after the
    # run is what catches a change.
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


def _fresh(tree: Path, snapshot: Snapshot) -> None:
    if tree.exists() or tree.is_symlink():  # left by a run that died mid-experiment
        _remove(tree)
        tree.unlink(missing_ok=True)
    materialize(snapshot, tree)


class LocalExecutor:
    """Subprocess experiments on this machine, `slots` at a time (one per GPU, else `parallel`).

    A command that deletes its tree, its log or its experiment folder ends as a `crash` (or
    `void`) result with the reason, and the next experiment runs as usual. A full disk is not the
    experiment's fault: it raises OSError(ENOSPC) instead of a result, and the run stops resumably.
    """

    def __init__(self, slots: int = 1, *, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox or Sandbox()
        self.devices = detect_slots(slots)
        self.slots = len(self.devices)

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        prepared = await prepare_or_fail(spec)
        if isinstance(prepared, ExperimentResult):
            return prepared
        device = self.devices[slot % len(self.devices)]
        result = await measure(spec, prepared.snapshot, device, self.sandbox)
        return replace(result, commit=prepared.commit, diff=prepared.diff)


async def prepare_or_fail(spec: ExperimentSpec) -> Prepared | ExperimentResult:
    """The driver's part of any executor: the experiment's commit and files, or the `crash`
    result of a change git could not make. A disk that refuses the writes raises OSError."""
    try:
        return await asyncio.to_thread(prepare, spec)
    except (GitError, OSError) as e:
        if disk_trouble(e):  # the machine's fault, not the change's: the run stops
            raise
        if _out_of_space(spec.workdir):
            raise _full(spec.workdir) from e
        why = os_error(e) if isinstance(e, OSError) else str(e)
        return ExperimentResult("crash", None, reason=f"could not prepare the experiment: {why}")


async def measure(
    spec: ExperimentSpec, snapshot: Snapshot, device: Device, sandbox: Sandbox
) -> ExperimentResult:
    """Run and judge one experiment from its files alone, in `spec.workdir / "tree"` (no git, no
    repository); the result's `commit` and `diff` are left for the driver to fill in."""
    spec.workdir.mkdir(parents=True, exist_ok=True)
    tree = spec.workdir / "tree"
    try:
        await asyncio.to_thread(_fresh, tree, snapshot)
    except (OSError, ValueError) as e:
        if disk_trouble(e) or (isinstance(e, OSError) and _out_of_space(spec.workdir)):
            raise _full(spec.workdir) from e
        why = os_error(e) if isinstance(e, OSError) else str(e)
        return ExperimentResult(
            "crash", None, reason=f"could not write the experiment's tree: {why}"
        )
    try:
        result = await _measure(spec, tree, device, sandbox)
        if result.status == "crash" and _out_of_space(spec.workdir, result.log_tail):
            raise _full(spec.workdir)
        return result
    except OSError as e:  # the experiment removed files the sandbox itself needed
        if disk_trouble(e):  # or the disk filled up under it: not the change's fault
            raise
        return ExperimentResult(
            "crash", None, reason=f"the experiment broke its folder: {os_error(e)}"
        )
    finally:
        await asyncio.to_thread(_remove, tree)


async def _measure(
    spec: ExperimentSpec, tree: Path, device: Device, sandbox: Sandbox
) -> ExperimentResult:
    protected = hash_files(tree, spec.protected)
    read_only = _read_only(tree, spec.protected)
    code = importable_files(tree) if spec.evaluate else None
    started = time.monotonic()
    run = await sandbox.run(_process(spec, spec.command, tree, "log.txt"), device)
    isolation = {
        "tree": "private copy",
        **run.isolation,
        "protected_read_only": read_only,
        "mode_bits_enforced": os.geteuid() != 0 or bool(run.isolation.get("capabilities_dropped")),
    }
    output = run.output
    problem = tampered(tree, spec, protected, code if run.status == "ok" else None)
    if problem is None and run.status == "ok" and spec.evaluate:
        left = max(1.0, spec.timeout - (time.monotonic() - started))
        proc = _process(spec, spec.evaluate, tree, "eval.txt", timeout=left, evaluate=True)
        ev = await sandbox.run(proc, device)
        run = run.merge(ev)
        output = ev.output  # the metric counts only from the protected evaluation
        problem = tampered(tree, spec, protected, None)
    on_gpu = bool(device.gpus) and run.gpu_peak_gb > 0
    common: dict[str, Any] = {
        "seconds": time.monotonic() - started,
        "memory_gb": round(run.gpu_peak_gb if on_gpu else run.peak_gb, 1),
        "rss_gb": round(run.peak_gb, 3),
        "gpu_gb": round(run.gpu_peak_gb, 3),
        "log_tail": run.output[-3000:],
        "hardware": device.hardware,
        "gpus": device.gpus,
        "isolation": isolation,
    }
    if problem is not None:
        return ExperimentResult(problem[0], None, reason=problem[1], **common)
    if run.status != "ok":
        return ExperimentResult(run.status, None, reason=run.reason, **common)
    measured = returned(spec.workdir) if spec.measured_by and not spec.evaluate else None
    return judge(spec, output, common, measured)


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
        # Nothing of orgloop's own: the org's git data, its runs, this experiment's folder.
        hide=(spec.repo / ".git", spec.repo / ".orgloop", spec.workdir),
        max_output=spec.max_output,
        measured_by=None if evaluate else spec.measured_by,
    )
