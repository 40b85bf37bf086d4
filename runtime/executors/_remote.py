"""The worker's half of a remote experiment: what runs inside one Ray task, on whichever node the
cluster picked, with no git, no repository and no shared file system.

The driver ships a `Job` (the spec, the commit's files as a `Snapshot`, and its own hashes of the
protected files); the worker checks that its copy of the protected files is the one the driver
hashed (else the experiment is `void`), materializes the snapshot in a private temporary folder,
runs it through the same `measure` as `LocalExecutor` (the same sandbox, limits, scrubbed
environment, tree kill and judging; the `experiment.env` names with the driver's values), and
sends back the result with the experiment folder's
files (its log, the evaluation's log), then removes the folder.

Nothing here imports Ray: the node's identity and its GPUs come in as arguments, so this half is
tested like any function. A full disk on a worker is that node's trouble, not the run's: the
experiment is a `crash` that says so, and the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.errors import disk_trouble
from ..core.text import os_error
from ._devices import Device, detect_gpus
from ._tree import Snapshot
from .base import ExperimentResult, ExperimentSpec
from .local import _remove, measure
from .sandbox import Sandbox

RETURNED = (".txt", ".report")
"""Which files of the worker's experiment folder travel back: the logs and what the sandbox's
first process measured."""


@dataclass(frozen=True)
class Job:
    spec: ExperimentSpec
    snapshot: Snapshot
    protected: dict[str, str]
    """sha256 of each protected file in the snapshot, as the driver computed it."""
    cpus: float = 1.0
    """The CPUs the task holds: the experiment's numeric libraries get that many threads."""
    env: dict[str, str] = field(default_factory=dict)
    """The driver's values of `experiment.env`: the names pass through as they would locally,
    with the values of the machine where the run was started, not the node's."""


@dataclass(frozen=True)
class Returned:
    result: ExperimentResult
    files: dict[str, bytes]
    """The experiment folder's logs, by name, for the driver to keep in the run folder."""
    node: str


def protected_hashes(snapshot: Snapshot, patterns: tuple[str, ...]) -> dict[str, str]:
    """sha256 of the snapshot's files that a protected pattern names (a pattern's `*` may cross
    folders here: both sides use this same function, so they select the same files)."""
    out = {}
    for path, _, data in snapshot.files:
        if any(
            fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path, p.lstrip("*/"))
            for p in patterns
        ):
            out[path] = hashlib.sha256(data).hexdigest()
    return out


def device_here(cpus: float, gpu_ids: list[str], node: str) -> Device:
    """The slot this task holds: the GPUs Ray gave it (named as nvidia-smi names them here), or
    its CPUs."""
    threads = max(1, int(cpus))
    if gpu_ids:
        named = dict(detect_gpus())
        desc = ", ".join(named.get(g, f"GPU {g}") for g in gpu_ids)
        return Device(f"{desc}; node {node}", tuple(gpu_ids), threads)
    cores = os.cpu_count() or 1
    return Device(f"cpu: {threads} of {cores} cores; node {node}", (), threads)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """This worker's environment with `values` set, for one task (a worker runs many)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_job(job: Job, node: str, gpu_ids: list[str]) -> Returned:
    """Measure one experiment on this node; never raises for what the experiment does."""
    theirs = protected_hashes(job.snapshot, job.spec.protected)
    if theirs != job.protected:
        changed = sorted(
            k for k in theirs.keys() | job.protected.keys() if theirs.get(k) != job.protected.get(k)
        )
        reason = f"the worker's copy of the protected files differs from the driver's: {changed}"
        return Returned(ExperimentResult("void", None, reason=reason, hardware=node), {}, node)
    folder = Path(tempfile.mkdtemp(prefix=f"orgloop-{job.spec.id}-"))
    spec = replace(job.spec, workdir=folder / "experiment")
    device = device_here(job.cpus, gpu_ids, node)
    try:
        with _environment(job.env):
            result = asyncio.run(measure(spec, job.snapshot, device, Sandbox()))
        files = {
            p.name: p.read_bytes()
            for p in sorted(spec.workdir.iterdir())
            if p.is_file() and p.name.endswith(RETURNED)
        }
    except OSError as e:
        why = "its disk is full" if disk_trouble(e) else os_error(e)
        result = ExperimentResult(
            "crash",
            None,
            reason=f"node {node} could not run the experiment: {why}",
            hardware=device.hardware,
        )
        files = {}
    finally:
        _remove(folder)
    return Returned(result, files, node)


__all__ = ["Job", "Returned", "device_here", "protected_hashes", "run_job"]
