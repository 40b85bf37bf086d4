"""The Executor seam: where an experiment runs. `local.py` holds the contract (`Executor`,
`ExperimentSpec`, `ExperimentResult`) and the `LocalExecutor`; `sandbox.py` isolates one process;
`_child.py` is the sandbox's first process, run by path with the standard library only."""

from __future__ import annotations

from .local import Executor, ExperimentResult, ExperimentSpec, LocalExecutor, parse_metric
from .sandbox import Device, Sandbox

__all__ = [
    "Device",
    "Executor",
    "ExperimentResult",
    "ExperimentSpec",
    "LocalExecutor",
    "Sandbox",
    "parse_metric",
]
