"""The metric plot: every measured experiment as a dot, the incumbent as a step line, the task's
bound as a dashed line, drawn with braille characters (2×4 dots a cell).

x is the experiment's place in start order (failed ones keep their place, with no dot); y is the
metric, higher up. Dots are coloured by what became of them: kept, discarded, baseline, or not yet
decided. The series is kept per experiment and updated only for the experiments that changed;
drawing is a few numpy passes over it plus one pass per pixel column, so thousands of experiments
cost about what ten do. It draws what fits its size and nothing else: no ticks beyond the range,
one line of legend, no plotting library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
from rich.text import Text
from textual.widget import Widget

from ._feed import Feed
from ._format import metric

LAYERS = ("keep", "baseline", "discard", "undecided", "incumbent", "bound")
"""Layers in the order a cell's colour is chosen: the first one present in the cell wins."""
LAYER_STYLE = {
    "keep": "bold green",
    "baseline": "cyan",
    "discard": "red",
    "undecided": "yellow",
    "incumbent": "bright_white",
    "bound": "blue",
}
NONE = len(LAYERS)
_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
"""Braille dot bits by (row within the cell, column within the cell)."""
_MARKER = (0x01 | 0x08 | 0x02 | 0x10, 0x04 | 0x20 | 0x40 | 0x80)
"""A marker fills the top or the bottom half of a cell: 2×2 dots, because one dot is too faint."""

IntArray = npt.NDArray[np.int64]


class Canvas:
    """A grid of braille cells addressed by dot: (0, 0) is the top left dot."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.width, self.height = cols * 2, rows * 4
        self.bits: IntArray = np.zeros((rows, cols), dtype=np.int64)
        self.layer: IntArray = np.full((rows, cols), NONE, dtype=np.int64)

    def dots(self, x: IntArray, y: IntArray, layer: str) -> None:
        keep = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
        x, y = x[keep], y[keep]
        cell = (y // 4, x // 2)
        np.bitwise_or.at(self.bits, cell, _BITS[y % 4, x % 2])
        np.minimum.at(self.layer, cell, LAYERS.index(layer))

    def markers(self, x: IntArray, y: IntArray, layers: IntArray) -> None:
        y = np.clip(y, 0, self.height - 1)
        x = np.clip(x, 0, self.width - 1)
        cell = (y // 4, x // 2)
        np.bitwise_or.at(self.bits, cell, np.where(y % 4 < 2, _MARKER[0], _MARKER[1]))
        np.minimum.at(self.layer, cell, layers)

    def lines(self) -> list[Text]:
        out = []
        for bits, layers in zip(self.bits.tolist(), self.layer.tolist(), strict=True):
            line = Text()
            for b, layer in zip(bits, layers, strict=True):
                line.append(chr(0x2800 + b) if b else " ", LAYER_STYLE[LAYERS[layer]] if b else "")
            out.append(line)
        return out


class Series:
    """Per experiment in start order: its metric, its layer and the incumbent after it."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.metric: list[float] = []
        """NaN where there is none (running, or failed)."""
        self.layer: list[int] = []
        self.best: list[float] = []
        self.failed: set[str] = set()
        """Finished experiments with no metric (crash, timeout, …)."""

    def update(self, feed: Feed, changed: Iterable[str]) -> None:
        for exp_id in changed:
            e = feed.state.experiments[exp_id]
            i = self.index.get(exp_id)
            if i is None:
                i = self.index[exp_id] = len(self.ids)
                self.ids.append(exp_id)
                self.metric.append(np.nan)
                self.layer.append(NONE)
                self.best.append(np.nan)
            self.metric[i] = np.nan if e.metric is None else e.metric
            if e.baseline:
                layer = "baseline"
            else:
                layer = {"keep": "keep", "discard": "discard"}.get(e.decision, "undecided")
            self.layer[i] = LAYERS.index(layer)
            best = feed.best_after.get(exp_id)
            self.best[i] = np.nan if best is None else best
            if e.finished and e.metric is None:
                self.failed.add(exp_id)


def _legend(feed: Feed, bound: float | None, failed: int) -> Text:
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(f"{feed.metric.get('name', 'metric')} ({feed.metric.get('goal', 'minimize')})  ")
    head.stylize("bold")
    for layer, label in (("keep", "kept"), ("discard", "discarded"), ("baseline", "baseline")):
        head.append("● ", style=LAYER_STYLE[layer])
        head.append(f"{label}  ")
    head.append("━ incumbent  ", style=LAYER_STYLE["incumbent"])
    if bound is not None:
        head.append(f"┅ bound {metric(bound)}  ", style=LAYER_STYLE["bound"])
    if failed:
        head.append(f"{failed} failed (no dot)", style="red")
    return head


def render_plot(feed: Feed, series: Series, cols: int, rows: int) -> Text:
    raw = feed.metric.get("bound")
    bound: float | None = float(raw) if isinstance(raw, (int, float)) else None
    head = _legend(feed, bound, len(series.failed))
    values = np.array(series.metric, dtype=np.float64)
    best = np.array(series.best, dtype=np.float64)
    measured = ~np.isnan(values)
    axis = 9
    if not measured.any() or cols <= axis + 4 or rows < 3:
        return Text.assemble(head, "\n", Text("No measured experiments yet.", style="dim"))
    pool = np.concatenate([values[measured], best[~np.isnan(best)], [bound] if bound else []])
    lo, hi = float(pool.min()), float(pool.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    canvas = Canvas(cols - axis, rows - 2)
    n = max(1, len(values) - 1)

    def py(v: npt.NDArray[np.float64]) -> IntArray:
        return np.rint((hi - v) / (hi - lo) * (canvas.height - 1)).astype(np.int64)

    xs = np.rint(np.arange(len(values)) * (canvas.width - 1) / n).astype(np.int64)
    if bound is not None:
        x = np.arange(canvas.width, dtype=np.int64)
        x = x[(x // 2) % 2 == 0]
        canvas.dots(x, np.full(len(x), py(np.array([bound]))[0]), "bound")
    _incumbent(canvas, xs, best, py)
    canvas.markers(xs[measured], py(values[measured]), np.array(series.layer)[measured])
    out = Text(no_wrap=True, overflow="crop")
    out.append_text(head)
    out.append("\n")
    lines = canvas.lines()
    for r, line in enumerate(lines):
        label = metric(hi) if r == 0 else metric(lo) if r == len(lines) - 1 else ""
        out.append(f"{label:>{axis - 1}} ", style="dim")
        out.append_text(line)
        out.append("\n")
    first, final = series.ids[0], series.ids[-1]
    gap = max(1, canvas.cols - len(first) - len(final))
    out.append(" " * axis + first + " " * gap + final, style="dim")
    return out


def _incumbent(
    canvas: Canvas,
    xs: IntArray,
    best: npt.NDArray[np.float64],
    py: Callable[[npt.NDArray[np.float64]], IntArray],
) -> None:
    """The incumbent as a step line: flat until an experiment moves it, then a vertical join."""
    known = ~np.isnan(best)
    if not known.any():
        return
    # Per pixel column, the incumbent after the last experiment at or before it.
    last = np.full(canvas.width, -1, dtype=np.int64)
    idx = np.flatnonzero(known)
    last[xs[idx]] = idx  # later experiments overwrite earlier ones in the same column
    last = np.maximum.accumulate(last)
    cols = np.flatnonzero(last >= 0)
    ys: IntArray = py(best[last[cols]])
    canvas.dots(cols, ys, "incumbent")
    jumps = np.flatnonzero(ys[1:] != ys[:-1])
    for j in jumps.tolist():  # one join per change of incumbent: few
        y0, y1 = sorted((int(ys[j]), int(ys[j + 1])))
        span = np.arange(y0, y1 + 1, dtype=np.int64)
        canvas.dots(np.full(len(span), cols[j + 1]), span, "incumbent")


class MetricPlot(Widget):
    """The metric over experiments; call `show(feed, changed)` when experiments changed."""

    DEFAULT_CSS = """
    MetricPlot { height: 14; padding: 0 1; }
    """

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.series = Series()

    def show(self, changed: Iterable[str]) -> None:
        self.series.update(self.feed, changed)
        self.refresh()

    def reset(self) -> None:
        self.series = Series()

    def render(self) -> Text:
        size = self.content_size
        return render_plot(self.feed, self.series, size.width, size.height)
