"""The rules the toolbox enforces for the engine, as pure functions of the org and the run state:
what may be sent (experiment budget, visits per edge, no change twice from the same incumbent) and
what may be kept (finished, ok, and better than the incumbent by more than the measured noise),
which budgets are spent, and which files a role may edit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...org import Org, Role
from .state import OK, RunState


def refuse_send(
    org: Org, state: RunState, role: Role, kind: str, to: str, pending: list[dict[str, Any]]
) -> str:
    """Why `role` may not send `kind` to `to` now (budget, edge limit), or '' when it may."""
    b = org.program.budget
    if org.roles[to].kind == "sandbox":
        queued = sum(1 for s in pending if org.roles[s["receiver"]].kind == "sandbox")
        if b.experiments is not None and state.experiments_sent + queued >= b.experiments:
            return f"experiment budget spent ({b.experiments} of {b.experiments})"
    limit = next((s.max for s in role.sends if s.kind == kind), None)
    limits = [x for x in (limit, b.visits) if x is not None]
    sent = state.visits[(role.name, to, kind)] + sum(
        1 for s in pending if s["receiver"] == to and s["kind"] == kind
    )
    if limits and sent >= min(limits):
        return f"edge {role.name} -{kind}-> {to} is at its limit of {min(limits)} messages"
    return ""


def refuse_repeat(
    org: Org, state: RunState, base: str, files: Mapping[str, Any], pending: list[dict[str, Any]]
) -> str:
    """Why a candidate may not go to a slot because it was tried already: its files, written
    against the incumbent `base`, equal those of an experiment sent from that same incumbent
    (queued, running or measured, or sent earlier in this turn). '' when the change is new.

    The refusal names the experiment it repeats and its score, so the proposer learns from the
    run instead of spending a slot to learn it again. The same change from another incumbent is a
    new experiment: it answers another question."""
    if any(s["data"].get("base") == base and s["data"].get("files") == files for s in pending):
        return "this change was already sent this turn; send a different one"
    started = {e.message: e for e in state.experiments.values()}
    for mid, msg in state.messages.items():
        d = msg.data
        if msg.kind != "experiment" or d.get("baseline") or d.get("confirm"):
            continue
        if d.get("base") != base or d.get("files") != files:
            continue
        exp = started.get(mid)
        if exp is None and mid not in state.pending:
            continue  # sent by a turn that never completed: it never happened
        same = f"from the same incumbent ({base[:7]})"
        if exp is None:
            return f"this change repeats one queued for a slot {same}: {msg.body!r}; send another"
        if not exp.finished:
            return f"this change repeats {exp.id} ({exp.description}) {same}, still running"
        name = org.program.metric.name
        score = f"{name} {exp.metric:.6f}" if exp.metric is not None else "no metric"
        outcome = exp.decision or ("undecided" if exp.status == OK else exp.status)
        return (
            f"this change repeats {exp.id} ({exp.description}) {same}, which scored {score} "
            f"({outcome}); try a different change"
        )
    return ""


def refuse_decision(
    org: Org, state: RunState, exp_id: str, verdict: str, pending: list[dict[str, Any]]
) -> str:
    """Why the verdict may not be given (unknown, running, decided, failed, within the noise),
    or '' when it may. Keeping is refused in code, whatever a model says."""
    exp = state.experiments.get(exp_id)
    if exp is None or exp.baseline:
        return f"no experiment {exp_id!r} to decide"
    if not exp.finished:
        return f"{exp_id} is still running"
    if exp.decision or any(d["experiment"] == exp_id for d in pending):
        return f"{exp_id} was already decided ({exp.decision or 'this turn'})"
    if verdict == "discard":
        return ""
    if exp.status != OK or exp.metric is None:
        return f"{exp_id} cannot be kept: its status is {exp.status}"
    metric, inc = org.program.metric, state.incumbent_metric
    if inc is not None:
        lines = exp.info.get("lines") or {}
        why = worth_keeping(
            org, state, metric.gain(exp.metric, inc), lines.get("added", 0), lines.get("removed", 0)
        )
        if why:
            return f"{exp_id} cannot be kept: {why}"
    return ""


def worth_keeping(org: Org, state: RunState, gain: float, added: int, removed: int) -> str:
    """Why a change that gains `gain` over the incumbent and adds and removes these lines is not
    worth keeping, or '' when it is: it must beat the noise margin; under the reviewer's
    simplicity criterion (`simplicity: {gain, lines}`) every added line must be paid for, and a
    change that deletes more than it adds is worth keeping at no gain within the noise."""
    margin = keep_margin(org, state)
    rule = _simplicity(org)
    net = added - removed
    if rule is not None and net < 0:
        if gain >= -margin:
            return ""
        return f"it removes {-net} line(s) but loses {-gain:.6f}, more than the noise {margin:.6f}"
    if gain <= margin:
        return (
            f"it improves on the incumbent by {gain:.6f}, not more than the noise margin "
            f"{margin:.6f}"
        )
    if rule is not None and net > 0 and gain <= rule[0] * net / rule[1]:
        return (
            f"it adds {net} line(s) for {gain:.6f}; the simplicity criterion asks more than "
            f"{rule[0] * net / rule[1]:.6f} ({rule[0]:g} per {rule[1]:g} lines)"
        )
    return ""


def _simplicity(org: Org) -> tuple[float, float] | None:
    """(gain, lines) from the reviewer's `simplicity` policy, or None without one."""
    reviewer = next((r for r in org.roles.values() if r.policy.kind == "review"), None)
    rule = reviewer.policy.data.get("simplicity") if reviewer else None
    if not isinstance(rule, dict):
        return None
    try:
        gain, lines = float(rule.get("gain", 0.001)), float(rule.get("lines", 20))
    except (TypeError, ValueError):
        return None
    return (gain, lines) if gain >= 0 and lines > 0 else None


def keep_margin(org: Org, state: RunState) -> float:
    """How much a change must beat the incumbent by: k sigma of the baseline noise, with k and
    a floor from the reviewer's policy."""
    reviewer = next((r for r in org.roles.values() if r.policy.kind == "review"), None)
    data = reviewer.policy.data if reviewer else {}
    sigmas = float(data.get("sigmas", 2.0))
    floor = float(data.get("min_delta", 0.0))
    return max(floor, sigmas * (state.noise or 0.0))


def spent(org: Org, state: RunState, now: float) -> list[str]:
    """The budgets that stop the run (wall, tokens, usd, gpu_seconds) spent by `now`, including
    those a brain declared spent before a call it could not afford. The experiment budget does
    not stop the run: it stops experiments being sent (`refuse_send`), and the org drains."""
    b = org.program.budget
    over = {
        "wall": b.wall is not None and state.wall_seconds(now) >= b.wall,
        "tokens": b.tokens is not None and state.tokens >= b.tokens,
        "usd": b.usd is not None and state.usd >= b.usd,
        "gpu_seconds": b.gpu_seconds is not None and state.gpu_seconds >= b.gpu_seconds,
    }
    return [name for name, hit in over.items() if hit or name in state.exhausted]


def protected(org: Org) -> tuple[str, ...]:
    """What no role may edit: the experiment's protected files, and ORG.md."""
    return (*org.program.experiment.protected, "ORG.md")


def editable_for(org: Org, role: Role) -> tuple[str, ...]:
    """The files `role` may edit: the org's Markdown for a meta role (it receives `window`), the
    experiment's editable files for every other."""
    if "window" in role.receives:
        return org.program.meta.editable
    return org.program.experiment.editable
