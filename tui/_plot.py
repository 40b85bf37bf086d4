"""The metric plot: every measured experiment as a dot, the incumbent as a step line, drawn with
braille characters (2×4 dots a cell), on scales a researcher can read decisions from.

x is the experiment's place in start order (failed ones keep their place, with no dot), with
ticks naming experiments; y is the metric with round ticks, over the range `_scale.value_range`
picks: the baselines, the kept experiments and the incumbent always, outliers not (they are drawn
on the edge and counted). The task's bound is a dashed line when it is near that range and a note
in the legend when it is far; outliers sit on the top or bottom edge and the legend counts
them. A cell takes the colour of the most telling thing in it: kept
points, then the incumbent line (so it shows through a crowd of discards), then baselines,
undecided and discarded points. Where there are more experiments than dot columns, points are one
dot each, not a 2×2 marker, so a crowd does not fill every cell, and kept points take the
incumbent's colour (they sit on its steps; in green they would be all the line shows). Org edits
are marked on the x axis (◆ kept, ◇ reverted, ◈ waiting) with a faint line up the plot.

It is focusable: ← → (Home, End) move a cursor from experiment to experiment and the legend
line says what is under it; enter, or a click on a point, asks for it (`MetricPlot.Opened`).
The series is kept per experiment and updated only for the experiments that changed; drawing is
a few numpy passes, so thousands of experiments cost about what ten do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

from ._feed import Feed
from ._format import metric, signed
from ._scale import decimals, nice_step, ticks, value_range

LAYERS = ("keep", "incumbent", "baseline", "undecided", "discard", "bound")
"""Layers in the order a cell's colour is chosen: the first one present in the cell wins."""
LAYER_STYLE = {
    "keep": "bold green",
    "baseline": "cyan",
    "discard": "red",
    "undecided": "yellow",
    "incumbent": "bright_white",
    "bound": "blue",
}
EDIT_MARK = {"kept": ("◆", "magenta"), "reverted": ("◇", "red"), "pending": ("◈", "yellow")}
NONE = len(LAYERS)
_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
"""Braille dot bits by (row within the cell, column within the cell)."""
_MARKER = (0x01 | 0x08 | 0x02 | 0x10, 0x04 | 0x20 | 0x40 | 0x80)
"""A marker fills the top or the bottom half of a cell: 2×2 dots, because one dot is too faint."""
NEAR = 0.5
"""A bound within this share of the range beyond it is drawn (the range grows to hold it)."""

IntArray = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class Canvas:
    """A grid of braille cells addressed by dot: (0, 0) is the top left dot."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.width, self.height = cols * 2, rows * 4
        self.bits: IntArray = np.zeros((rows, cols), dtype=np.int64)
        self.layer: IntArray = np.full((rows, cols), NONE, dtype=np.int64)

    def dots(self, x: IntArray, y: IntArray, layer: str | IntArray) -> None:
        keep = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
        x, y = x[keep], y[keep]
        cell = (y // 4, x // 2)
        np.bitwise_or.at(self.bits, cell, _BITS[y % 4, x % 2])
        layers = np.full(len(x), LAYERS.index(layer)) if isinstance(layer, str) else layer[keep]
        np.minimum.at(self.layer, cell, layers)

    def markers(self, x: IntArray, y: IntArray, layers: IntArray) -> None:
        y = np.clip(y, 0, self.height - 1)
        x = np.clip(x, 0, self.width - 1)
        cell = (y // 4, x // 2)
        np.bitwise_or.at(self.bits, cell, np.where(y % 4 < 2, _MARKER[0], _MARKER[1]))
        np.minimum.at(self.layer, cell, layers)

    def lines(self, marks: dict[int, tuple[str, str]]) -> list[Text]:
        """The cells as text; `marks` (column -> char, style) fills empty cells of a column."""
        out = []
        for bits, layers in zip(self.bits.tolist(), self.layer.tolist(), strict=True):
            line = Text(end="")
            for col, (b, layer) in enumerate(zip(bits, layers, strict=True)):
                if b:
                    line.append(chr(0x2800 + b), LAYER_STYLE[LAYERS[layer]])
                elif col in marks:
                    line.append(*marks[col])
                else:
                    line.append(" ")
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
        self.version = 0
        """Counts updates, so a drawing can be reused until the next."""

    def update(self, feed: Feed, changed: Iterable[str]) -> None:
        self.version += 1
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

    def measured(self) -> list[int]:
        """Indices of the experiments with a metric, in start order."""
        return [i for i, v in enumerate(self.metric) if v == v]


@dataclass(frozen=True)
class Frame:
    """Where things landed in the last drawing: for clicks and for the cursor."""

    axis: int
    """Cells left of the canvas (the y labels)."""
    top: int
    """Rows above the canvas (the legend)."""
    xs: IntArray
    """Each experiment's dot column."""
    ys: IntArray
    """Each experiment's dot row (clipped to the canvas)."""


def _scales(feed: Feed, series: Series) -> tuple[float, float, float | None, bool]:
    """(low, high, bound, whether the bound is drawn)."""
    values = np.array(series.metric, dtype=np.float64)
    layers = np.array(series.layer, dtype=np.int64)
    best = np.array(series.best, dtype=np.float64)
    core_mask = np.isin(layers, [LAYERS.index("keep"), LAYERS.index("baseline")])
    lo, hi = value_range(np.concatenate([values[core_mask], best]), values[~core_mask], values)
    bound = feed.bound
    if bound is None:
        return lo, hi, None, False
    span = hi - lo
    if lo <= bound <= hi:
        return lo, hi, bound, True
    if lo - span * NEAR <= bound < lo:
        return bound - span * 0.05, hi, bound, True
    if hi < bound <= hi + span * NEAR:
        return lo, bound + span * 0.05, bound, True
    return lo, hi, bound, False


def _legend(
    feed: Feed, bound: float | None, drawn: bool, above: int, below: int, failed: int
) -> Text:
    """What the picture leaves out first (a far bound, outliers, failures), then the key: at a
    narrow width the key is what gets cut."""
    head = Text(no_wrap=True, overflow="ellipsis", end="")
    head.append(f"{feed.metric.get('name', 'metric')} ({feed.metric.get('goal', 'minimize')})  ")
    head.stylize("bold")
    if bound is not None and not drawn:
        head.append(f"bound {metric(bound)} off scale {'↓' if feed.minimize else '↑'}  ", "blue")
    if above or below:
        off = "  ".join(f"{n} {w}" for n, w in ((above, "above ↑"), (below, "below ↓")) if n)
        head.append(f"{off}  ", style="yellow")
    if failed:
        head.append(f"{failed} failed (no dot)  ", style="red")
    for layer, label in (("keep", "kept"), ("discard", "discarded"), ("baseline", "baseline")):
        head.append("● ", style=LAYER_STYLE[layer])
        head.append(f"{label}  ")
    head.append("━ incumbent  ", style=LAYER_STYLE["incumbent"])
    if bound is not None and drawn:
        head.append(f"┅ bound {metric(bound)}  ", style=LAYER_STYLE["bound"])
    head.append("◆ org edit", style="magenta")
    return head


def _cursor_line(feed: Feed, exp_id: str) -> Text:
    e = feed.state.experiments[exp_id]
    inc = feed.incumbent_before.get(exp_id)
    delta = e.metric - inc if e.metric is not None and inc is not None and not e.baseline else None
    decision = "baseline" if e.baseline else e.decision or "undecided"
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"▸ {e.id} ", style="bold reverse")
    text.append(f" {feed.metric.get('name', 'metric')} {metric(e.metric)}")
    if delta is not None:
        text.append(f" (Δ {signed(delta)})", style="green" if feed.better(delta) else "red")
    text.append(f"  {decision}  {e.description}")
    text.append("  · enter opens · ← → move", style="dim")
    return text


def render_plot(
    feed: Feed, series: Series, cols: int, rows: int, cursor: int | None = None
) -> tuple[Text, Frame | None]:
    values = np.array(series.metric, dtype=np.float64)
    best = np.array(series.best, dtype=np.float64)
    measured = ~np.isnan(values)
    if not measured.any() or cols < 24 or rows < 5:
        legend = _legend(feed, feed.bound, False, 0, 0, len(series.failed))
        legend.truncate(max(1, cols), overflow="ellipsis")
        return Text.assemble(legend, "\n", Text("No measured experiments yet.", style="dim")), None
    lo, hi, bound, drawn = _scales(feed, series)
    marks, step = ticks(lo, hi, max(3, (rows - 3) // 2))
    places = decimals(step)
    labels = [f"{v:.{places}f}" for v in marks]
    axis = max(len(label) for label in labels) + 2
    canvas = Canvas(cols - axis, rows - 3)
    n = max(1, len(values) - 1)

    def py(v: Floats) -> IntArray:
        return np.rint((hi - v) / (hi - lo) * (canvas.height - 1)).astype(np.int64)

    xs = np.rint(np.arange(len(values)) * (canvas.width - 1) / n).astype(np.int64)
    raw = py(np.where(measured, values, lo))
    above, below = int(((raw < 0) & measured).sum()), int(((raw >= canvas.height) & measured).sum())
    ys = np.clip(raw, 0, canvas.height - 1)
    if bound is not None and drawn:
        x = np.arange(canvas.width, dtype=np.int64)
        x = x[(x // 2) % 2 == 0]
        canvas.dots(x, np.full(len(x), py(np.array([bound]))[0]), "bound")
    _incumbent(canvas, xs, best, py)
    layers = np.array(series.layer, dtype=np.int64)
    if len(values) > canvas.width // 2:
        # A crowd: one dot each, and kept points (which sit on the incumbent's steps) take the
        # line's colour, or in a long run the kept colour would be all the line shows.
        layers = np.where(layers == LAYERS.index("keep"), LAYERS.index("incumbent"), layers)
        canvas.dots(xs[measured], ys[measured], layers[measured])
    else:
        canvas.markers(xs[measured], ys[measured], layers[measured])
    legend = _legend(feed, bound, drawn, above, below, len(series.failed))
    if cursor is not None and 0 <= cursor < len(series.ids):
        legend = _cursor_line(feed, series.ids[cursor])
    edits = _edit_columns(feed, len(values), canvas.width)
    lines = canvas.lines({col // 2: ("┊", "dim magenta") for col in edits})
    if cursor is not None and measured[cursor]:
        row, col = int(ys[cursor]) // 4, int(xs[cursor]) // 2
        lines[row].stylize("reverse", col, col + 1)
    out = Text(no_wrap=True, overflow="crop", end="")
    legend.truncate(cols, overflow="ellipsis")
    out.append_text(legend)
    label_rows = {
        int(py(np.array([v]))[0]) // 4: label for v, label in zip(marks, labels, strict=True)
    }
    for r, line in enumerate(lines):
        label = label_rows.get(r)
        out.append("\n")
        out.append(f"{label:>{axis - 2}} ┤" if label else " " * (axis - 1) + "│", style="dim")
        out.append_text(line)
    out.append("\n")
    out.append_text(_x_axis(feed, series, canvas, xs, axis, edits))
    return out, Frame(axis, 1, xs, ys)


def _edit_columns(feed: Feed, count: int, width: int) -> dict[int, str]:
    """Dot column of each org edit (between the experiments it came between) -> its status."""
    n = max(1, count - 1)
    out: dict[int, str] = {}
    for entry in feed.history:
        if entry.kind in ("org_edited", "org_proposed") and entry.status in EDIT_MARK:
            place = max(0.0, entry.experiments - 0.5)
            out[round(place * (width - 1) / n)] = entry.status
    return out


def _x_axis(
    feed: Feed, series: Series, canvas: Canvas, xs: IntArray, axis: int, edits: dict[int, str]
) -> Text:
    """The axis line with ticks and edit marks, and under it the ticked experiments' ids."""
    count = len(series.ids)
    step = max(1, int(nice_step(count, max(1, canvas.cols // 12))))
    picked = list(range(0, count, step))
    line = ["─"] * canvas.cols
    styles = ["dim"] * canvas.cols
    under = [" "] * (canvas.cols + 12)
    for i in picked:
        col = int(xs[i]) // 2
        line[col] = "┬"
        label = series.ids[i]
        start = min(col, canvas.cols - len(label))
        if start >= 0 and all(c == " " for c in under[max(0, start - 1) : start + len(label) + 1]):
            under[start : start + len(label)] = list(label)
    for dot, status in edits.items():
        char, style = EDIT_MARK[status]
        line[dot // 2] = char
        styles[dot // 2] = style
    text = Text(" " * (axis - 1) + "└", style="dim", end="")
    for char, style in zip(line, styles, strict=True):
        text.append(char, style=style)
    text.append("\n" + " " * axis + "".join(under[: canvas.cols]).rstrip(), style="dim")
    return text


def _incumbent(
    canvas: Canvas,
    xs: IntArray,
    best: Floats,
    py: Callable[[Floats], IntArray],
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
    ys: IntArray = np.clip(py(best[last[cols]]), 0, canvas.height - 1)
    canvas.dots(cols, ys, "incumbent")
    jumps = np.flatnonzero(ys[1:] != ys[:-1])
    for j in jumps.tolist():  # one join per change of incumbent: few
        y0, y1 = sorted((int(ys[j]), int(ys[j + 1])))
        span = np.arange(y0, y1 + 1, dtype=np.int64)
        canvas.dots(np.full(len(span), cols[j + 1]), span, "incumbent")


class MetricPlot(Widget, can_focus=True):
    """The metric over experiments; call `show(changed)` when experiments changed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Previous point", show=False),
        Binding("right", "move(1)", "Next point", show=False),
        Binding("home", "edge(0)", "First point", show=False),
        Binding("end", "edge(1)", "Last point", show=False),
        Binding("enter", "open", "Open", show=False),
    ]

    DEFAULT_CSS = """
    MetricPlot { height: 14; padding: 0 1; }
    """

    class Opened(Message):
        """The user asked for the experiment under the cursor, or clicked."""

        def __init__(self, experiment: str, experiments: list[str]) -> None:
            super().__init__()
            self.experiment = experiment
            self.experiments = experiments

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.series = Series()
        self.cursor: int | None = None
        self._frame: Frame | None = None
        self._drawn: tuple[tuple[object, ...], Text] | None = None
        """(what the last drawing was of, the drawing): a tab switch repaints, it need not draw."""

    def show(self, changed: Iterable[str]) -> None:
        self.series.update(self.feed, changed)
        self.refresh()

    def redraw(self) -> None:
        """Something drawn besides the series changed (an org edit's mark)."""
        self._drawn = None
        self.refresh()

    def reset(self) -> None:
        self.series = Series()
        self.cursor = None
        self._drawn = None

    def render(self) -> Text:
        size = self.content_size
        cursor = self.cursor if self.has_focus else None
        key = (size, cursor, self.series.version)
        if self._drawn is None or self._drawn[0] != key:
            text, self._frame = render_plot(self.feed, self.series, size.width, size.height, cursor)
            self._drawn = (key, text)
        return self._drawn[1]

    def on_focus(self) -> None:
        if self.cursor is None:
            self.action_edge(1)
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_move(self, delta: int) -> None:
        measured = self.series.measured()
        if not measured:
            return
        here = self.cursor if self.cursor is not None else measured[-1]
        later = [i for i in measured if (i > here if delta > 0 else i < here)]
        if later:
            self.cursor = later[0] if delta > 0 else later[-1]
            self.refresh()

    def action_edge(self, end: int) -> None:
        measured = self.series.measured()
        if measured:
            self.cursor = measured[-1] if end else measured[0]
            self.refresh()

    def action_open(self) -> None:
        if self.cursor is not None:
            self._opened(self.cursor)

    def _opened(self, index: int) -> None:
        ids = [self.series.ids[i] for i in self.series.measured()]
        self.post_message(self.Opened(self.series.ids[index], ids))

    def on_click(self, event: events.Click) -> None:
        frame = self._frame
        at = event.get_content_offset(self)
        if frame is None or at is None:
            return
        x, y = (at.x - frame.axis) * 2, (at.y - frame.top) * 4
        measured = self.series.measured()
        if not measured or x < 0:
            return
        pick = min(measured, key=lambda i: (abs(int(frame.xs[i]) - x), abs(int(frame.ys[i]) - y)))
        if abs(int(frame.xs[pick]) - x) <= 4:
            self.cursor = pick
            self.refresh()
            self._opened(pick)
