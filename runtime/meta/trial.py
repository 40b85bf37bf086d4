"""Paired trials of meta edits, as pure functions of the run state: which version of a role a turn
runs, which experiments belong to which arm, and whether the edit earned its place.

While an edit is on trial, the role it edited takes turns between the edited file and the version
before it (the `edited` and the `previous` arm), one turn each; a message a turn of either arm
sends carries its arm, and so does every message a turn that handles it sends in turn, down to the
experiments. The trial closes when each arm has `meta.trial` finished experiments (or the budget
leaves no more): the i-th experiment of one arm is paired with the i-th of the other — run side by
side, from nearly the same incumbent — and the edit is kept only if the mean paired gain of the
edited arm is above the measured noise: one standard error of those paired gains, and at least the
reviewer's `min_delta`. A failed run scores as the worst run of the trial. Fewer than two pairs
prove nothing: the edit is reverted.

Why pairs and not windows: improvements shrink as a run goes on, so a window after an edit
improves less than the window before it whatever the edit did; alternating the two versions over
the same stretch of the run compares them under the same conditions.

What it does not do: commit, revert or send anything (the meta desk does), judge human edits, or
run two trials at once (a window does not close while one is open).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from ...org import Metric
from ..core.confirm import sem
from ..core.state import OK, ExperimentRecord, RunState

EDITED, PREVIOUS = "edited", "previous"
PAIRS = 2
"""Fewest pairs of experiments that can tell the two versions apart (a standard error needs two)."""


@dataclass(frozen=True)
class Arm:
    name: str
    experiments: tuple[str, ...]
    scores: tuple[float, ...]
    """The metric of each experiment in the pairs (a failure as the trial's worst)."""

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiments": list(self.experiments),
            "scores": list(self.scores),
            "mean": self.mean,
        }


@dataclass(frozen=True)
class Verdict:
    generation: int
    edited: Arm
    previous: Arm
    gain: float | None
    """Mean paired gain of the edited arm over the previous one (positive: the edit helped)."""
    sem: float | None
    margin: float
    """What the gain had to beat: one standard error of the paired gains, floored."""
    keep: bool

    @property
    def pairs(self) -> int:
        return len(self.edited.scores)

    def reason(self) -> str:
        if self.pairs < PAIRS or self.gain is None:
            return f"{self.pairs} pair(s) of experiments: too few to tell the two versions apart"
        sem = f" ± {self.sem:.6f}" if self.sem is not None else ""
        versus = "beats" if self.keep else "does not beat"
        return (
            f"over {self.pairs} pairs the edited version gains {self.gain:+.6f}{sem} on the "
            f"previous one, which {versus} the noise margin {self.margin:.6f} (edited mean "
            f"{self.edited.mean:.6f}, previous mean {self.previous.mean:.6f})"
        )

    def to_event(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "verdict": "kept" if self.keep else "reverted",
            "edited": self.edited.to_dict(),
            "previous": self.previous.to_dict(),
            "pairs": self.pairs,
            "gain": self.gain,
            "sem": self.sem,
            "margin": self.margin,
            "reason": self.reason(),
        }


def open_edit(state: RunState) -> dict[str, Any] | None:
    """The meta edit on trial: accepted, not reverted, not yet judged."""
    for edit in state.org_edits:
        if edit.get("author") == "meta" and not edit.get("reverted") and "trial" not in edit:
            return edit
    return None


def arm_of(edit: dict[str, Any], role_turns: int) -> str:
    """The arm of the edited role's next turn: they alternate from the edit on, edited first."""
    return EDITED if (role_turns - int(edit.get("turns", 0))) % 2 == 0 else PREVIOUS


def tag(edit: dict[str, Any], arm: str) -> dict[str, Any]:
    return {"generation": edit["generation"], "arm": arm}


def inherited(edit: dict[str, Any] | None, data: dict[str, Any]) -> dict[str, Any] | None:
    """The arm a message carries, if it belongs to the trial that is open."""
    arm = data.get("arm")
    if edit is None or not isinstance(arm, dict) or arm.get("generation") != edit["generation"]:
        return None
    return arm


def _arm(state: RunState, generation: int, name: str) -> list[ExperimentRecord]:
    return [
        e
        for e in state.candidates()
        if e.arm.get("generation") == generation and e.arm.get("arm") == name and e.finished
    ]


def judge(
    state: RunState,
    edit: dict[str, Any],
    metric: Metric,
    *,
    per_arm: int,
    floor: float,
    final: bool,
) -> Verdict | None:
    """The verdict on `edit` once each arm has `per_arm` finished experiments (or, `final`,
    with what there is); None while the trial is still running."""
    gen = int(edit["generation"])
    edited, previous = _arm(state, gen, EDITED), _arm(state, gen, PREVIOUS)
    if min(len(edited), len(previous)) < per_arm and not final:
        return None
    n = min(len(edited), len(previous), per_arm)
    edited, previous = edited[:n], previous[:n]
    measured = [e.metric for e in edited + previous if e.status == OK and e.metric is not None]
    worst = (max if metric.goal == "minimize" else min)(measured) if measured else None

    def score(e: ExperimentRecord) -> float | None:
        return e.metric if e.status == OK and e.metric is not None else worst

    pairs = [(score(a), score(b)) for a, b in zip(edited, previous, strict=True)]
    kept_pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    gains = [metric.gain(a, b) for a, b in kept_pairs]
    gain = statistics.fmean(gains) if gains else None
    spread = sem(gains)
    margin = max(floor, spread or 0.0)
    keep = len(gains) >= PAIRS and gain is not None and gain > margin
    return Verdict(
        generation=gen,
        edited=Arm(EDITED, tuple(e.id for e in edited), tuple(a for a, _ in kept_pairs)),
        previous=Arm(PREVIOUS, tuple(e.id for e in previous), tuple(b for _, b in kept_pairs)),
        gain=gain,
        sem=spread,
        margin=margin,
        keep=keep,
    )


__all__ = [
    "EDITED",
    "PAIRS",
    "PREVIOUS",
    "Arm",
    "Verdict",
    "arm_of",
    "inherited",
    "judge",
    "open_edit",
    "tag",
]
