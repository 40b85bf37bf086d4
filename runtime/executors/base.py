"""The Executor seam: where an experiment runs. An executor takes an `ExperimentSpec` (the base
commit, the engineer's files, the command) and returns an `ExperimentResult` (status, metric,
commit, diff, log, hardware, memory, seconds, and the isolation the experiment actually got).
`slots` says how many experiments it runs at once; the engine never starts more.

Every executor is held to one conformance suite (tests/runtime/executors/test_conformance.py):
the same statuses and metrics for the same experiments, the diff applied, slots honoured. An
executor never raises for what an experiment does, and never decides keep or discard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...org import Metric
from ..core.errors import RunError
from ..core.text import diff_lines


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
    """ORGLOOP_SEED for the experiment: baseline run i gets the run's first seed + i, so their
    spread is the noise."""
    max_output: int | None = 50 << 20
    """stdout and stderr beyond this many bytes are cut in the log (`experiment.max_output`)."""
    measured_by: str | None = None
    """`module.function` whose return value is the metric (see `_measure.py`)."""


@dataclass(frozen=True)
class ExperimentResult:
    status: str
    """ok, crash, timeout, suspect (beyond the task's bound), void (a protected file changed, or
    code was planted for the evaluation) or lost (the machine it ran on went away, twice)."""
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
    measured: float | None = None
    """What the protected `measured_by` function returned in the experiment's process."""
    attempts: tuple[Mapping[str, Any], ...] = ()
    """Earlier tries of this same experiment that gave no result (a Ray node lost under it:
    status `lost`, reason), before the try this result is from."""

    def to_event(self) -> dict[str, Any]:
        added, removed = diff_lines(self.diff)
        extra = {"attempts": [dict(a) for a in self.attempts]} if self.attempts else {}
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
            "measured": self.measured,
            "lines": {"added": added, "removed": removed},
            **extra,
        }


class ExecutorChoiceError(RunError):
    """The chosen executor cannot be built (an unknown name, Ray missing, no cluster), so the
    run cannot start; the message says which setting to fix."""


class Executor(Protocol):
    slots: int

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult: ...


__all__ = ["Executor", "ExecutorChoiceError", "ExperimentResult", "ExperimentSpec"]
