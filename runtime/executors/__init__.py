"""The Executor seam: where an experiment runs. `base.py` holds the contract (`Executor`,
`ExperimentSpec`, `ExperimentResult`), `_judge.py` how a result is judged on any executor,
`local.py` the `LocalExecutor` (and `measure`, the worker side of any executor), `_tree.py` an
experiment's files as data; `sandbox.py` isolates one process, and `_child.py` is the sandbox's
first process, run by path with the standard library only. `ray.py` is the `RayExecutor` (one Ray
task per experiment, `_remote.py` its worker's half), imported only when chosen
(`make_executor`, in `_choose.py`): the default install has no Ray."""

from __future__ import annotations

from ._choose import NAMES, ExecutorChoice, ExecutorChoiceError, make_executor
from ._judge import parse_metric
from ._tree import Prepared, Snapshot, materialize, prepare
from .base import Executor, ExperimentResult, ExperimentSpec
from .local import LocalExecutor, measure
from .sandbox import Device, Sandbox

__all__ = [
    "NAMES",
    "Device",
    "Executor",
    "ExecutorChoice",
    "ExecutorChoiceError",
    "ExperimentResult",
    "ExperimentSpec",
    "LocalExecutor",
    "Prepared",
    "Sandbox",
    "Snapshot",
    "make_executor",
    "materialize",
    "measure",
    "parse_metric",
    "prepare",
]
