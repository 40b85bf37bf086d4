"""The fold on its own, over generated event sequences: the turn transaction as the state sees it.

A small model of a run generates the events — people send messages, turns start on pending
messages, some complete (producing messages of their own), some are cut off by a crash and the
run resumes — and records what should be pending. The fold must agree with that model at every
prefix of the log, fold a prefix to the state the whole fold had at that point, and forget every
turn that never completed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orgloop.runtime.core.events import Event
from orgloop.runtime.core.state import RunState, fold

ROLES = ("pi", "engineer", "critic")


@dataclass
class Model:
    """What a run's log says, built alongside it: the facts the fold must reproduce."""

    events: list[Event] = field(default_factory=list)
    deliverable: list[str] = field(default_factory=list)
    consumed: set[str] = field(default_factory=set)
    open_turns: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    """turn -> (message it handles, messages it sent so far), for turns not yet completed."""

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append(Event(len(self.events), float(len(self.events)), kind, data))

    def send(self, receiver: str, turn: str | None) -> str:
        mid = f"m{len(self.events)}"
        message = {"id": mid, "sender": "human", "receiver": receiver, "kind": "note"}
        self.emit("message_sent", {**message, "body": "", "data": {}, "turn": turn})
        if turn is None:
            self.deliverable.append(mid)
        return mid

    def pending(self) -> list[str]:
        """Delivered and not consumed, in delivery order (a message a turn is handling is
        still pending: only that turn's completion consumes it)."""
        return [m for m in self.deliverable if m not in self.consumed]

    def free(self) -> list[str]:
        busy = {m for m, _ in self.open_turns.values()}
        return [m for m in self.pending() if m not in busy]

    def apply(self, step: tuple[str, int]) -> None:
        action, n = step
        if action == "send":
            self.send(ROLES[n % len(ROLES)], None)
        elif action == "start" and self.free():
            mid = self.free()[n % len(self.free())]
            turn = f"t{len(self.events)}"
            self.emit("turn_started", {"turn": turn, "role": "pi", "message": mid, "slot": None})
            self.open_turns[turn] = (mid, [])
        elif action == "produce" and self.open_turns:
            turn = sorted(self.open_turns)[n % len(self.open_turns)]
            self.open_turns[turn][1].append(self.send(ROLES[n % len(ROLES)], turn))
        elif action == "complete" and self.open_turns:
            turn = sorted(self.open_turns)[n % len(self.open_turns)]
            mid, produced = self.open_turns.pop(turn)
            data = {"turn": turn, "role": "pi", "message": mid, "produced": produced}
            self.emit("turn_completed", data)
            self.consumed.add(mid)
            self.deliverable += produced
        elif action == "crash":
            self.open_turns.clear()  # their messages pend again; what they sent never delivers
            self.emit("run_resumed", {"brain": "test", "pending": len(self.pending())})


steps = st.lists(
    st.tuples(
        st.sampled_from(["send", "start", "produce", "complete", "crash"]), st.integers(0, 9)
    ),
    max_size=60,
)


def model_of(plan: list[tuple[str, int]]) -> Model:
    model = Model()
    model.emit("run_started", {"run_id": "r", "branch": "b", "base": "c0"})
    for step in plan:
        model.apply(step)
    return model


@settings(max_examples=150, deadline=None)
@given(steps)
def test_pending_is_what_completed_turns_left(plan: list[tuple[str, int]]) -> None:
    model = model_of(plan)
    state = fold(model.events)
    assert list(state.pending) == model.pending()
    assert set(state.running) == set(model.open_turns)


@settings(max_examples=100, deadline=None)
@given(steps)
def test_a_prefix_folds_to_the_state_at_that_point(plan: list[tuple[str, int]]) -> None:
    events = model_of(plan).events
    live = RunState()
    for n, ev in enumerate(events, start=1):
        live.apply(ev)
        if n % 7 == 0 or n == len(events):
            assert fold(events[:n]) == live


@settings(max_examples=100, deadline=None)
@given(steps)
def test_an_uncompleted_turn_is_forgotten_on_resume(plan: list[tuple[str, int]]) -> None:
    model = model_of(plan)
    sent_by_open = {m for _, produced in model.open_turns.values() for m in produced}
    handled = {m for m, _ in model.open_turns.values()}
    model.apply(("crash", 0))
    state = fold(model.events)
    assert state.running == {}
    assert handled <= set(state.pending)  # delivered again, to a clean slate
    assert not sent_by_open & set(state.pending)  # what the dead turn sent never arrives


def test_a_message_is_consumed_once_and_counts_its_edge_once() -> None:
    model = model_of([("send", 0), ("start", 0), ("produce", 1), ("complete", 0)])
    state = fold(model.events)
    assert state.role_turns["pi"] == 1
    assert state.visits[("human", "engineer", "note")] == 1
    assert state.visits[("human", "pi", "note")] == 1
