"""The Executor seam: where an experiment runs. `base.py` holds the contract (`Executor`,
`ExperimentSpec`, `ExperimentResult`), `_judge.py` how a result is judged on any executor,
`local.py` the `LocalExecutor` (and `measure`, the worker side of any executor), `_tree.py` an
experiment's files as data; `sandbox.py` isolates one process, and `_child.py` is the sandbox's
first process, run by path with the standard library only."""

from __future__ import annotations

from ._judge import parse_metric
from ._tree import Prepared, Snapshot, materialize, prepare
from .base import Executor, ExperimentResult, ExperimentSpec
from .local import LocalExecutor, measure
from .sandbox import Device, Sandbox

__all__ = [
    "Device",
    "Executor",
    "ExperimentResult",
    "ExperimentSpec",
    "LocalExecutor",
    "Prepared",
    "Sandbox",
    "Snapshot",
    "materialize",
    "measure",
    "parse_metric",
    "prepare",
]
