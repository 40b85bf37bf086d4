"""The Executor seam: where an experiment runs. `base.py` holds the contract (`Executor`,
`ExperimentSpec`, `ExperimentResult`), `_judge.py` how a result is judged on any executor,
`local.py` the `LocalExecutor`; `sandbox.py` isolates one process, and `_child.py` is the sandbox's
first process, run by path with the standard library only."""

from __future__ import annotations

from ._judge import parse_metric
from .base import Executor, ExperimentResult, ExperimentSpec
from .local import LocalExecutor
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
