"""Every role, what it is doing now and for how long, and what it has cost: the table under the
graph ("engineer · thinking 42s · on direction m17", turns, tokens, dollars). Enter (or a click
on the highlighted row) asks for the role in full (`RolesTable.Opened`).

A role is idle, thinking (an agent turn runs), running (an experiment runs in a sandbox slot),
waiting (messages wait for it and no turn runs: it waits for a turn or experiment slot; paused
while the run is paused), or stopped (a turn was running when its engine died; it runs again on
resume). How long it has been so is counted against the clock the app passes in: the wall clock
while an engine runs the run, the last event's time otherwise, so a finished run reads the same
forever.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message

from ._feed import HUMAN, Feed
from ._format import STATE_STYLE, count, duration
from ._table import Cells, Column, KeyedTable

COLUMNS = (
    Column("role", 10),
    Column("state", 9),
    Column("for", 7, keep=8),
    Column("on", 16, flex=True),
    Column("turns", 5, keep=6),
    Column("tokens", 7, keep=5),
    Column("$", 7, keep=4),
)


@dataclass(frozen=True)
class RoleNow:
    role: str
    state: str
    since: float | None
    """When the state began (an event's time); None when the log does not say."""
    on: str
    """What it works on: `direction m17`, `e9`, `2 messages`."""


def role_now(feed: Feed, role: str, alive: bool) -> RoleNow:
    """What `role` is doing; `alive`: an engine runs the run (else running turns stopped)."""
    s = feed.state
    turn = feed.activity.turn_of(role)
    if turn is not None:
        msg = s.messages.get(turn.message)
        on = f"{msg.kind} {msg.id}" if msg is not None else turn.message
        if role in feed.sandbox:
            exp = next((e for e in feed.activity.running if s.experiments[e].turn == turn.id), "")
            on = exp or on
        if not alive and not s.finished:
            return RoleNow(role, "stopped", turn.start, on)
        return RoleNow(role, "running" if role in feed.sandbox else "thinking", turn.start, on)
    waiting = [mid for mid in s.pending if s.messages[mid].receiver == role]
    if waiting and role != HUMAN:
        first = s.messages[waiting[0]]
        on = f"{first.kind} {first.id}" + (f" +{len(waiting) - 1}" if len(waiting) > 1 else "")
        state = "paused" if s.paused else "waiting"
        return RoleNow(role, state, feed.sent_at.get(waiting[0]), on)
    return RoleNow(role, "idle", feed.activity.totals(role).last_end if alive else None, "")


def role_label(now: RoleNow, clock: float) -> str:
    """`thinking 42s`: the state and how long it has lasted."""
    if now.since is None or now.state == "idle":
        return now.state
    return f"{now.state} {duration(clock - now.since)}"


class RolesTable(KeyedTable):
    """One row per role, in the graph's order."""

    class Opened(Message):
        """The user asked to see one role in full."""

        def __init__(self, role: str) -> None:
            super().__init__()
            self.role = role

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, self._row, follow=False, id=id)
        self.feed = feed
        self.alive = False
        self.clock = 0.0

    def show(self, *, alive: bool, clock: float) -> None:
        """Add roles not shown yet and redraw every row (states and times move together)."""
        self.alive, self.clock = alive, clock
        roles = [r for r in self.feed.roles if r != HUMAN]
        self.add(r for r in roles if r not in self)
        for role in self.keys:
            self.touch(role)

    def _row(self, role: str) -> Cells:
        now = role_now(self.feed, role, self.alive)
        totals = self.feed.activity.totals(role)
        style = STATE_STYLE.get(now.state, "")
        since = "" if now.since is None else duration(self.clock - now.since)
        turns = self.feed.state.role_turns.get(role, 0)
        return (
            Text(role, style="bold"),
            Text(now.state, style=style),
            Text(since, style=style, justify="right"),
            Text(now.on, style="cyan" if now.on else ""),
            Text(str(turns), style="" if turns else "dim", justify="right"),
            Text(count(totals.tokens) if totals.tokens else "—", justify="right", style="dim"),
            Text(f"${totals.usd:.2f}" if totals.usd else "—", justify="right", style="dim"),
        )

    def on_keyed_table_selected(self, event: KeyedTable.Selected) -> None:
        event.stop()
        self.post_message(self.Opened(event.key))
