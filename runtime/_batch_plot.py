"""batch.png: the best-so-far metric of every arm of a batch, over experiments, mean ± SEM across
seeds (left), and each arm against the first one paired by seed (right: how much better the first
arm's best is, seed by seed, mean ± SEM; above zero the first arm leads).

The best so far is the incumbent's metric after each candidate — what the run would hand over at
that point — with the baseline before the first keep. A run that stopped early holds its last
value to the longest run's length. Drawn with matplotlib's object API on an Agg canvas, so a host
program's pyplot state is left alone. It does not draw failed runs or confirmation reruns.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from ..org import Metric
from .core.confirm import sem
from .report import RunSummary


def best_so_far(s: RunSummary) -> list[float]:
    """The best kept metric after each candidate, in the order the candidates started (a keep
    decided before an earlier candidate's can be the worse of the two)."""
    current = s.baseline
    steps = {e.id: e.metric for e in s.records}
    out: list[float] = []
    for e in s.state.candidates():
        current = steps.get(e.id, current)
        if current is not None:
            out.append(current)
    return out


def _band(curves: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Mean and SEM at each x over curves padded with their last value."""
    n = max(len(c) for c in curves)
    padded = [list(c) + [c[-1]] * (n - len(c)) for c in curves if c]
    means, sems = [], []
    for i in range(n):
        xs = [c[i] for c in padded]
        means.append(statistics.fmean(xs))
        sems.append(sem(xs) or 0.0)
    return means, sems


def draw_batch(
    arms: dict[str, dict[int, RunSummary]], metric: Metric, path: Path, title: str = ""
) -> None:
    """`arms[label][seed]` the runs that finished; write the two panels to `path` as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5), dpi=110)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    curves = {a: {s: best_so_far(r) for s, r in runs.items()} for a, runs in arms.items()}
    curves = {a: {s: c for s, c in cs.items() if c} for a, cs in curves.items()}
    first = next(iter(curves), "")
    for label, by_seed in curves.items():
        if not by_seed:
            continue
        mean, sem = _band(list(by_seed.values()))
        xs = list(range(1, len(mean) + 1))
        (line,) = left.plot(xs, mean, label=f"{label} (n={len(by_seed)})", lw=1.8)
        lo = [m - e for m, e in zip(mean, sem, strict=True)]
        hi = [m + e for m, e in zip(mean, sem, strict=True)]
        left.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
        seeds = sorted(set(by_seed) & set(curves.get(first, {})))
        if label == first or not seeds:
            continue
        lead = []
        for s in seeds:
            a, b = curves[first][s], by_seed[s]
            n = max(len(a), len(b))
            a, b = a + [a[-1]] * (n - len(a)), b + [b[-1]] * (n - len(b))
            lead.append([metric.gain(x, y) for x, y in zip(a, b, strict=True)])
        mean, sem = _band(lead)
        xs = list(range(1, len(mean) + 1))
        right.plot(xs, mean, color=line.get_color(), lw=1.8, label=f"{first} vs {label}")
        lo = [m - e for m, e in zip(mean, sem, strict=True)]
        hi = [m + e for m, e in zip(mean, sem, strict=True)]
        right.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
    if metric.bound is not None:
        left.axhline(metric.bound, ls="--", c="black", lw=1, label=f"bound {metric.bound:g}")
    better = "lower" if metric.goal == "minimize" else "higher"
    left.set(xlabel="experiment #", ylabel=f"best {metric.name} so far ({better} is better)")
    left.set_title("best so far, mean ± SEM over seeds")
    right.axhline(0.0, c="black", lw=1)
    right.set(xlabel="experiment #", ylabel=f"{first}'s lead in {metric.name} (above 0: ahead)")
    right.set_title("paired by seed, mean ± SEM")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png")


__all__ = ["best_so_far", "draw_batch"]
