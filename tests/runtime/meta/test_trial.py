"""The paired trial on its own: arms by turn, pairs by order, the margin, and the verdict."""

from __future__ import annotations

from typing import Any

import pytest

from orgloop.org import Metric
from orgloop.runtime.core.events import Event
from orgloop.runtime.core.state import RunState, fold
from orgloop.runtime.meta import trial

MIN = Metric("val_bpb", "minimize")
EDIT = {"generation": 1, "author": "meta", "role": "engineer", "file": "roles/engineer.md",
        "commit": "c1", "turns": 3}  # fmt: skip


def state(runs: list[tuple[str, str, float | None]], *, judged: bool = False) -> RunState:
    """A run with the edit on trial and candidates (arm, status, metric) in that order."""
    items: list[tuple[str, dict[str, Any]]] = [
        ("run_started", {"run_id": "r", "branch": "b", "base": "c0"}),
        ("org_edited", EDIT),
    ]
    for i, (arm, status, metric) in enumerate(runs, start=2):
        tag = {"generation": 1, "arm": arm} if arm else {}
        items.append(
            ("experiment_started", {"id": f"e{i}", "turn": "t", "message": "m", "arm": tag})
        )
        items.append(("experiment_finished", {"id": f"e{i}", "status": status, "metric": metric}))
    if judged:
        items.append(("org_trial", {"generation": 1, "verdict": "kept", "commit": "k1"}))
    return fold(Event(n, float(n), kind, data) for n, (kind, data) in enumerate(items))


def judge(
    s: RunState, per_arm: int = 3, floor: float = 0.0, final: bool = False
) -> trial.Verdict | None:
    edit = trial.open_edit(s)
    assert edit is not None
    return trial.judge(s, edit, MIN, per_arm=per_arm, floor=floor, final=final)


def test_turns_alternate_from_the_edit_on_edited_first() -> None:
    assert [trial.arm_of(EDIT, n) for n in (3, 4, 5, 6)] == ["edited", "previous"] * 2


def test_the_trial_waits_for_its_pairs_then_pairs_them_in_order() -> None:
    runs = [("edited", "ok", 1.0), ("previous", "ok", 1.2), ("edited", "ok", 1.1),
            ("previous", "ok", 1.2), ("", "ok", 0.1), ("edited", "ok", 1.0)]  # fmt: skip
    assert judge(state(runs)) is None  # the previous arm has two of three
    v = judge(state([*runs, ("previous", "ok", 1.3)]))
    assert v is not None and v.pairs == 3
    assert v.edited.experiments == ("e2", "e4", "e7") and v.previous.experiments == (
        "e3",
        "e5",
        "e8",
    )
    assert v.gain == pytest.approx((0.2 + 0.1 + 0.3) / 3)  # e6 is no arm's
    assert v.sem == pytest.approx(0.0577350, rel=1e-4)
    assert v.keep and v.margin == v.sem
    assert v.to_event()["verdict"] == "kept" and "beats the noise margin" in v.reason()


def test_a_gain_within_one_standard_error_is_not_kept() -> None:
    runs = [("edited", "ok", 1.0), ("previous", "ok", 1.3), ("edited", "ok", 1.3),
            ("previous", "ok", 1.1)]  # fmt: skip
    v = judge(state(runs), per_arm=2)
    assert v is not None and v.gain == pytest.approx(0.05) and not v.keep
    assert "does not beat" in v.reason()


def test_the_floor_is_the_least_margin() -> None:
    runs = [("edited", "ok", 1.0), ("previous", "ok", 1.01), ("edited", "ok", 1.0),
            ("previous", "ok", 1.01)]  # fmt: skip
    assert judge(state(runs), per_arm=2).keep  # type: ignore[union-attr]  # sem 0
    assert not judge(state(runs), per_arm=2, floor=0.05).keep  # type: ignore[union-attr]


def test_a_failed_run_scores_as_the_worst_of_the_trial() -> None:
    runs = [("edited", "crash", None), ("previous", "ok", 1.0), ("edited", "crash", None),
            ("previous", "ok", 1.1)]  # fmt: skip
    v = judge(state(runs), per_arm=2)
    assert v is not None and v.edited.scores == (1.1, 1.1) and v.gain < 0 and not v.keep


def test_fewer_than_two_pairs_at_the_end_prove_nothing() -> None:
    v = judge(state([("edited", "ok", 0.5), ("previous", "ok", 2.0)]), final=True)
    assert v is not None and v.pairs == 1 and not v.keep and "too few" in v.reason()


def test_a_judged_edit_is_no_longer_on_trial() -> None:
    s = state([("edited", "ok", 1.0)], judged=True)
    assert trial.open_edit(s) is None and s.incumbent == "k1"
    assert trial.inherited(None, {"arm": {"generation": 1, "arm": "edited"}}) is None
    assert trial.inherited(EDIT, {"arm": {"generation": 2, "arm": "edited"}}) is None
