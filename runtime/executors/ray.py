"""`RayExecutor`: each experiment one Ray task on an existing cluster, asking the resources of one
slot; the experiment travels as data, so no file system is shared with the nodes.

The driver (this process, which holds the org's repository) makes the experiment's commit and its
files exactly as `LocalExecutor` does (`prepare_or_fail`), hashes the protected files, and submits
one task with the `Snapshot` through the object store. The task (`_remote.run_job`) measures it on
its node in the same sandbox as a local experiment and returns the result and the logs, which land
in the run folder as a local experiment's do. The judge's verdict comes from the node's run of
the protected code that the driver shipped; keep or discard stays with the engine.

A slot is `experiment.resources` (by default one GPU on a cluster with GPUs, else one CPU); the
slots are as many as the cluster's totals hold, at most `experiment.parallel`.

Faults: a task whose worker or node died under it is tried once more (the cluster places it on a
node that is up) and the lost try is recorded in the result's `attempts`; lost twice, the result
is `lost`. A task that does not answer within its timeout plus `ANSWER_GRACE` is cancelled with
force (which kills its worker, and the sandbox's lifeline then kills the experiment's tree), and
so is every task of a run that is stopping. A driver killed outright takes its tasks with it
(Ray ends a dead driver's tasks); `orgloop resume` runs the experiments that had not finished.

What it does not do: start or size a cluster (`ray start`, KubeRay, `ray up` do that; see
docs/cluster.md), install orgloop on the nodes, or isolate more than the sandbox does on each node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
import ray.exceptions as rx

from ..core.text import clip
from ._environment import passed_through
from ._remote import Job, Returned, protected_hashes, run_job
from .base import ExecutorChoiceError, ExperimentResult, ExperimentSpec
from .local import prepare_or_fail

ANSWER_GRACE = 120.0
"""Seconds beyond the experiment's timeout after which a task that has not answered is given up
on: time to be placed, to start a worker and to materialize the tree."""
RERUNS = 1
"""How many more times an experiment whose node was lost is tried."""
_LOST = (
    rx.WorkerCrashedError,
    rx.NodeDiedError,
    rx.LocalRayletDiedError,
    rx.ObjectLostError,
    rx.RaySystemError,
)
START_HINT = (
    "start one with `ray start --head` (then `ray start --address HEAD:6379` on each worker "
    "node), or pass --ray-address local for a one-machine cluster started for this run; "
    "see docs/cluster.md"
)


def _task(job: Job) -> Returned:
    """What the cluster runs: the node says who it is, `run_job` does the rest."""
    ctx = ray.get_runtime_context()
    ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    node = f"{socket.gethostname()} {ip} ({ctx.get_node_id()[:8]})"
    return run_job(job, node, [str(g) for g in ray.get_gpu_ids()])


_experiment = ray.remote(_task)


def connect(address: str) -> None:
    """Join the cluster at `address` (see `ExecutorChoice.address`), once per process."""
    if ray.is_initialized():
        return
    target = _checked(address)
    try:
        ray.init(
            address=target,
            logging_level=logging.WARNING,
            log_to_driver=False,
            include_dashboard=False if target is None else None,
        )
    except ConnectionError as e:
        where = "here" if address == "auto" else f"at {address}"
        raise ExecutorChoiceError(f"no Ray cluster {where} ({e}); {START_HINT}") from None
    except (ValueError, RuntimeError) as e:
        raise ExecutorChoiceError(f"cannot join the Ray cluster at {address}: {e}") from None


def _checked(address: str) -> str | None:
    """The address for `ray.init` (None: start a local cluster); a HOST:PORT nobody listens on
    is refused here, because `ray.init` would wait minutes for it."""
    if address == "local":
        return None
    if address == "auto":  # what Ray would find: RAY_ADDRESS, else what `ray start` recorded
        found = os.environ.get("RAY_ADDRESS") or _recorded_here()
        if found and found != "auto":
            _checked(found)
        return address
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ExecutorChoiceError(
            f"--ray-address {address!r} is not an address: give auto, local, HOST:PORT "
            "(the head's GCS port, 6379 by default) or ray://HOST:PORT (Ray Client, 10001)"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ExecutorChoiceError(
            f"no Ray cluster answers at {address} ({e.strerror or e}); {START_HINT}"
        ) from None
    return address


def _recorded_here() -> str:
    """The address `ray start --head` left on this machine, or ''."""
    where = Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()) / "ray"
    try:
        return (where / "ray_current_cluster").read_text().strip()
    except OSError:
        return ""


def slot_resources(
    totals: dict[str, float], asked: dict[str, float]
) -> tuple[dict[str, float], int]:
    """One slot's resources and how many slots the cluster's totals hold."""
    need = dict(asked) or ({"GPU": 1.0} if totals.get("GPU", 0) >= 1 else {"CPU": 1.0})
    fits = min(math.floor(totals.get(name, 0.0) / amount) for name, amount in need.items())
    return need, fits


class RayExecutor:
    """Experiments as Ray tasks, `slots` at a time; see the module docstring."""

    def __init__(
        self,
        parallel: int = 1,
        *,
        address: str = "auto",
        resources: dict[str, float] | None = None,
        answer_grace: float = ANSWER_GRACE,
    ) -> None:
        connect(address)
        self.address = address
        self.answer_grace = answer_grace
        cluster = ray.cluster_resources()  # type: ignore[no-untyped-call]
        totals = {k: float(v) for k, v in cluster.items()}
        self.need, fits = slot_resources(totals, resources or {})
        if fits < 1:
            offered = ", ".join(f"{k} {v:g}" for k, v in sorted(totals.items()) if "node:" not in k)
            asked = ", ".join(f"{k} {v:g}" for k, v in self.need.items())
            raise ExecutorChoiceError(
                f"the Ray cluster cannot hold one experiment: it asks {asked}, the cluster "
                f"offers {offered}; change `experiment.resources` in ORG.md or add nodes"
            )
        self.slots = min(parallel, fits)

    def _options(self) -> dict[str, Any]:
        need = dict(self.need)
        return {
            "num_cpus": need.pop("CPU", 1.0),
            "num_gpus": need.pop("GPU", 0.0),
            "resources": need,
            "max_retries": 0,  # a lost try is retried here, where it is recorded
            "retry_exceptions": False,
        }

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        prepared = await prepare_or_fail(spec)
        if isinstance(prepared, ExperimentResult):
            return prepared
        options = self._options()
        job = Job(
            spec,
            prepared.snapshot,
            protected_hashes(prepared.snapshot, spec.protected),
            max(1.0, float(options["num_cpus"])),
            passed_through(spec.env),
        )
        lost: list[dict[str, Any]] = []
        while True:
            got = await self._attempt(job, options)
            if isinstance(got, Returned):
                await asyncio.to_thread(_keep_files, spec.workdir, got.files)
                result = got.result
                break
            if isinstance(got, ExperimentResult):
                result = got
                break
            lost.append({"attempt": len(lost) + 1, "status": "lost", "reason": got.reason})
            if len(lost) > RERUNS:
                why = "; ".join(a["reason"] for a in lost)
                result = ExperimentResult("lost", None, reason=clip(f"lost twice: {why}", 600))
                break
        return replace(result, commit=prepared.commit, diff=prepared.diff, attempts=tuple(lost))

    async def _attempt(
        self, job: Job, options: dict[str, Any]
    ) -> Returned | ExperimentResult | _Lost:
        """One try: what the node returned, a result the cluster made, or why it was lost."""
        ref = _experiment.options(**options).remote(job)
        patience = job.spec.timeout + self.answer_grace
        try:
            async with asyncio.timeout(patience):  # not wait_for: see Sandbox._wait
                got: Returned = await asyncio.wrap_future(ref.future())
            return got
        except asyncio.CancelledError:  # the run is stopping: so does the experiment
            _cancel(ref)
            raise
        except TimeoutError:
            _cancel(ref)
            why = f"the worker did not answer in {patience:.0f}s; its task was cancelled with force"
            return ExperimentResult("timeout", None, reason=why)
        except _LOST as e:
            return _Lost(f"{type(e).__name__}: {clip(str(e), 240)}")
        except rx.TaskUnschedulableError as e:
            return ExperimentResult("crash", None, reason=f"the cluster cannot place it: {e}")
        except rx.RayError as e:
            why = f"the Ray task failed: {type(e).__name__}: {clip(str(e), 400)}"
            return ExperimentResult("crash", None, reason=why)


@dataclass(frozen=True)
class _Lost:
    reason: str
    """The error Ray gave for the worker or node that went away."""


def _cancel(ref: ray.ObjectRef[Any]) -> None:
    with contextlib.suppress(Exception):  # already finished, or the cluster is gone
        ray.cancel(ref, force=True)


def _keep_files(workdir: Path, files: dict[str, bytes]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if "/" not in name and not name.startswith("."):
            (workdir / name).write_bytes(data)


__all__ = ["ANSWER_GRACE", "RERUNS", "RayExecutor", "connect", "slot_resources"]
