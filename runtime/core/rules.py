"""The rules the toolbox enforces for the engine, as pure functions of the org and the run state:
what may be sent (experiment budget, visits per edge, sends per turn, no change twice from the
same incumbent) and what may be kept (finished, ok, and better than the incumbent by more than the
measured noise), which budgets are spent (the run's and each role's), which pending messages the
engine holds back once no experiment can come of them, and which files a role may edit."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from ...org import Org, Role
from .state import OK, RunState
from .text import duration


def refuse_send(
    org: Org,
    state: RunState,
    role: Role,
    kind: str,
    to: str,
    pending: list[dict[str, Any]],
    others: Sequence[dict[str, Any]] = (),
) -> str:
    """Why `role` may not send `kind` to `to` now (sends per turn, budget, edge limit), or ''
    when it may. `pending` is what the turn has sent so far, `others` what the other turns in
    flight have (replicas): both count against the experiment budget."""
    b = org.program.budget
    declared = next((s for s in role.sends if s.kind == kind), None)
    unsent = [*pending, *others]
    if org.roles[to].kind == "sandbox":
        queued = sum(1 for s in unsent if org.roles[s["receiver"]].kind == "sandbox")
        if b.experiments is not None and state.experiments_sent + queued >= b.experiments:
            return f"experiment budget spent ({b.experiments} of {b.experiments})"
    elif feeds_experiments(org, org.roles[to]) and experiments_spent(org, state):
        return (
            f"experiment budget spent ({b.experiments} of {b.experiments} sent): no experiment "
            f"can come of a `{kind}` to {to} now; it is not sent"
        )
    elif feeds_experiments(org, org.roles[to]) and (left := uncovered(org, state)) is not None:
        queued = sum(1 for s in unsent if feeds_experiments(org, org.roles[s["receiver"]]))
        if queued >= left:
            return (
                f"the experiment budget is covered: {state.experiments_sent} of "
                f"{b.experiments} sent and the rest already asked of {to}; a `{kind}` more would "
                "be a turn with no experiment to send. It is not sent"
            )
    per_turn = declared.per_turn if declared is not None else 1
    if sum(1 for s in pending if s["kind"] == kind) >= per_turn:
        times = "once" if per_turn == 1 else f"{per_turn} times"
        return (
            f"{role.name} sends `{kind}` at most {times} a turn (its role file's "
            f"`sends.{kind}.per_turn`), and this turn has; end the turn"
        )
    limit = declared.max if declared is not None else None
    limits = [x for x in (limit, b.visits) if x is not None]
    sent = state.visits[(role.name, to, kind)] + sum(
        1 for s in pending if s["receiver"] == to and s["kind"] == kind
    )
    if limits and sent >= min(limits):
        return f"edge {role.name} -{kind}-> {to} is at its limit of {min(limits)} messages"
    return ""


def refuse_repeat(
    org: Org,
    state: RunState,
    base: str,
    files: Mapping[str, Any],
    pending: list[dict[str, Any]],
    others: Sequence[dict[str, Any]] = (),
) -> str:
    """Why a candidate may not go to a slot because it was tried already: its files, written
    against the incumbent `base`, equal those of an experiment sent from that same incumbent
    (queued, running or measured, sent earlier in this turn, or being sent by another turn that
    has not committed yet: `others`, a replica's proposals). '' when the change is new.

    The refusal names the experiment it repeats and its score, so the proposer learns from the
    run instead of spending a slot to learn it again. The same change from another incumbent is a
    new experiment: it answers another question."""
    if any(s["data"].get("base") == base and s["data"].get("files") == files for s in pending):
        return "this change was already sent this turn; send a different one"
    for s in others:
        if s["data"].get("base") == base and s["data"].get("files") == files:
            return (
                f"this change is being proposed by another turn right now ({s['body']!r}), "
                "not yet measured; send a different one"
            )
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


def experiments_spent(org: Org, state: RunState) -> bool:
    """Every budgeted experiment has been sent (baselines do not count); never, with no
    experiment budget (an autoresearch folder runs until stopped)."""
    budget = org.program.budget.experiments
    return budget is not None and state.experiments_sent >= budget


def uncovered(org: Org, state: RunState) -> int | None:
    """How many budgeted experiments nobody has been asked for yet: the budget, less those sent,
    less the messages pending to (or being handled by) the roles that make them. None with no
    experiment budget. A message to such a role past this would pay for a turn that can send no
    experiment."""
    budget = org.program.budget.experiments
    if budget is None:
        return None
    asked = sum(
        1
        for mid in state.pending
        if (r := org.roles.get(state.messages[mid].receiver)) is not None
        and feeds_experiments(org, r)
    )
    return max(0, budget - state.experiments_sent - asked)


def feeds_experiments(org: Org, role: Role) -> bool:
    """An agent role that sends to a sandbox: its turns exist to make experiments. Not one that
    also reads a sandbox's results (a search that decides its own, `orgloop batch --vs`): its
    turns decide those results too."""
    sandboxes = org.sandbox_roles()
    names = {r.name for r in sandboxes}
    results = {s.kind for r in sandboxes for s in r.sends if role.name in s.to}
    if results & set(role.receives):
        return False
    return role.kind == "agent" and any(t in names for s in role.sends for t in s.to)


def _feeds(org: Org, name: str) -> bool:
    role = org.roles.get(name)
    return role is not None and feeds_experiments(org, role)


def role_spent(org: Org, state: RunState, role: Role) -> list[str]:
    """The role's own budgets (`budget` in its role file) that its model calls have spent, and
    those a brain declared spent for it before a call it could not afford."""
    b, used = role.budget, state.by_role.get(role.name)
    over = {
        "usd": b.usd is not None and used is not None and used.usd >= b.usd,
        "tokens": b.tokens is not None and used is not None and used.tokens >= b.tokens,
    }
    declared = state.role_exhausted.get(role.name, ())
    return [name for name, hit in over.items() if hit or name in declared]


def held(org: Org, state: RunState, receiver: Role) -> str:
    """Why the engine does not deliver a pending message to `receiver`, or '' when it
    does. Once the experiment budget is spent, a turn of a role that makes experiments (the
    engineer, on a direction) can change nothing: paying for it would be waste. Results still
    to come are checked, reviewed and decided as ever. A role whose own budget is spent takes
    no turn."""
    if experiments_spent(org, state) and feeds_experiments(org, receiver):
        return "experiment budget spent"
    budget = org.program.budget.experiments
    if budget is not None and feeds_experiments(org, receiver):
        # replicas: turns already making experiments may cover what is left of the budget
        making = sum(1 for role, _ in state.running.values() if _feeds(org, role))
        if state.experiments_sent + making >= budget:
            return "the experiment budget is covered by the turns making experiments now"
    spent_now = role_spent(org, state, receiver)
    if spent_now:
        return f"{receiver.name}'s {' and '.join(spent_now)} budget spent"
    return ""


def budget_left(org: Org, state: RunState, role: Role, now: float | None = None) -> str:
    """What is left of the run's budgets and `role`'s own, in words a role reads each turn:
    `9 of 12 experiments, $3.20 of $5.00, 1h10m of 8h; yours: $0.40 of $1.00`."""
    b, r = org.program.budget, role.budget
    sent = state.experiments_sent
    parts = [
        f"{max(0, b.experiments - sent)} of {b.experiments} experiments"
        if b.experiments is not None
        else f"{sent} experiments sent, no limit"
    ]
    if b.usd is not None:
        parts.append(f"${max(0.0, b.usd - state.usd):.2f} of ${b.usd:.2f}")
    if b.tokens is not None:
        parts.append(f"{max(0, b.tokens - state.tokens):,} of {b.tokens:,} tokens")
    if b.wall is not None:
        left = max(0.0, b.wall - state.wall_seconds(now))
        parts.append(f"{duration(left)} of {duration(b.wall)}")
    used = state.by_role.get(role.name)
    own = []
    if r.usd is not None:
        own.append(f"${max(0.0, r.usd - (used.usd if used else 0.0)):.2f} of ${r.usd:.2f}")
    if r.tokens is not None:
        own.append(f"{max(0, r.tokens - (used.tokens if used else 0)):,} of {r.tokens:,} tokens")
    return ", ".join(parts) + (f"; yours: {', '.join(own)}" if own else "")


def drained(org: Org, state: RunState) -> str:
    """Why a run that has nothing left to deliver ends: its experiment budget, the budget of a
    role that is owed messages, or, when no experiment ever ran, `STALLED` and the turns that
    ended without doing their duty."""
    if experiments_spent(org, state):
        return "experiment budget spent"
    for mid in state.pending:
        role = org.roles.get(state.messages[mid].receiver)
        spent_now = role_spent(org, state, role) if role is not None else []
        if role is not None and spent_now:
            return f"{role.name}'s {' and '.join(spent_now)} budget spent"
    if not state.candidates():
        undone = "; ".join(f"{u.get('role')}: {u.get('reason')}" for u in state.undone[-3:])
        return f"{STALLED}: no experiment ran" + (f" ({undone})" if undone else "")
    return "nothing left to deliver"


STALLED = "stalled"
"""How a run_finished reason begins when the org stopped before any experiment ran."""


def protected(org: Org) -> tuple[str, ...]:
    """What no role may edit: the experiment's protected files, and ORG.md."""
    return (*org.program.experiment.protected, "ORG.md")


def closed_to_meta(org: Org) -> list[str]:
    """Role files a meta edit may never touch, though `meta.editable` matches them: the meta
    roles' own (they would rewrite their own judge) and the sandbox roles' (their limits)."""
    roles = [r for r in org.roles.values() if "window" in r.receives or r.kind == "sandbox"]
    return [f for f in (org.role_file(r) for r in roles) if f]


def editable_paths(org: Org, role: Role, listed: list[str]) -> list[str]:
    """Which of the `listed` files (the incumbent's) `role` may edit, as edit_file would take
    them: matching its editable patterns, nothing protected, and for a meta role none of the
    files closed to it."""
    closed = (*protected(org), *(closed_to_meta(org) if "window" in role.receives else ()))
    patterns = editable_for(org, role)
    return [p for p in listed if matches(p, patterns) and not matches(p, closed)]


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether `path` matches one of the glob `patterns` (case-sensitive, `*` crosses `/`)."""
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def editable_for(org: Org, role: Role) -> tuple[str, ...]:
    """The files `role` may edit: the org's Markdown for a meta role (it receives `window`), the
    experiment's editable files for every other."""
    if "window" in role.receives:
        return org.program.meta.editable
    return org.program.experiment.editable
