"""A run's state as a fold over its events. `fold(events)` is pure: no clock, no disk, no ids made
up here — everything it knows came from an event.

The fold is also the definition of the turn transaction: a message becomes deliverable when the turn
that produced it completes (or at once, if nobody's turn produced it), and is consumed only by the
`turn_completed` that handled it. A turn that started but never completed — the process died — is
simply forgotten, and its message is still pending.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .events import Event

OK = "ok"
FAILED = ("crash", "timeout", "suspect", "void", "lost")


@dataclass(frozen=True)
class Message:
    id: str
    sender: str
    receiver: str
    kind: str
    body: str
    data: dict[str, Any]
    turn: str | None
    """The turn that produced it; None for messages from the human or the runtime."""
    seq: int = -1
    """The seq of its `message_sent`: what the run had logged before it was sent is below."""


@dataclass
class ExperimentRecord:
    id: str
    turn: str
    message: str
    baseline: bool
    description: str
    base: str
    slot: int = 0
    status: str = "running"
    metric: float | None = None
    commit: str = ""
    seconds: float = 0.0
    memory_gb: float = 0.0
    decision: str = ""
    """keep, discard, or '' while undecided; baselines are never decided."""
    reason: str = ""
    branch_commit: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    starts: int = 1
    """How many sessions started it: more than one means the engine died while it ran."""
    confirm: str = ""
    """`best` or `baseline` for a confirmation rerun on a fresh seed (`confirm.py`); such a run is
    neither a baseline nor a candidate."""
    arm: dict[str, Any] = field(default_factory=dict)
    """{generation, arm} when it was proposed by one arm of a meta edit's paired trial."""
    started_at: float = 0.0
    """When its slot was taken (engine clock): its `experiment_started`."""
    held: float = 0.0
    """Seconds its slot was held, from `experiment_started` to `experiment_finished`."""
    finished_seq: int = -1
    """The seq of its `experiment_finished`; -1 while it runs."""
    decided_seq: int = -1
    """The seq of its `decision`; -1 while undecided."""

    @property
    def finished(self) -> bool:
        return self.status != "running"


@dataclass
class RoleUsage:
    """One role's model calls, summed: what report.md and the TUI show per role."""

    calls: int = 0
    input_tokens: int = 0
    """Prompt tokens, cached ones included."""
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cache_share(self) -> float | None:
        """The share of prompt tokens read from the cache; None before any call."""
        return self.cache_read / self.input_tokens if self.input_tokens else None


@dataclass
class RoleTime:
    """One role's turns, timed from `turn_started` to `turn_completed`: for an agent role, its
    thinking; for a sandbox role, its training (slot time)."""

    turns: int = 0
    seconds: float = 0.0
    model_turns: int = 0
    """Of `turns`, those that called a model (an `llm_call` event)."""
    model_seconds: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.seconds / self.turns if self.turns else None

    @property
    def think(self) -> float | None:
        """The mean seconds of a turn that called a model; 0 when the role's turns call none
        (a policy decides in no time that matters); None before any turn ended."""
        if self.model_turns:
            return self.model_seconds / self.model_turns
        return 0.0 if self.turns else None


@dataclass
class RunState:
    run_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    branch: str = ""
    messages: dict[str, Message] = field(default_factory=dict)
    pending: dict[str, None] = field(default_factory=dict)
    """Deliverable, unconsumed message ids, in the order they became deliverable."""
    running: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Turns started and not completed in this session: turn id -> (role, message id)."""
    running_since: dict[str, float] = field(default_factory=dict)
    """When each of the `running` turns started (engine clock)."""
    calling: set[str] = field(default_factory=set)
    """Of the `running` turns, those that have called a model."""
    role_time: dict[str, RoleTime] = field(default_factory=dict)
    """Completed turns and their seconds, by role: thinking (agents) and training (sandboxes)."""
    slot_seconds: float = 0.0
    """Seconds experiment slots were held, summed over finished experiments."""
    first_slot_at: float | None = None
    """When the first experiment took a slot (engine clock)."""
    last_slot_at: float | None = None
    """When the latest experiment gave its slot back."""
    trainers: set[str] = field(default_factory=set)
    """The roles whose turns ran experiments (sandboxes): their `role_time` is training."""
    role_turns: Counter[str] = field(default_factory=Counter)
    visits: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    experiments: dict[str, ExperimentRecord] = field(default_factory=dict)
    experiments_sent: int = 0
    incumbent: str = ""
    incumbent_metric: float | None = None
    incumbent_exp: str = ""
    kept: list[str] = field(default_factory=list)
    """The commits of kept experiments, in the order they were kept."""
    tokens: int = 0
    input_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    usd: float = 0.0
    llm_calls: int = 0
    by_role: dict[str, RoleUsage] = field(default_factory=dict)
    role_exhausted: dict[str, list[str]] = field(default_factory=dict)
    """Role budgets (`usd`, `tokens`) a brain declared spent, by role."""
    turn_starts: dict[str, float] = field(default_factory=dict)
    """When each role's latest turn started (engine clock)."""
    turn_gaps: dict[str, float] = field(default_factory=dict)
    """Seconds between each role's last two turn starts: how long its prompt cache must last."""
    replies_cut: int = 0
    refusals: int = 0
    undone: list[dict[str, Any]] = field(default_factory=list)
    """`turn_undone` events: turns that ended without the role doing its duty."""
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Roles waiting out an API outage now: role -> its latest `api_waiting` data."""
    gpu_seconds: float = 0.0
    active_seconds: float = 0.0
    session_start: float | None = None
    last_t: float = 0.0
    exhausted: list[str] = field(default_factory=list)
    paused: bool = False
    control_lines: int = 0
    generation: int = 0
    org_edits: list[dict[str, Any]] = field(default_factory=list)
    proposals: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Meta edits waiting for a human's approve or reject (`org_proposed`), by generation."""
    windows: list[dict[str, Any]] = field(default_factory=list)
    """The meta desk's closed windows, oldest first: the data of their `window` messages."""
    finished: bool = False
    finish_reason: str = ""
    events: int = 0

    # ---- queries
    @property
    def baselines(self) -> list[float]:
        return [
            e.metric
            for e in self.experiments.values()
            if e.baseline and e.status == OK and e.metric is not None
        ]

    @property
    def first_seed(self) -> int:
        """The ORGLOOP_SEED of every candidate and of the first baseline run; baseline run i
        runs on first_seed + i, the confirmation reruns on the seeds after the baselines'. A run
        logged before the engine recorded it began at 0."""
        return int(self.config.get("first_seed", 0) or 0)

    @property
    def noise(self) -> float | None:
        """Standard deviation of the baseline runs; None until two of them finished."""
        b = self.baselines
        return statistics.stdev(b) if len(b) >= 2 else None

    def candidates(self) -> list[ExperimentRecord]:
        return [e for e in self.experiments.values() if not e.baseline and not e.confirm]

    def decided(self) -> list[ExperimentRecord]:
        return [e for e in self.candidates() if e.decision]

    def slots_busy(self) -> float | None:
        """The share of slot time experiments held, from the first experiment's start to the
        latest one's end; None before one has finished."""
        slots = int(self.config.get("slots", 1) or 1)
        if self.first_slot_at is None or self.last_slot_at is None:
            return None
        span = self.last_slot_at - self.first_slot_at
        return min(1.0, self.slot_seconds / (slots * span)) if span > 0 else None

    def thinking(self) -> dict[str, RoleTime]:
        """Agent roles' timed turns (thinking), by role; the sandboxes' are `training`."""
        return {r: t for r, t in self.role_time.items() if r not in self.trainers}

    def training(self) -> RoleTime:
        """Every experiment turn, timed: slot-seconds spent training (checkout included)."""
        out = RoleTime()
        for role in self.trainers:
            t = self.role_time.get(role, RoleTime())
            out.turns += t.turns
            out.seconds += t.seconds
        return out

    def per_hour(self, now: float | None = None) -> float | None:
        """Finished experiments per hour of the run's wall time; None before any time passed."""
        wall = self.wall_seconds(now)
        done = sum(1 for e in self.experiments.values() if e.finished)
        return 3600.0 * done / wall if wall > 0 else None

    def wall_seconds(self, now: float | None = None) -> float:
        """Active seconds over all sessions (time between a kill and a resume does not count)."""
        if self.session_start is None:
            return self.active_seconds
        end = self.last_t if now is None else now
        return self.active_seconds + max(0.0, end - self.session_start)

    # ---- the fold
    def apply(self, ev: Event) -> None:
        handler = _HANDLERS.get(ev.kind)
        if handler is not None:
            handler(self, ev.data, ev)
        self.last_t = max(self.last_t, ev.t)
        self.events = ev.seq + 1

    def _on_run_started(self, d: dict[str, Any], ev: Event) -> None:
        self.run_id = d["run_id"]
        self.config = d
        self.branch = d["branch"]
        self.incumbent = d["base"]
        self.session_start = ev.t

    def _on_run_resumed(self, d: dict[str, Any], ev: Event) -> None:
        self.active_seconds = self.wall_seconds()
        self.session_start = ev.t
        self.running.clear()  # turns of the dead session are abandoned; their messages pend
        self.running_since.clear()
        self.calling.clear()

    def _on_message_sent(self, d: dict[str, Any], ev: Event) -> None:
        msg = Message(
            d["id"],
            d["sender"],
            d["receiver"],
            d["kind"],
            d.get("body", ""),
            d.get("data", {}),
            d.get("turn"),
            ev.seq,
        )
        self.messages[msg.id] = msg
        if msg.turn is None:
            self._deliverable(msg)
        if msg.kind == "window" and msg.turn is None and "decided" in msg.data:
            n = int(msg.data["window"])  # one message per meta role: count the window once
            if not self.windows or int(self.windows[-1]["window"]) < n:
                self.windows.append(msg.data)

    def _deliverable(self, msg: Message) -> None:
        self.pending[msg.id] = None
        self.visits[(msg.sender, msg.receiver, msg.kind)] += 1
        if (
            msg.kind == "experiment"
            and not msg.data.get("baseline")
            and not msg.data.get("confirm")
        ):
            self.experiments_sent += 1

    def _on_turn_started(self, d: dict[str, Any], ev: Event) -> None:
        self.running[d["turn"]] = (d["role"], d["message"])
        self.running_since[d["turn"]] = ev.t
        role = d["role"]
        if role in self.turn_starts:
            self.turn_gaps[role] = ev.t - self.turn_starts[role]
        self.turn_starts[role] = ev.t

    def _on_turn_completed(self, d: dict[str, Any], ev: Event) -> None:
        self.running.pop(d["turn"], None)
        since = self.running_since.pop(d["turn"], None)
        if since is not None:
            timed = self.role_time.setdefault(d["role"], RoleTime())
            timed.turns += 1
            timed.seconds += max(0.0, ev.t - since)
            if d["turn"] in self.calling:
                timed.model_turns += 1
                timed.model_seconds += max(0.0, ev.t - since)
        self.calling.discard(d["turn"])
        self.waiting.pop(d["role"], None)
        self.pending.pop(d["message"], None)
        self.role_turns[d["role"]] += 1
        for mid in d.get("produced", []):
            self._deliverable(self.messages[mid])

    def _on_llm_call(self, d: dict[str, Any], ev: Event) -> None:
        self.llm_calls += 1
        if d.get("turn") in self.running:
            self.calling.add(str(d["turn"]))
        read, write = d.get("cache_read", 0), d.get("cache_write", 0)
        prompt = d.get("input_tokens", 0) + read + write
        output, usd = d.get("output_tokens", 0), d.get("usd", 0.0)
        self.input_tokens += prompt
        self.tokens += prompt + output
        self.cache_read += read
        self.cache_write += write
        self.usd += usd
        role = str(d.get("role", ""))
        used = self.by_role.get(role)
        if used is None:
            used = self.by_role[role] = RoleUsage()
        used.calls += 1
        used.input_tokens += prompt
        used.output_tokens += output
        used.cache_read += read
        used.cache_write += write
        used.usd += usd
        self.waiting.pop(role, None)

    def _on_api_waiting(self, d: dict[str, Any], ev: Event) -> None:
        self.waiting[str(d.get("role", ""))] = d

    def _on_reply_cut(self, d: dict[str, Any], ev: Event) -> None:
        self.replies_cut += 1

    def _on_refusal(self, d: dict[str, Any], ev: Event) -> None:
        self.refusals += 1

    def _on_turn_undone(self, d: dict[str, Any], ev: Event) -> None:
        self.undone.append(d)

    def _on_experiment_started(self, d: dict[str, Any], ev: Event) -> None:
        before = self.experiments.get(d["id"])
        self.experiments[d["id"]] = ExperimentRecord(
            id=d["id"],
            turn=d["turn"],
            message=d["message"],
            baseline=d.get("baseline", False),
            description=d.get("description", ""),
            base=d.get("base", ""),
            slot=d.get("slot", 0),
            starts=before.starts + 1 if before is not None else 1,
            confirm=str(d.get("confirm") or ""),
            arm=dict(d.get("arm") or {}),
            started_at=ev.t,
        )
        if self.first_slot_at is None:
            self.first_slot_at = ev.t
        if d["turn"] in self.running:
            self.trainers.add(self.running[d["turn"]][0])

    def _on_experiment_finished(self, d: dict[str, Any], ev: Event) -> None:
        e = self.experiments[d["id"]]
        e.status = d["status"]
        metric = d.get("metric")
        e.metric = float(metric) if metric is not None and math.isfinite(metric) else None
        e.commit = d.get("commit", "")
        e.seconds = d.get("seconds", 0.0)
        e.memory_gb = d.get("memory_gb", 0.0)
        e.info = d
        e.held = max(0.0, ev.t - e.started_at)
        e.finished_seq = ev.seq
        self.slot_seconds += e.held
        self.last_slot_at = max(self.last_slot_at or ev.t, ev.t)
        self.gpu_seconds += e.seconds * max(1, len(d.get("gpus", []) or []))
        if e.baseline and e.status == OK:
            b = self.baselines
            self.incumbent_metric = sum(b) / len(b)
            self.incumbent_exp = self.incumbent_exp or e.id

    def _on_decision(self, d: dict[str, Any], ev: Event) -> None:
        e = self.experiments[d["experiment"]]
        e.decision = d["verdict"]
        e.decided_seq = ev.seq
        e.reason = d.get("reason", "")
        if d["verdict"] == "keep":
            e.branch_commit = d["commit"]
            self.kept.append(d["commit"])
            self.incumbent = d["commit"]
            self.incumbent_metric = e.metric
            self.incumbent_exp = e.id

    def _on_org_proposed(self, d: dict[str, Any], ev: Event) -> None:
        if isinstance(d.get("generation"), int):
            self.proposals[d["generation"]] = d

    def _on_org_rejected(self, d: dict[str, Any], ev: Event) -> None:
        self._settled(d.get("generation"))

    def _settled(self, generation: object) -> None:
        if isinstance(generation, int):
            self.proposals.pop(generation, None)

    def _on_org_edited(self, d: dict[str, Any], ev: Event) -> None:
        self._settled(d.get("generation"))
        self.generation = d.get("generation", self.generation + 1)
        self.incumbent = d.get("commit", self.incumbent)
        self.org_edits.append({**d, "reverted": False})

    def _on_org_reverted(self, d: dict[str, Any], ev: Event) -> None:
        self.incumbent = d.get("commit", self.incumbent)
        for edit in self.org_edits:
            if edit.get("generation") == d.get("generation"):
                edit["reverted"] = True

    def _on_org_trial(self, d: dict[str, Any], ev: Event) -> None:
        for edit in self.org_edits:
            if edit.get("generation") == d.get("generation"):
                edit["trial"] = d
        self.incumbent = d.get("commit") or self.incumbent

    def _on_control(self, d: dict[str, Any], ev: Event) -> None:
        self.control_lines = max(self.control_lines, d.get("line", -1) + 1)

    def _on_paused(self, d: dict[str, Any], ev: Event) -> None:
        self.paused = True

    def _on_resumed(self, d: dict[str, Any], ev: Event) -> None:
        self.paused = False

    def _on_budget_exhausted(self, d: dict[str, Any], ev: Event) -> None:
        role = d.get("role") if d.get("scope") == "role" else None
        spent = self.role_exhausted.setdefault(role, []) if role else self.exhausted
        if d["budget"] not in spent:
            spent.append(d["budget"])

    def _on_run_finished(self, d: dict[str, Any], ev: Event) -> None:
        self.finished = True
        self.finish_reason = d.get("reason", "")
        self.active_seconds = self.wall_seconds()
        self.session_start = None


def fold(events: Iterable[Event]) -> RunState:
    state = RunState()
    for ev in events:
        state.apply(ev)
    return state


# The fold's dispatch, by event kind: built once, since apply runs for every line of a long log.
_HANDLERS: dict[str, Callable[[RunState, dict[str, Any], Event], None]] = {
    name[len("_on_") :]: fn for name, fn in vars(RunState).items() if name.startswith("_on_")
}
