"""Choosing an executor by name: what `experiment.executor` in ORG.md, or `--executor NAME
--ray-address ADDRESS` on the command line, builds.

`local` is always there; `ray` is an optional extra, imported only when chosen, so the default
install never pulls Ray in and never pays for importing it. A choice that cannot be built (an
unknown name, Ray not installed, no cluster at the address) raises `ExecutorChoiceError`, whose
message says what to do; nothing here starts an experiment.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...org import EXECUTORS, Experiment
from .base import Executor, ExecutorChoiceError

NAMES = EXECUTORS
INSTALL_RAY = "pip install 'orgloop[ray]'"


@dataclass(frozen=True)
class ExecutorChoice:
    """An executor by name, before it is built (it needs the org's experiment settings)."""

    name: str | None = None
    """None: the org's `experiment.executor`."""
    address: str | None = None
    """The Ray cluster: `auto` (the one `ray start` made here, or RAY_ADDRESS), `HOST:PORT`,
    `ray://HOST:PORT`, or `local` to start a private one-machine cluster for this run."""

    def for_record(self, experiment: Experiment) -> dict[str, str]:
        """What `run_started` keeps so `orgloop resume` runs on the same executor."""
        name = self.name or experiment.executor
        return {"name": name, **({"address": self.address} if self.address else {})}


def make_executor(experiment: Experiment, choice: ExecutorChoice | None = None) -> Executor:
    """The executor `choice` names (by default the org's), with the org's slots and resources."""
    choice = choice or ExecutorChoice()
    name = choice.name or experiment.executor
    if name not in NAMES:
        raise ExecutorChoiceError(f"unknown executor {name!r}; choose one of {', '.join(NAMES)}")
    if name == "local":
        if choice.address is not None:
            raise ExecutorChoiceError("--ray-address needs the ray executor (--executor ray)")
        from .local import LocalExecutor

        return LocalExecutor(experiment.parallel)
    try:
        from .ray import RayExecutor
    except ImportError as e:  # not installed, or installed without a part it needs
        missing = "is not installed here" if e.name == "ray" else f"does not import ({e})"
        raise ExecutorChoiceError(
            f"the ray executor needs Ray, which {missing}: {INSTALL_RAY} "
            "(on this machine and on every node of the cluster)"
        ) from None
    return RayExecutor(
        experiment.parallel,
        address=choice.address or "auto",
        resources=dict(experiment.resources),
    )


__all__ = ["INSTALL_RAY", "NAMES", "ExecutorChoice", "ExecutorChoiceError", "make_executor"]
