"""The rules on their own: pure functions of the org and a state folded from a few events."""

from __future__ import annotations

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
