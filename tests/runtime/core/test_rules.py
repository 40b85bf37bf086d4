"""The rules on their own: pure functions of the org and a state folded from a few events."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orgloop.org import Org, load_org
from orgloop.runtime.core import rules
from orgloop.runtime.core.events import Event
from orgloop.runtime.core.state import RunState, fold
from orgloop.runtime.scaffold import init_org


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    return load_org(init_org(tmp_path_factory.mktemp("rules") / "org"))


class Log:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.add("run_started", run_id="r", branch="b", base="c0")

    def add(self, event: str, /, **data: Any) -> Log:
        self.events.append(Event(len(self.events), float(len(self.events)), event, data))
        return self

    def message(self, sender: str, receiver: str, kind: str, **data: Any) -> Log:
        mid = f"m{len(self.events)}"
        return self.add(
            "message_sent",
            id=mid,
            sender=sender,
            receiver=receiver,
            kind=kind,
            body="",
            data=data,
            turn=None,
        )

    def experiment(self, exp: str, status: str, metric: float | None, baseline: bool) -> Log:
        self.add("experiment_started", id=exp, turn="t", message="m", baseline=baseline)
        return self.add("experiment_finished", id=exp, status=status, metric=metric)

    def state(self) -> RunState:
        return fold(self.events)


def baselined(*metrics: float) -> Log:
    log = Log()
    for i, m in enumerate(metrics):
        log.experiment(f"e{i + 1}", "ok", m, baseline=True)
    return log


def test_the_experiment_budget_refuses_the_next_send(org: Org) -> None:
    log = Log()
    budget = org.program.budget.experiments
    engineer = org.roles["engineer"]
    for _ in range(budget - 1):
        log.message("engineer", "trainer", "experiment")
    state = log.state()
    assert rules.refuse_send(org, state, engineer, "experiment", "trainer", []) == ""
    queued = [{"receiver": "trainer", "kind": "experiment"}]
    refusal = rules.refuse_send(org, state, engineer, "experiment", "trainer", queued)
    assert refusal.startswith("experiment budget spent")


def test_an_edge_at_its_max_is_refused(org: Org) -> None:
    engineer = org.roles["engineer"]
    limit = next(s.max for s in engineer.sends if s.kind == "question")
    assert limit is not None
    log = Log()
    for _ in range(limit):
        log.message("engineer", "pi", "question")
    refusal = rules.refuse_send(org, log.state(), engineer, "question", "pi", [])
    assert f"at its limit of {limit}" in refusal


def test_keep_is_refused_within_the_noise_and_allowed_beyond(org: Org) -> None:
    log = baselined(1.00, 1.02, 0.98)  # sigma 0.02: with 2 sigmas a keep needs more than 0.04
    log.experiment("e4", "ok", 0.97, baseline=False).experiment("e5", "ok", 0.90, baseline=False)
    state = log.state()
    margin = rules.keep_margin(org, state)
    assert margin == pytest.approx(0.04)
    assert "not more than the noise margin" in rules.refuse_decision(org, state, "e4", "keep", [])
    assert rules.refuse_decision(org, state, "e5", "keep", []) == ""
    assert rules.refuse_decision(org, state, "e4", "discard", []) == ""


@pytest.mark.parametrize(
    ("exp", "why"),
    [
        ("e9", "no experiment 'e9'"),
        ("e1", "no experiment 'e1'"),  # a baseline is never decided
        ("e4", "e4 is still running"),
        ("e5", "cannot be kept: its status is crash"),
    ],
)
def test_keep_is_refused_for_what_cannot_be_kept(org: Org, exp: str, why: str) -> None:
    log = baselined(1.0, 1.0)
    log.add("experiment_started", id="e4", turn="t", message="m", baseline=False)
    log.experiment("e5", "crash", None, baseline=False)
    assert why in rules.refuse_decision(org, log.state(), exp, "keep", [])


def test_a_decided_experiment_is_not_decided_again(org: Org) -> None:
    log = baselined(1.0, 1.0).experiment("e3", "ok", 0.5, baseline=False)
    pending = [{"experiment": "e3", "verdict": "discard"}]
    assert "already decided" in rules.refuse_decision(org, log.state(), "e3", "keep", pending)
    log.add("decision", experiment="e3", verdict="discard", commit="")
    assert "already decided" in rules.refuse_decision(org, log.state(), "e3", "keep", [])


def test_spent_budgets_and_those_a_brain_declared(org: Org) -> None:
    log = Log().add("llm_call", input_tokens=10, output_tokens=5, usd=0.0)
    state = log.state()
    assert rules.spent(org, state, now=state.last_t) == []
    log.add("budget_exhausted", budget="usd")
    assert rules.spent(org, log.state(), now=0.0) == ["usd"]
    wall = org.program.budget.wall
    assert wall is not None
    assert "wall" in rules.spent(org, log.state(), now=wall + 10)


def test_who_may_edit_what(org: Org) -> None:
    assert rules.editable_for(org, org.roles["meta"]) == org.program.meta.editable
    assert rules.editable_for(org, org.roles["engineer"]) == org.program.experiment.editable
    assert rules.protected(org) == (*org.program.experiment.protected, "ORG.md")
    assert Path(org.root, "prepare.py").exists()


# ---- no change twice from the same incumbent
def sent_change(log: Log, files: dict[str, str], base: str = "c0", body: str = "LR 1 -> 2") -> str:
    mid = f"m{len(log.events)}"
    log.add("message_sent", id=mid, sender="engineer", receiver="trainer", kind="experiment",
            body=body, data={"files": files, "base": base}, turn=None)  # fmt: skip
    return mid


def ran(log: Log, exp: str, mid: str, metric: float | None, verdict: str = "") -> None:
    log.add("experiment_started", id=exp, turn="t", message=mid, baseline=False,
            description="LR 1 -> 2", base="c0")  # fmt: skip
    if metric is not None or verdict:
        status = "ok" if metric is not None else "crash"
        log.add("experiment_finished", id=exp, status=status, metric=metric)
    if verdict:
        log.add("decision", experiment=exp, verdict=verdict, commit="")


def test_a_change_already_measured_from_the_same_incumbent_is_refused(org: Org) -> None:
    log = baselined(2.0)
    ran(log, "e2", sent_change(log, {"train.py": "LR = 2\n"}), 1.875, "discard")
    why = rules.refuse_repeat(org, log.state(), "c0", {"train.py": "LR = 2\n"}, [])
    assert "repeats e2 (LR 1 -> 2)" in why and "val_bpb 1.875000 (discard)" in why


def test_a_change_still_running_or_queued_is_refused(org: Org) -> None:
    log = baselined(2.0)
    ran(log, "e2", sent_change(log, {"train.py": "A\n"}), None)
    sent_change(log, {"train.py": "B\n"}, body="LR 1 -> 3")
    state = log.state()
    assert "repeats e2" in rules.refuse_repeat(org, state, "c0", {"train.py": "A\n"}, [])
    assert "still running" in rules.refuse_repeat(org, state, "c0", {"train.py": "A\n"}, [])
    assert "'LR 1 -> 3'" in rules.refuse_repeat(org, state, "c0", {"train.py": "B\n"}, [])


def test_the_same_change_from_another_incumbent_or_a_new_change_may_go(org: Org) -> None:
    log = baselined(2.0)
    ran(log, "e2", sent_change(log, {"train.py": "LR = 2\n"}), 1.5, "keep")
    state = log.state()
    assert rules.refuse_repeat(org, state, "c9", {"train.py": "LR = 2\n"}, []) == ""
    assert rules.refuse_repeat(org, state, "c0", {"train.py": "LR = 3\n"}, []) == ""


def test_a_change_sent_twice_in_one_turn_is_refused(org: Org) -> None:
    pending = [{"kind": "experiment", "receiver": "trainer", "body": "x",
                "data": {"files": {"train.py": "A\n"}, "base": "c0"}}]  # fmt: skip
    why = rules.refuse_repeat(org, baselined(2.0).state(), "c0", {"train.py": "A\n"}, pending)
    assert "already sent this turn" in why


def test_a_message_of_a_turn_that_never_completed_is_not_a_repeat(org: Org) -> None:
    log = baselined(2.0)
    log.add("message_sent", id="m99", sender="engineer", receiver="trainer", kind="experiment",
            body="x", data={"files": {"train.py": "A\n"}, "base": "c0"}, turn="t7")  # fmt: skip
    assert rules.refuse_repeat(org, log.state(), "c0", {"train.py": "A\n"}, []) == ""


# ---- sends per turn, budgets the roles see, what the engine holds back
def _budget(org: Org, experiments: int | None) -> Org:
    p = org.program
    return replace(org, program=replace(p, budget=replace(p.budget, experiments=experiments)))


def test_a_kind_is_sent_at_most_per_turn_times_in_one_turn(org: Org) -> None:
    org = _budget(org, 100)  # room for every direction: this is about sends per turn
    critic, pi = org.roles["critic"], org.roles["pi"]
    once = [{"receiver": "reviewer", "kind": "checked"}]
    assert rules.refuse_send(org, Log().state(), critic, "checked", "reviewer", []) == ""
    refusal = rules.refuse_send(org, Log().state(), critic, "checked", "reviewer", once)
    assert refusal.startswith("critic sends `checked` at most once a turn")
    many = [{"receiver": "engineer", "kind": "direction"}] * 15
    assert rules.refuse_send(org, Log().state(), pi, "direction", "engineer", many) == ""
    assert "at most 16 times a turn" in rules.refuse_send(
        org, Log().state(), pi, "direction", "engineer", [*many, many[0]]
    )


def spent_budget(org: Org) -> RunState:
    log = Log()
    for _ in range(org.program.budget.experiments):
        log.message("engineer", "trainer", "experiment")
    return log.state()


def test_once_the_experiments_are_spent_no_direction_is_sent_or_delivered(org: Org) -> None:
    state = spent_budget(org)
    refusal = rules.refuse_send(org, state, org.roles["pi"], "direction", "engineer", [])
    assert "no experiment can come of a `direction` to engineer" in refusal
    assert rules.held(org, state, org.roles["engineer"]) == "experiment budget spent"
    for role in ("pi", "critic", "reviewer", "meta", "trainer"):  # results are still judged
        assert rules.held(org, state, org.roles[role]) == "", role
    assert rules.held(org, Log().state(), org.roles["engineer"]) == ""


def test_a_role_whose_own_budget_is_spent_is_held(org: Org) -> None:
    from dataclasses import replace

    from orgloop.org import RoleBudget

    critic = replace(org.roles["critic"], budget=RoleBudget(usd=0.5))
    calls = Log().add("llm_call", role="critic", input_tokens=10, output_tokens=5, usd=0.3)
    assert rules.role_spent(org, calls.state(), critic) == []
    calls.add("llm_call", role="critic", input_tokens=10, output_tokens=5, usd=0.3)
    assert rules.role_spent(org, calls.state(), critic) == ["usd"]
    assert rules.held(org, calls.state(), critic) == "critic's usd budget spent"
    declared = Log().add("budget_exhausted", budget="tokens", role="critic", scope="role")
    assert rules.role_spent(org, declared.state(), critic) == ["tokens"]
    assert declared.state().exhausted == []  # a role's budget is not the run's


def test_the_budget_left_is_said_in_words(org: Org) -> None:
    log = Log().add("llm_call", role="pi", input_tokens=1000, output_tokens=200, usd=0.75)
    log.message("engineer", "trainer", "experiment")
    b = org.program.budget
    text = rules.budget_left(org, log.state(), org.roles["pi"], now=600.0)
    assert text == (
        f"{b.experiments - 1} of {b.experiments} experiments, $4.25 of $5.00, "
        f"{b.tokens - 1200:,} of {b.tokens:,} tokens, 5m00s of 15m00s"
    )


def test_a_drained_run_says_why_it_ended(org: Org) -> None:
    assert rules.drained(org, spent_budget(org)) == "experiment budget spent"
    nothing = Log().add("turn_undone", role="pi", reason="the model refused twice")
    assert rules.drained(org, nothing.state()) == (
        "stalled: no experiment ran (pi: the model refused twice)"
    )
    ran = Log().experiment("e2", "ok", 1.0, baseline=False)
    assert rules.drained(org, ran.state()) == "nothing left to deliver"


def test_directions_past_what_the_budget_leaves_are_refused(org: Org) -> None:
    org, pi = _budget(org, 3), org.roles["pi"]
    log = baselined(2.0)
    sent_change(log, {"train.py": "LR = 2\n"})  # one experiment sent: two left
    direction = {"receiver": "engineer", "kind": "direction"}
    state = log.state()
    assert rules.uncovered(org, state) == 2
    assert rules.refuse_send(org, state, pi, "direction", "engineer", [direction]) == ""
    why = rules.refuse_send(org, state, pi, "direction", "engineer", [direction] * 2)
    assert why.startswith("the experiment budget is covered: 1 of 3 sent")
    # a replica's directions in flight count too
    why = rules.refuse_send(org, state, pi, "direction", "engineer", [direction], [direction])
    assert why.startswith("the experiment budget is covered")


def test_a_direction_waits_while_turns_in_flight_cover_the_budget(org: Org) -> None:
    org = _budget(org, 2)
    log = baselined(2.0)
    sent_change(log, {"train.py": "LR = 2\n"})
    for mid in ("m90", "m91"):
        log.add("message_sent", id=mid, sender="pi", receiver="engineer", kind="direction",
                body="d", data={}, turn=None)  # fmt: skip
    engineer = org.roles["engineer"]
    assert rules.held(org, log.state(), engineer) == ""
    log.add("turn_started", turn="t90", role="engineer", message="m90", slot=None)
    assert "covered" in rules.held(org, log.state(), engineer)


def test_a_change_another_turn_is_proposing_is_refused(org: Org) -> None:
    other = [{"kind": "experiment", "receiver": "trainer", "body": "LR 1 -> 2",
              "data": {"files": {"train.py": "A\n"}, "base": "c0"}}]  # fmt: skip
    state = baselined(2.0).state()
    why = rules.refuse_repeat(org, state, "c0", {"train.py": "A\n"}, [], other)
    assert "being proposed by another turn right now ('LR 1 -> 2')" in why
    assert rules.refuse_repeat(org, state, "c0", {"train.py": "B\n"}, [], other) == ""
