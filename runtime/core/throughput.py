"""Keeping the experiment slots fed, as pure functions of the org, the state and the time: how long
the roles think (L) and the slots train (T), as the run has measured them; how many instances of
a role run at once (`replicas`, or `auto`); and how many candidates the run keeps in preparation
(the run-ahead), capped by what is left of the experiment budget.

The model is Little's law over the cycle a candidate travels: the experiment makers (the
engineer), the slots, then the roles that read a result on its way back to a new direction
(critic, reviewer, PI). To keep S slots busy, S / T candidates must leave that cycle per second;
a role that thinks L seconds a turn keeps up with S * L / T instances (`auto` runs one more than
twice that, so a burst of directions is taken at once), and the cycle holds
S * (T + its thinking) / T candidates at once, plus a spare per slot so that a freed slot finds
the next experiment waiting. Thinking is what turns that called a model took: an offline
policy's turns think no time, so its runs do not change with the machine's load. Until a turn
and an experiment have ended (or run for MIN_MEASURE seconds), nothing is measured: an `auto`
role runs one instance per slot, and the PI's own `runahead` sets the kick-off.

What it does not do: predict. The measures are means over the run so far, so a role whose turns
grow slower is caught up with a turn late.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...org import KICKOFF, Org, Role
from . import rules
from .state import RunState

AUTO_MAX = 16
"""The most instances `replicas: auto` runs of one role."""


@dataclass(frozen=True)
class Pace:
    """The measured think and train times: `think` by agent role (None where no turn of it has
    ended; `mean_think` over all agent roles), `train` the mean seconds a slot is held."""

    think: dict[str, float | None]
    mean_think: float | None
    train: float | None

    def of(self, role: str) -> float | None:
        """The role's own mean think time, else the other agent roles'."""
        own = self.think.get(role)
        return own if own is not None else self.mean_think


MIN_MEASURE = 0.5
"""Seconds a turn or an experiment still under way must have run to stand in for the pace
(shorter, it may only have waited for the event loop), and the least mean experiment that
measures one: slots that train quicker than that wait for nothing worth adapting to."""


def pace(org: Org, state: RunState, now: float | None = None) -> Pace:
    """The pace as measured by what has ended: a role thinks as long as its turns that called a
    model took (a turn that called none, an offline policy's, thinks no time), the slots train
    as long as experiments held them. With `now`, where nothing has ended yet, the longest turn
    that has called a model (or experiment) still running stands in once it passes MIN_MEASURE:
    a lower bound of T, so the run prepares more candidates rather than fewer until an
    experiment ends."""
    agents = [r.name for r in org.roles.values() if r.kind == "agent"]
    think = {name: _mean(state, name) for name in agents}
    timed = [state.role_time[n] for n in agents if n in state.role_time]
    calls = sum(t.model_turns for t in timed)
    mean_think = sum(t.model_seconds for t in timed) / calls if calls else 0.0 if timed else None
    held = [e.held for e in state.experiments.values() if e.finished]
    train = sum(held) / len(held) if held else None
    if train is not None and train < MIN_MEASURE:
        train = None  # an instant executor's, a test's: the slots wait for nothing
    if now is not None and mean_think is None:
        names = set(agents)
        mean_think = _so_far(
            now,
            [
                t
                for k, t in state.running_since.items()
                if k in state.calling and state.running[k][0] in names
            ],
        )
    if now is not None and train is None:
        train = _so_far(now, [e.started_at for e in state.experiments.values() if not e.finished])
    return Pace(think, mean_think, train)


def _so_far(now: float, starts: list[float]) -> float | None:
    longest = max((now - t for t in starts), default=0.0)
    return longest if longest >= MIN_MEASURE else None


def _mean(state: RunState, role: str) -> float | None:
    timed = state.role_time.get(role)
    return timed.think if timed is not None else None


def replicas(org: Org, state: RunState, role: Role, measured: Pace | None = None) -> int:
    """How many turns of `role` may run at once: its `replicas`, or for `auto` as many as keep
    the slots fed at the measured pace (one per slot until there is one), at most AUTO_MAX."""
    if role.kind != "agent":
        return 1
    if role.replicas != "auto":
        return int(role.replicas)
    p = measured or pace(org, state)
    think, train = p.of(role.name), p.train
    if think is None or not train:
        return org.program.experiment.parallel  # one per slot until the pace is measured
    # twice the steady need: a burst of directions (the kick-off, a top-up) is taken at once
    need = 2 * org.program.experiment.parallel * think / train
    return max(1, min(AUTO_MAX, 1 + math.ceil(need - 1e-9)))


def agent_limit(org: Org, state: RunState, measured: Pace | None = None) -> int:
    """How many agent turns may run at once: `turns.concurrency`, and one more for every
    replica beyond a role's first (a role's replicas are its own, not the others' to share)."""
    p = measured or pace(org, state)
    extra = sum(replicas(org, state, r, p) - 1 for r in org.roles.values() if r.kind == "agent")
    return org.program.concurrency + extra


def cycle(org: Org) -> list[Role]:
    """The agent roles a result passes through before the next experiment is sent: the shortest
    path from a sandbox's receivers to a role that sends to a sandbox (for the default org:
    critic, reviewer, pi, engineer). Empty when no such path exists."""
    sandboxes = {r.name for r in org.sandbox_roles()}
    start = [t for r in org.sandbox_roles() for s in r.sends for t in s.to if t in org.roles]
    paths = [[name] for name in dict.fromkeys(start)]
    seen = set(sandboxes)
    while paths:
        nxt = []
        for path in paths:
            role = org.roles[path[-1]]
            if path[-1] in seen or role.kind != "agent":
                continue
            seen.add(path[-1])
            if any(t in sandboxes for s in role.sends for t in s.to):
                return [org.roles[n] for n in path]
            nxt += [[*path, t] for s in role.sends for t in s.to if t in org.roles]
        paths = nxt
    return []


def wanted(org: Org, state: RunState, measured: Pace | None = None) -> int | None:
    """How many candidates the cycle should hold at once (directions, experiments queued and
    running, results on their way back) to keep every slot busy at the measured pace; None
    before a turn and an experiment have both ended."""
    p = measured or pace(org, state)
    roles = cycle(org)
    if not p.train or not roles:
        return None
    thinking = [p.of(r.name) for r in roles]
    if any(t is None for t in thinking):
        return None
    slots = org.program.experiment.parallel
    think = sum(t for t in thinking if t is not None)
    return 2 * slots + _round(slots * think / p.train)


def in_cycle(org: Org, state: RunState) -> int:
    """The candidates the cycle holds now: pending messages (in-flight ones included) along its
    edges, and the candidate experiments queued or running."""
    roles = cycle(org)
    if not roles:
        return 0
    edges = {(s.kind, t) for r in (*roles, *org.sandbox_roles()) for s in r.sends for t in s.to}
    names = {r.name for r in roles} | {r.name for r in org.sandbox_roles()}
    count = 0
    for mid in state.pending:
        m = state.messages[mid]
        if m.receiver not in names or (m.kind, m.receiver) not in edges:
            continue
        if m.kind == "experiment" and (m.data.get("baseline") or m.data.get("confirm")):
            continue
        count += 1
    return count


def runahead(
    org: Org,
    state: RunState,
    role: Role,
    message: str,
    unsent: Sequence[dict[str, Any]] = (),
    now: float | None = None,
) -> int | None:
    """How many directions a turn of `role` (one that directs the experiment makers) should send
    to keep the cycle at `wanted`: the gap, counting its own message as one of the cycle's, less
    the directions sent by turns not yet committed (`unsent`: this one's and its replicas'), and
    never more than the experiment budget leaves uncovered (`rules.uncovered`). None before the
    pace is measured; 0 for a role that directs nobody."""
    if not any(rules.feeds_experiments(org, org.roles[t]) for s in role.sends for t in s.to):
        return 0
    sent = sum(1 for s in unsent if rules.feeds_experiments(org, org.roles[s["receiver"]]))
    want = wanted(org, state, pace(org, state, now))
    if want is None:
        return None
    gap = want - in_cycle(org, state) - sent
    own = state.messages.get(message)
    if own is not None and message in state.pending and _on_cycle(org, own.kind, own.receiver):
        gap += 1  # the message this turn handles leaves the cycle when the turn commits
    left = rules.uncovered(org, state)
    return max(0, gap if left is None else min(gap, left - sent))


def director(org: Org) -> Role | None:
    """The role on the cycle that sends the experiment makers their work (the PI), when it
    takes a kick-off: the one the run asks for more when the cycle runs short."""
    roles = cycle(org)
    if len(roles) < 2 or KICKOFF not in roles[-2].receives:
        return None
    return roles[-2]


def top_up(org: Org, state: RunState) -> int:
    """How many directions to ask the director for now, outside its own turns: the cycle's
    thinking takes half as long as an experiment trains or longer, the cycle is short of
    `wanted` by a slot's worth or more, the budget leaves that many uncovered, and nothing is
    already on its way to the director (whose own turn would top it up). 0 when the cycle is
    empty: a run-ahead feeds a working cycle, it never restarts a drained one."""
    lead = director(org)
    want = wanted(org, state)
    p = pace(org, state)
    if lead is None or want is None or not p.train:
        return 0
    thinking = sum(p.of(r.name) or 0.0 for r in cycle(org))
    if thinking < p.train / 2:  # thinking keeps up: the PI's own turns top the cycle up
        return 0
    held = in_cycle(org, state)
    if not held or want - held < org.program.experiment.parallel:
        return 0
    if any(state.messages[m].receiver == lead.name for m in state.pending):
        return 0
    left = rules.uncovered(org, state)
    return want - held if left is None else min(want - held, left)


def _on_cycle(org: Org, kind: str, receiver: str) -> bool:
    return any(
        kind == s.kind and receiver in s.to
        for r in (*cycle(org), *org.sandbox_roles())
        for s in r.sends
    )


def _round(x: float) -> int:
    """Half up: a pace of 0.001 s a turn wants no extra instance, 0.5 of a slot wants one."""
    return int(x + 0.5)


__all__ = [
    "AUTO_MAX",
    "MIN_MEASURE",
    "Pace",
    "agent_limit",
    "cycle",
    "director",
    "in_cycle",
    "pace",
    "replicas",
    "runahead",
    "top_up",
    "wanted",
]
