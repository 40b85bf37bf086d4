"""An experiment turn's pieces, as functions of the org and the state: the experiment's id, the
spec an executor runs, and the result message the sandbox role sends on.

A rerun after a crash keeps its experiment's id (found by the message it handles), so resuming
never numbers an experiment twice; an experiment the engine died during runs again once, and if
the engine dies during that run too, the next resume records it as a crash instead of running it
a third time (an experiment that kills orgloop would otherwise end every resume the same way).

Baseline run i runs with ORGLOOP_SEED=first_seed+i, every candidate with first_seed: the spread of
the baselines is then the seed noise a candidate must beat. first_seed is 1000 times the run's
seed (`SEED_STRIDE`), so two seeds of one org draw their noise apart, as two replicates should.
A confirmation rerun runs with the fresh seed its message names (`core/confirm.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...org import Org, Role
from ..core.state import ExperimentRecord, Message, RunState
from ..core.text import diff_lines
from ..core.workspace import Workspace
from ..executors.base import ExperimentResult, ExperimentSpec

RESULT_DIFF_CHARS, RESULT_LOG_CHARS = 4_000, 1_500
"""How much of an experiment's diff and of its log's end a result message carries: the critic
checks the change and quotes the error from them."""


def experiment_id(state: RunState, msg: Message) -> str:
    for e in state.experiments.values():
        if e.message == msg.id:
            return e.id
    return f"e{len(state.experiments) + 1}"


SEED_STRIDE = 1000
"""ORGLOOP_SEEDs a run's seed owns (run seed s: s*1000 on), so the runs of a batch never share a
noise draw while baseline_runs + confirm stays under it."""

RERUNS = 1
"""How many times a resume runs again an experiment the engine died during."""


def abandoned(state: RunState, exp_id: str) -> ExperimentResult | None:
    """The result of an experiment that is not run again: the engine died while it ran, and
    died again while it ran once more after a resume. None when it may run."""
    exp = state.experiments.get(exp_id)
    if exp is None or exp.finished or exp.starts <= RERUNS:
        return None
    reason = (
        f"orgloop stopped {exp.starts} times while this experiment ran (killed, or the machine "
        "went down); it is not run again"
    )
    return ExperimentResult("crash", None, reason=reason)


def seed_for(state: RunState, msg: Message) -> int:
    if isinstance(msg.data.get("seed"), int):  # a confirmation rerun names its fresh seed
        return int(msg.data["seed"])
    if not msg.data.get("baseline"):
        return state.first_seed
    runs = [m for m in state.messages.values() if m.data.get("baseline")]
    return state.first_seed + next((i for i, m in enumerate(runs) if m.id == msg.id), 0)


def experiment_spec(
    org: Org,
    state: RunState,
    workspace: Workspace,
    run_dir: Path,
    role: Role,
    msg: Message,
    exp_id: str,
    base: str,
) -> ExperimentSpec:
    p = org.program
    return ExperimentSpec(
        id=exp_id,
        repo=org.root,
        base=base,
        files=msg.data.get("files", {}),
        command=p.experiment.command,
        metric=p.metric,
        timeout=p.experiment.timeout,
        workdir=run_dir / "experiments" / exp_id,
        evaluate=p.experiment.evaluate,
        protected=p.experiment.protected,
        message=f"{exp_id}: {msg.body}"[:200],
        commit_date=workspace.date(int(exp_id[1:])),
        ref=f"refs/orgloop/{state.run_id}/{exp_id}",
        limits=role.limits,
        env=p.experiment.env,
        network=p.experiment.network,
        seed=seed_for(state, msg),
        max_output=p.experiment.max_output,
        measured_by=p.experiment.measured_by,
    )


def result_message(
    org: Org, state: RunState, exp: ExperimentRecord, result: ExperimentResult
) -> tuple[str, dict[str, Any]]:
    """The body and data of the message a finished candidate's result travels in."""
    data = {
        "experiment": exp.id,
        "status": result.status,
        "metric": result.metric,
        "reason": result.reason,
        "incumbent_metric": state.incumbent_metric,
        "noise": state.noise,
        "seconds": round(result.seconds, 2),
        "lines": dict(zip(("added", "removed"), diff_lines(result.diff), strict=True)),
    }
    body = (
        f"{exp.id} ({exp.description}): {result.status}, "
        f"{org.program.metric.name} = {result.metric}"
        + (f" — {result.reason}" if result.reason else "")
        + evidence(result)
    )
    return body, data


def evidence(result: ExperimentResult) -> str:
    """The change and the end of the log, for the result message's reader."""
    parts = []
    if result.diff.strip():
        diff = (
            result.diff
            if len(result.diff) <= RESULT_DIFF_CHARS
            else (
                result.diff[:RESULT_DIFF_CHARS]
                + f"\n[… {len(result.diff) - RESULT_DIFF_CHARS} more chars]"
            )
        )
        parts.append(f"The change (diff against its base):\n```diff\n{diff.rstrip()}\n```")
    if result.log_tail.strip():
        log = result.log_tail[-RESULT_LOG_CHARS:]
        parts.append(f"The end of its log:\n```\n{log.rstrip()}\n```")
    return "".join("\n\n" + part for part in parts)


__all__ = [
    "SEED_STRIDE",
    "abandoned",
    "evidence",
    "experiment_id",
    "experiment_spec",
    "result_message",
    "seed_for",
]
