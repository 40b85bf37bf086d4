"""What each role has done and is doing, folded from the events the log already has: every turn
(its start, end, the message it handled and the ones it produced, its LLM calls, tokens and
dollars), per role the totals and the last few turns, and the experiments running now.

`turn_started`, `llm_call` (which names its turn and role), `turn_completed`, `run_resumed` (the
turns of a dead session are abandoned: they run again) and `experiment_started`/`_finished` are
all it reads. Times are the events' own; how long something has been going is the caller's to say
against a clock it chooses. It keeps no more than `RECENT` turns per role, so a long run costs
what a short one does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orgloop.runtime.core.events import Event

RECENT = 12
"""Finished turns kept per role."""
KINDS = frozenset(
    {
        "turn_started",
        "llm_call",
        "turn_completed",
        "experiment_started",
        "experiment_finished",
        "run_resumed",
    }
)
"""The events it reads."""


@dataclass
class Turn:
    """One turn of one role."""

    id: str
    role: str
    message: str
    start: float
    end: float | None = None
    produced: tuple[str, ...] = ()
    tool_calls: int = 0
    llm_calls: int = 0
    tokens: int = 0
    usd: float = 0.0
    abandoned: bool = False
    """Its session died before it completed; the message it held runs again."""

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class RoleTotals:
    turns: int = 0
    llm_calls: int = 0
    tokens: int = 0
    usd: float = 0.0
    busy: float = 0.0
    """Seconds spent in completed turns."""
    last_end: float | None = None
    recent: deque[Turn] = field(default_factory=lambda: deque(maxlen=RECENT))


def _tokens(d: dict[str, Any]) -> int:
    keys = ("input_tokens", "output_tokens", "cache_read", "cache_write")
    return sum(int(d.get(k) or 0) for k in keys)


class Activity:
    def __init__(self) -> None:
        self.open: dict[str, Turn] = {}
        """Turns started and not completed in this session, by id."""
        self.roles: dict[str, RoleTotals] = {}
        self.running: dict[str, float] = {}
        """Experiments started and not finished in this session: id -> when it started."""
        self._handlers: dict[str, Callable[[Event], None]] = {
            "turn_started": self._started,
            "llm_call": self._llm_call,
            "turn_completed": self._completed,
            "experiment_started": self._experiment_started,
            "experiment_finished": self._experiment_finished,
            "run_resumed": self._resumed,
        }

    def totals(self, role: str) -> RoleTotals:
        out = self.roles.get(role)
        if out is None:
            out = self.roles[role] = RoleTotals()
        return out

    def turn_of(self, role: str) -> Turn | None:
        """The role's oldest open turn (the one that has run longest)."""
        return next((t for t in self.open.values() if t.role == role), None)

    def apply(self, ev: Event) -> None:
        handler = self._handlers.get(ev.kind)
        if handler is not None:
            handler(ev)

    def _started(self, ev: Event) -> None:
        d = ev.data
        turn = Turn(str(d["turn"]), str(d["role"]), str(d["message"]), ev.t)
        self.open[turn.id] = turn

    def _llm_call(self, ev: Event) -> None:
        d = ev.data
        tokens, usd = _tokens(d), float(d.get("usd") or 0.0)
        open_turn = self.open.get(str(d.get("turn")))
        if open_turn is not None:
            open_turn.llm_calls += 1
            open_turn.tokens += tokens
            open_turn.usd += usd
        role = d.get("role") or (open_turn.role if open_turn else None)
        if role:
            totals = self.totals(str(role))
            totals.llm_calls += 1
            totals.tokens += tokens
            totals.usd += usd

    def _experiment_started(self, ev: Event) -> None:
        self.running[str(ev.data["id"])] = ev.t

    def _experiment_finished(self, ev: Event) -> None:
        self.running.pop(str(ev.data["id"]), None)

    def _resumed(self, ev: Event) -> None:
        for turn in self.open.values():
            turn.abandoned = True
            self.totals(turn.role).recent.append(turn)
        self.open.clear()
        self.running.clear()

    def _completed(self, ev: Event) -> None:
        d = ev.data
        turn = self.open.pop(str(d["turn"]), None)
        if turn is None:  # started in a part of the log this fold did not see
            turn = Turn(str(d["turn"]), str(d["role"]), str(d.get("message", "")), ev.t)
        turn.end = ev.t
        turn.produced = tuple(str(m) for m in d.get("produced", []))
        turn.tool_calls = int(d.get("tool_calls") or 0)
        totals = self.totals(turn.role)
        totals.turns += 1
        totals.busy += ev.t - turn.start
        totals.last_end = ev.t
        totals.recent.append(turn)
