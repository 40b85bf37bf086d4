"""Confirmation: before a run ends, the best candidate and the baseline run again on fresh seeds,
and the win is stated as it replicates (paired by seed), as pure functions of the org and state.

A keep beat the incumbent by more than the noise of a few baseline runs; a run that keeps many
changes picks the luckiest of many draws, so its best is biased. `requests` asks for
`experiment.confirm` reruns of each (the best as kept, the baseline as the run started), seed by
seed, on seeds no experiment of the run used (baseline run i used ORGLOOP_SEED=first_seed+i, the
candidates first_seed: `RunState.first_seed`).
`confirmation` reads them back: per seed the gain of the best over the baseline, its mean and
standard error, and whether the win replicates — the mean gain is above zero by more than one
standard error. The headline "gap closed" is then the confirmed gain over the gap from the
confirmed baseline to the bound.

What it does not do: rerun anything itself (the engine sends the requests when the run would end
and nothing else is left to deliver), confirm a run that kept nothing (there is no win), or
rerun each keep (a bench can: bench/research.py).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...org import Metric, Org
from .state import OK, RunState


def sem(values: Iterable[float | None]) -> float | None:
    """Standard error of the mean; None for fewer than two values (a None value is left out)."""
    xs = [float(v) for v in values if v is not None]
    return statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) >= 2 else None


@dataclass(frozen=True)
class Confirmation:
    """The reruns of one run: the experiment confirmed, and per seed the best's and the
    baseline's metric (None where that rerun failed)."""

    experiment: str
    seeds: tuple[int, ...]
    best: tuple[float | None, ...]
    baseline: tuple[float | None, ...]
    metric: Metric
    pending: int = 0
    """Reruns asked for and not finished (the run was cut short)."""

    @property
    def deltas(self) -> list[float]:
        """Per seed where both measured: how much the best improves on the baseline."""
        return [
            self.metric.gain(b, a)
            for a, b in zip(self.baseline, self.best, strict=True)
            if a is not None and b is not None
        ]

    @property
    def delta(self) -> float | None:
        d = self.deltas
        return statistics.fmean(d) if d else None

    @property
    def sem(self) -> float | None:
        d = self.deltas
        return sem(d)

    @property
    def replicates(self) -> bool:
        """The mean gain is above zero by more than one standard error (two seeds at least)."""
        return self.delta is not None and self.sem is not None and self.delta > self.sem

    @property
    def baseline_mean(self) -> float | None:
        xs = [x for x in self.baseline if x is not None]
        return statistics.fmean(xs) if xs else None

    @property
    def best_mean(self) -> float | None:
        xs = [x for x in self.best if x is not None]
        return statistics.fmean(xs) if xs else None

    def gap_closed(self) -> float | None:
        """The confirmed gain as a share of the gap from the confirmed baseline to the bound."""
        base, delta, bound = self.baseline_mean, self.delta, self.metric.bound
        if base is None or delta is None or bound is None:
            return None
        gap = self.metric.gain(bound, base)
        return delta / gap if gap > 0 else None

    def line(self) -> str:
        """One line: `Δ +0.123456 ± 0.004000 over 3 fresh seeds: replicates`."""
        n = len(self.deltas)
        if self.delta is None:
            return (
                "not confirmed: no seed measured both the best and the baseline "
                f"({self.pending} pending)"
            )
        sem = f" ± {self.sem:.6f}" if self.sem is not None else ""
        verdict = "replicates" if self.replicates else "does not replicate"
        return f"Δ {self.delta:+.6f}{sem} over {n} fresh seed{'s' if n != 1 else ''}: {verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "seeds": list(self.seeds),
            "best": list(self.best),
            "baseline": list(self.baseline),
            "delta": self.delta,
            "sem": self.sem,
            "replicates": self.replicates,
            "gap_closed": self.gap_closed(),
        }


def requests(org: Org, state: RunState) -> list[tuple[str, dict[str, Any]]]:
    """The reruns to send now, as (body, data) of `experiment` messages: `experiment.confirm` of
    the best kept candidate and as many of the baseline, paired by seed; [] when confirmation is
    off, nothing was kept, or they were sent already."""
    n = org.program.experiment.confirm
    best = state.experiments.get(state.incumbent_exp)
    if n <= 0 or best is None or best.baseline or best.decision != "keep":
        return []
    if any(m.data.get("confirm") for m in state.messages.values()):
        return []
    # the baselines measured the noise on first_seed .. first_seed + runs - 1
    first = state.first_seed + org.program.experiment.baseline_runs
    base = str(state.config.get("base", ""))
    out: list[tuple[str, dict[str, Any]]] = []
    for seed in range(first, first + n):
        common = {"files": {}, "seed": seed, "of": best.id}
        out.append(
            (
                f"confirm {best.id} on seed {seed}",
                {**common, "confirm": "best", "base": best.branch_commit},
            )
        )
        out.append(
            (
                f"confirm the baseline on seed {seed}",
                {**common, "confirm": "baseline", "base": base},
            )
        )
    return out


def confirmation(state: RunState, metric: Metric) -> Confirmation | None:
    """The reruns read back, paired by seed; None when none was asked for."""
    runs: dict[int, dict[str, float | None]] = {}
    of = ""
    pending = 0
    started = {e.message: e for e in state.experiments.values()}
    for mid, msg in state.messages.items():
        role = msg.data.get("confirm")
        if msg.kind != "experiment" or role not in ("best", "baseline"):
            continue
        of = str(msg.data.get("of", of))
        seed = int(msg.data.get("seed", 0))
        exp = started.get(mid)
        if exp is None or not exp.finished:
            pending += 1
            continue
        ok = exp.status == OK and exp.metric is not None
        runs.setdefault(seed, {})[str(role)] = exp.metric if ok else None
    if not runs and not pending:
        return None
    seeds = tuple(sorted(runs))
    return Confirmation(
        experiment=of,
        seeds=seeds,
        best=tuple(runs[s].get("best") for s in seeds),
        baseline=tuple(runs[s].get("baseline") for s in seeds),
        metric=metric,
        pending=pending,
    )


__all__ = ["Confirmation", "confirmation", "requests"]
