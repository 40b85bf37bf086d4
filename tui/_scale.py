"""The plot's scales: which range of the metric to show, and where its ticks go.

The range is chosen for the decisions, not for the extremes: it always holds the baseline runs,
the kept experiments and the incumbent after every decision, and of the rest it holds what is
not an outlier (within `SPREAD` robust deviations of the median, the deviation being the median
absolute one scaled to a normal's sigma). One crashed-but-measured run or a bound far below can
therefore no longer squeeze the region where experiments are kept or discarded into a row or two;
what falls outside is drawn on the edge and counted. Ticks are round numbers (1, 2 or 5 times a
power of ten) a few rows apart.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

SPREAD = 6.0
"""Robust deviations from the median past which a measurement is an outlier for the range."""
PAD = 0.06
"""Share of the range added above and below, so no point sits on the frame."""

Floats = npt.NDArray[np.float64]


def value_range(core: Floats, rest: Floats, sample: Floats) -> tuple[float, float]:
    """(low, high) covering every value of `core` and the values of `rest` that are not outliers
    of `sample` (the measurements, each once). All may hold NaN (ignored); `core` or `rest`
    needs a value."""
    core = core[~np.isnan(core)]
    rest = rest[~np.isnan(rest)]
    sample = sample[~np.isnan(sample)]
    everything = np.concatenate([core, rest])
    if everything.size == 0:
        raise ValueError("no values to scale")
    median = float(np.median(sample)) if sample.size else float(np.median(everything))
    deviation = np.abs(sample - median) if sample.size else np.zeros(1)
    scale = float(np.median(deviation)) * 1.4826
    if scale == 0:  # most measurements are equal: the mean deviation still sees the others
        scale = float(np.mean(deviation))
    inliers = rest[np.abs(rest - median) <= SPREAD * scale] if scale > 0 else rest
    shown = np.concatenate([core, inliers]) if core.size or inliers.size else everything
    lo, hi = float(shown.min()), float(shown.max())
    span = hi - lo
    if span <= abs(hi) * 1e-9 or span == 0:
        span = max(abs(hi) * 0.01, 1e-6)
        lo, hi = lo - span / 2, hi + span / 2
    return lo - span * PAD, hi + span * PAD


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2 or 5 × 10^k) that cuts `span` into about `count` pieces."""
    raw = span / max(1, count)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return float(m * power)
    return float(10 * power)


def ticks(lo: float, hi: float, count: int) -> tuple[list[float], float]:
    """Round values between `lo` and `hi`, about `count` of them and never fewer than two, and
    the step between them."""
    if hi <= lo or count < 1:
        return [], 0.0
    step = nice_step(hi - lo, count)
    while True:
        first = math.ceil(lo / step - 1e-9)
        out = [round(k * step, 12) for k in range(first, math.floor(hi / step + 1e-9) + 1)]
        if len(out) >= 2 or step < (hi - lo) * 1e-6:
            return out, step
        step = nice_step(step * 0.9, 2)


def decimals(step: float) -> int:
    """Decimals that tell ticks `step` apart."""
    return max(0, min(6, -math.floor(math.log10(step)))) if step > 0 else 4
