"""The app's model of a run: the engine's own fold (`RunState`) plus what only a viewer needs.

`Feed.poll()` reads the events appended since the last poll (`LogTail`), applies each one to the
`RunState` and to the viewer's extras, and returns a `Changes` that names what moved, so each
widget updates only its own rows. The extras are: roles and message kinds in order of first
appearance, which roles are sandboxes, message counts per edge, the send order and time of every
message, the incumbent each experiment was measured against and the incumbent after it, the
experiment seconds (for the slot duty cycle), what each role did turn by turn (`Activity`), and
the org's history (edits, reverts, rejections, with how many experiments had started by then).

It reads `events.jsonl`; what the org declares (roles that have not spoken yet, edges nobody has
used) comes from the org snapshot, loaded by the app (`set_view`). It never imports the engine.
Times come from the events, so what it shows of a finished run is the same on every machine and
at every hour.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orgloop.runtime.core.events import KINDS, Event
from orgloop.runtime.core.state import RunState

from ._activity import KINDS as ACTIVITY_KINDS
from ._activity import Activity
from ._org import OrgView
from ._tail import BIG_BATCH, LogReplaced, LogTail, paused_gc

HUMAN = "human"
Handler = Callable[["Event", "Changes", "float | None"], None]
Severity = Literal["information", "warning", "error"]
"""How loud a notice is (Textual's notification severities)."""
SKIM = frozenset(k for k in ("tool_call",) if not hasattr(RunState, "_on_" + k))
"""Kinds whose data nothing here reads: the view shows no tool calls, and the fold has no handler
for them (should it gain one, the kind is read in full again)."""
_ROLE_EVENTS = frozenset({"message_sent", "turn_started"})
"""Kinds that can name a role (or a kind of message) not seen before."""


@dataclass
class Changes:
    """What one poll moved; empty when nothing was appended."""

    events: int = 0
    reset: bool = False
    """The log was replaced and everything was read again: rebuild every widget."""
    messages: list[str] = field(default_factory=list)
    experiments: dict[str, None] = field(default_factory=dict)
    history: dict[int, None] = field(default_factory=dict)
    roles: bool = False
    """A role or a kind of message may have appeared."""
    org: bool = False
    """The org's files changed (an edit applied or reverted): its snapshot is worth reloading."""
    notices: list[tuple[Severity, str]] = field(default_factory=list)
    """(severity, text): control commands the engine refused or applied, errors, pauses, turns
    that ended without their role's duty done."""
    alerts: list[tuple[Severity, str]] = field(default_factory=list)
    """What deserves the bell: a new best, an error, an edit waiting for approval."""

    def __bool__(self) -> bool:
        return bool(self.events or self.reset)


@dataclass
class HistoryEntry:
    """One event in the org's history and what became of it."""

    seq: int
    t: float
    kind: str
    data: dict[str, Any]
    status: str
    """kept, pending, reverted, rejected, or revert (the revert commit itself)."""
    experiments: int = 0
    """How many experiments had started when it happened (where it falls on the plot)."""

    @property
    def generation(self) -> int | None:
        g = self.data.get("generation")
        return g if isinstance(g, int) else None

    @property
    def files(self) -> list[str]:
        files = self.data.get("files")
        if isinstance(files, list):
            return [str(f) for f in files]
        one = self.data.get("file")
        return [str(one)] if one else []


class Feed:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.tail = LogTail(run_dir / "events.jsonl", skim=SKIM)
        self._handlers: dict[str, Handler] = {
            kind: getattr(self, "_on_" + kind) for kind in KINDS if hasattr(self, "_on_" + kind)
        }
        """Each kind's handler, looked up once rather than per event."""
        self._clear()

    def _clear(self) -> None:
        self.state = RunState()
        self.start_t: float | None = None
        self.view = getattr(self, "view", OrgView())
        self.seen: dict[str, None] = {}
        """Roles in the order they first appear in the log."""
        self.sandbox: set[str] = {r for r, kind in self.view.roles.items() if kind == "sandbox"}
        self.activity = Activity()
        self.kinds: dict[str, None] = {}
        self.edges: dict[tuple[str, str], Counter[str]] = {}
        self.order: list[str] = []
        self.sent_at: dict[str, float] = {}
        self.incumbent_before: dict[str, float | None] = {}
        self.best_after: dict[str, float | None] = {}
        self.busy_seconds = 0.0
        self.history: list[HistoryEntry] = []
        self.rejected_by_fold = 0
        """Events that parsed but did not fit the fold (an experiment nobody started, say)."""

    # ---- reading
    @property
    def exists(self) -> bool:
        return self.tail.path.exists()

    @property
    def bad_lines(self) -> int:
        return self.tail.bad + self.rejected_by_fold

    def poll(self) -> Changes:
        """Apply everything appended since the last poll (a long backlog chunk by chunk)."""
        changes = Changes()
        while True:
            try:
                events = self.tail.read()
            except LogReplaced:
                self.tail = LogTail(self.tail.path, skim=SKIM)
                self._clear()
                changes = Changes(reset=True)
                continue
            if not events:
                return changes
            with paused_gc(len(events) >= BIG_BATCH):
                for ev in events:
                    self.apply(ev, changes)
            if len(events) >= BIG_BATCH:
                # What a long log leaves behind lives as long as the app: move it out of the
                # collector's sight, so later collections (and the UI) do not pause to walk it.
                gc.freeze()

    def set_view(self, view: OrgView) -> None:
        """What the org snapshot declares: roles and edges the log may not have shown yet."""
        self.view = view
        self.sandbox |= {r for r, kind in view.roles.items() if kind == "sandbox"}

    def apply(self, ev: Event, changes: Changes) -> None:
        changes.events += 1
        kind = ev.kind
        before = self.state.incumbent_metric
        try:
            self.state.apply(ev)
            if kind in ACTIVITY_KINDS:
                self.activity.apply(ev)
            handler = self._handlers.get(kind)
            if handler is not None:
                handler(ev, changes, before)
        except (KeyError, TypeError, ValueError, AttributeError):
            self.rejected_by_fold += 1
            return
        if kind in _ROLE_EVENTS:
            changes.roles = True

    # ---- what the viewer adds to the fold
    def _on_run_started(self, ev: Event, changes: Changes, before: float | None) -> None:
        self.start_t = ev.t

    def _on_message_sent(self, ev: Event, changes: Changes, before: float | None) -> None:
        d = ev.data
        sender, receiver, kind = str(d["sender"]), str(d["receiver"]), str(d["kind"])
        self.seen.setdefault(sender, None)
        self.seen.setdefault(receiver, None)
        self.kinds.setdefault(kind, None)
        if kind == "experiment":
            self.sandbox.add(receiver)
        self.edges.setdefault((sender, receiver), Counter())[kind] += 1
        self.order.append(d["id"])
        self.sent_at[d["id"]] = ev.t
        changes.messages.append(d["id"])

    def _on_turn_started(self, ev: Event, changes: Changes, before: float | None) -> None:
        self.seen.setdefault(str(ev.data["role"]), None)

    def _on_experiment_started(self, ev: Event, changes: Changes, before: float | None) -> None:
        turn = self.state.running.get(ev.data.get("turn", ""))
        if turn is not None:
            self.sandbox.add(turn[0])
        changes.experiments[ev.data["id"]] = None
        changes.roles = True

    def _on_experiment_finished(self, ev: Event, changes: Changes, before: float | None) -> None:
        exp = self.state.experiments[ev.data["id"]]
        self.incumbent_before[exp.id] = None if exp.baseline else before
        self.best_after[exp.id] = self.state.incumbent_metric
        self.busy_seconds += exp.seconds
        changes.experiments[exp.id] = None

    def _on_decision(self, ev: Event, changes: Changes, before: float | None) -> None:
        exp_id = ev.data["experiment"]
        if "incumbent_metric" in ev.data:  # the engine's own word on what it was compared with
            self.incumbent_before[exp_id] = ev.data["incumbent_metric"]
        self.best_after[exp_id] = self.state.incumbent_metric
        changes.experiments[exp_id] = None
        best = self.state.incumbent_metric
        if ev.data.get("verdict") == "keep" and best is not None:
            name = self.metric.get("name", "metric")
            was = "" if before is None else f" (was {before:.6g})"
            changes.alerts.append(("information", f"new best: {exp_id}, {name} {best:.6g}{was}"))

    def _on_org_proposed(self, ev: Event, changes: Changes, before: float | None) -> None:
        self._add_history(ev, "pending", changes)
        gen = ev.data.get("generation")
        what = ev.data.get("file") or "the org"
        changes.alerts.append(
            ("warning", f"generation {gen} ({what}) waits for approval: a approves, x rejects")
        )

    def _on_org_edited(self, ev: Event, changes: Changes, before: float | None) -> None:
        changes.org = True
        if not self._settle(ev, "kept", changes):
            self._add_history(ev, "kept", changes)

    def _on_org_rejected(self, ev: Event, changes: Changes, before: float | None) -> None:
        if not self._settle(ev, "rejected", changes):
            self._add_history(ev, "rejected", changes)

    def _on_org_reverted(self, ev: Event, changes: Changes, before: float | None) -> None:
        changes.org = True
        gen = ev.data.get("generation")
        for i, entry in enumerate(self.history):
            if entry.kind == "org_edited" and entry.generation == gen:
                entry.status = "reverted"
                changes.history[i] = None
        self._add_history(ev, "revert", changes)

    def _settle(self, ev: Event, status: str, changes: Changes) -> bool:
        """An edit that waited for approval (`org_proposed`) and is now applied or refused takes
        the answer's place in its row, keeping what the proposal said that the answer does not."""
        gen = ev.data.get("generation")
        for i, entry in enumerate(self.history):
            if entry.status == "pending" and gen is not None and entry.generation == gen:
                data = {**entry.data, **ev.data}
                self.history[i] = HistoryEntry(
                    ev.seq, ev.t, ev.kind, data, status, len(self.state.experiments)
                )
                changes.history[i] = None
                return True
        return False

    def _add_history(self, ev: Event, status: str, changes: Changes) -> None:
        entry = HistoryEntry(ev.seq, ev.t, ev.kind, ev.data, status, len(self.state.experiments))
        self.history.append(entry)
        changes.history[len(self.history) - 1] = None

    def _on_control(self, ev: Event, changes: Changes, before: float | None) -> None:
        d = ev.data
        what = d.get("cmd", "?")
        if d.get("error"):
            changes.notices.append(("warning", f"the engine refused {what}: {d['error']}"))
        else:
            changes.notices.append(("information", f"the engine applied {what}"))

    def _on_error(self, ev: Event, changes: Changes, before: float | None) -> None:
        changes.alerts.append(("error", f"{ev.data.get('role', '?')}: {ev.data.get('error')}"))

    def _on_paused(self, ev: Event, changes: Changes, before: float | None) -> None:
        changes.notices.append(("information", f"paused ({ev.data.get('reason', '')})"))

    def _on_turn_undone(self, ev: Event, changes: Changes, before: float | None) -> None:
        d = ev.data
        what = f"{d.get('role', '?')} on `{d.get('kind', '?')}` {d.get('message', '')}"
        changes.notices.append(("warning", f"turn undone: {what}: {d.get('reason', '')}"))

    # ---- queries
    @property
    def roles(self) -> list[str]:
        """Roles seen in the log, in order of appearance, then declared ones not seen yet."""
        return [*self.seen, *(r for r in self.view.roles if r not in self.seen)]

    def all_edges(self) -> dict[tuple[str, str], Counter[str]]:
        """Messages per (sender, receiver) and kind: those sent, and with a count of 0 the
        kinds the org declares that nobody has sent yet."""
        out = {pair: Counter(kinds) for pair, kinds in self.edges.items()}
        for sender, receiver, kind in self.view.edges:
            out.setdefault((sender, receiver), Counter()).setdefault(kind, 0)
        return out

    @property
    def metric(self) -> dict[str, Any]:
        m = self.state.config.get("metric")
        return m if isinstance(m, dict) else {}

    @property
    def minimize(self) -> bool:
        return bool(self.metric.get("goal", "minimize") != "maximize")

    @property
    def bound(self) -> float | None:
        """The task's known limit of the metric, when it has one."""
        b = self.metric.get("bound")
        return float(b) if isinstance(b, (int, float)) and not isinstance(b, bool) else None

    @property
    def baseline(self) -> float | None:
        """The mean of the baseline runs that measured."""
        b = self.state.baselines
        return sum(b) / len(b) if b else None

    @property
    def gap_closed(self) -> float | None:
        """How much of the way from the baseline to the bound the best has come (0 to 1)."""
        base, best, bound = self.baseline, self.state.incumbent_metric, self.bound
        if base is None or best is None or bound is None or base == bound:
            return None
        return (base - best) / (base - bound)

    def wall_seconds(self, now: float | None = None) -> float:
        """Active wall time; with `now` (an engine runs the run) counted up to now, so the
        clock moves during a long experiment too."""
        return self.state.wall_seconds(now if now is not None and now > self.state.last_t else None)

    def better(self, delta: float) -> bool:
        """Whether a change of `delta` in the metric is an improvement."""
        return delta < 0 if self.minimize else delta > 0

    def since_start(self, t: float) -> float:
        return t - (self.start_t if self.start_t is not None else t)

    def role_activity(self) -> dict[str, tuple[int, int]]:
        """Per role: (turns running now, messages waiting for it)."""
        out: dict[str, list[int]] = {}
        for role, _ in self.state.running.values():
            out.setdefault(role, [0, 0])[0] += 1
        for mid in self.state.pending:
            msg = self.state.messages.get(mid)
            if msg is not None:
                out.setdefault(msg.receiver, [0, 0])[1] += 1
        return {role: (v[0], v[1]) for role, v in out.items()}

    def role_state(self, role: str, activity: tuple[int, int]) -> str:
        """idle, thinking (an agent turn runs), running (an experiment runs), or waiting (messages
        pend and no turn runs: the role waits for a turn slot or an experiment slot)."""
        running, waiting = activity
        if running:
            return "running" if role in self.sandbox else "thinking"
        if waiting and role != HUMAN:
            return "paused" if self.state.paused else "waiting"
        return "idle"

    def last_messages(
        self, role: str | None, kind: str | None, limit: int, text: str = ""
    ) -> tuple[list[str], int]:
        """The ids of the last `limit` messages that pass the filters, oldest first, and how
        many pass in all (the whole run is searched)."""
        out: list[str] = []
        total = 0
        needle = text.casefold()
        for mid in reversed(self.order):
            if self.matches(mid, role, kind, needle):
                total += 1
                if len(out) < limit:
                    out.append(mid)
        out.reverse()
        return out, total

    def matches(self, mid: str, role: str | None, kind: str | None, needle: str = "") -> bool:
        """Whether the message passes the filters; `needle` (casefolded) must be in its body,
        kind, sender, receiver or id."""
        msg = self.state.messages[mid]
        if role is not None and role not in (msg.sender, msg.receiver):
            return False
        if kind is not None and msg.kind != kind:
            return False
        if not needle:
            return True
        head = f"{msg.id} {msg.sender} {msg.receiver} {msg.kind}".casefold()
        return needle in head or needle in msg.body.casefold()

    def pending_generation(self) -> int | None:
        """The newest meta edit waiting for a human's approval, if any."""
        for entry in reversed(self.history):
            if entry.status == "pending" and entry.generation is not None:
                return entry.generation
        return None
