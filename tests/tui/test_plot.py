"""The metric plot a researcher can trust: the range follows the decisions (not an outlier or a far
bound), kept points win their cells, the incumbent line shows through a crowd, ticks are round,
org edits are marked, and a point can be reached with the cursor or the mouse."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from _runs import RECORDED, SIZE, LogWriter
from rich.console import Console
from rich.text import Text

from orgloop.tui import ExperimentScreen, Feed, MetricPlot, OrgloopApp
from orgloop.tui._plot import Series, render_plot


def feed_of(run: Path) -> tuple[Feed, Series]:
    feed = Feed(run)
    feed.poll()
    series = Series()
    series.update(feed, feed.state.experiments)
    return feed, series


def styled_cells(text: Text) -> list[list[tuple[str, str]]]:
    """Each line of the picture as (character, style) cells."""
    console = Console(width=400, color_system=None)
    out: list[list[tuple[str, str]]] = []
    for line in text.split("\n"):
        cells: list[tuple[str, str]] = []
        for seg in line.render(console):
            cells.extend((ch, str(seg.style or "")) for ch in seg.text)
        out.append(cells)
    return out


def decisions_run(tmp_path: Path) -> Path:
    """Two baselines, then discards around the incumbent, two small keeps, and one outlier."""
    log = LogWriter(tmp_path / "run")
    log.start(bound=0.6)
    log.experiment(1.2818, baseline=True)
    log.experiment(1.2818, baseline=True)
    for value in (1.2950, 1.3100, 1.2700):
        log.experiment(value, "discard", inc=1.2818)
    log.experiment(1.1975, "keep", inc=1.2818)
    log.experiment(4.0, "discard", inc=1.1975)  # a run that went wrong and still measured
    log.experiment(1.2100, "discard", inc=1.1975)
    log.experiment(1.1888, "keep", inc=1.1975)
    log.experiment(1.2000, "discard", inc=1.1888)
    return log.run


def test_an_outlier_and_a_far_bound_leave_room_for_the_decisions(tmp_path: Path) -> None:
    feed, series = feed_of(decisions_run(tmp_path))
    text, frame = render_plot(feed, series, 60, 14)
    assert frame is not None
    kept = [series.index["e6"], series.index["e9"]]
    rows = [int(frame.ys[i]) // 4 for i in kept]
    assert rows[0] != rows[1]  # 1.1975 → 1.1888 is a step you can see
    legend = text.plain.split("\n")[0]
    assert "bound 0.6000 off scale ↓" in legend
    assert "1 above ↑" in legend  # the outlier, drawn on the top edge
    assert int(frame.ys[series.index["e7"]]) == 0


def test_a_near_bound_is_drawn_in_the_range(tmp_path: Path) -> None:
    log = LogWriter(tmp_path / "run")
    log.start(bound=1.17)
    log.experiment(1.28, baseline=True)
    log.experiment(1.25, "keep", inc=1.28)
    log.experiment(1.20, "keep", inc=1.25)
    feed, series = feed_of(log.run)
    text, _ = render_plot(feed, series, 120, 14)
    assert "┅ bound 1.1700" in text.plain.split("\n")[0]
    assert any(style == "blue" for line in styled_cells(text)[1:] for _, style in line)


def test_in_a_crowd_kept_points_win_their_cells_over_discarded_ones(tmp_path: Path) -> None:
    log = LogWriter(tmp_path / "run")
    log.start(bound=None)
    log.experiment(1.30, baseline=True)
    for _ in range(200):  # far more experiments than dot columns: several share each cell
        log.experiment(1.2501, "discard", inc=1.25)
    log.experiment(1.25, "keep", inc=1.30)
    for _ in range(200):
        log.experiment(1.2501, "discard", inc=1.25)
    feed, series = feed_of(log.run)
    text, frame = render_plot(feed, series, 40, 12)
    assert frame is not None
    i = series.index["e202"]
    row, col = int(frame.ys[i]) // 4, int(frame.xs[i]) // 2
    char, style = styled_cells(text)[1 + row][frame.axis + col]
    assert style == "bright_white", (char, style)  # the incumbent's step, not a discard's red


def test_the_incumbent_line_shows_through_thousands_of_experiments(tmp_path: Path) -> None:
    rng = random.Random(3)
    log = LogWriter(tmp_path / "run")
    log.start(bound=0.6)
    best = 1.30
    log.experiment(best, baseline=True)
    for _ in range(3000):  # one in twenty kept, a little better; the rest a little worse
        if rng.random() < 0.05:
            best = round(best * 0.998, 6)
            log.experiment(best, "keep", inc=best / 0.998)
        else:
            log.experiment(round(best + abs(rng.gauss(0, 0.02)), 6), "discard", inc=best)
    feed, series = feed_of(log.run)
    text, frame = render_plot(feed, series, 100, 20)
    cells = styled_cells(text)[1:-2]  # the canvas rows, without legend and x axis
    assert frame is not None
    white = {i for line in cells for i, (_, style) in enumerate(line) if style == "bright_white"}
    assert len(white) >= 0.7 * (100 - frame.axis)


def test_ticks_are_round_and_org_edits_are_marked(tmp_path: Path) -> None:
    log = LogWriter(tmp_path / "run")
    log.start(bound=None)
    log.experiment(1.28, baseline=True)
    for value in (1.27, 1.30, 1.26):
        log.experiment(value, "discard", inc=1.28)
    log.emit("org_edited", {"generation": 1, "file": "roles/pi.md", "commit": "d" * 40})
    for value in (1.29, 1.31):
        log.experiment(value, "discard", inc=1.28)
    log.emit("org_edited", {"generation": 2, "file": "roles/pi.md", "commit": "e" * 40})
    log.emit("org_reverted", {"generation": 2, "commit": "f" * 40})
    for value in (1.25, 1.29):
        log.experiment(value, "discard", inc=1.28)
    feed, series = feed_of(log.run)
    text, _ = render_plot(feed, series, 60, 14)
    lines = text.plain.split("\n")
    labels = [line.split("┤")[0].strip() for line in lines if "┤" in line]
    values = [float(v) for v in labels]
    assert len(values) >= 3
    steps = np.diff(values)
    assert np.allclose(steps, steps[0]) and round(abs(steps[0]), 6) in (0.01, 0.02, 0.005)
    axis = next(line for line in lines if "└" in line)
    assert "◆" in axis and "◇" in axis  # the kept edit and the reverted one


async def test_the_cursor_walks_the_points_and_enter_opens_one(recorded: Path) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        plot = app.query_one("#experiments-plot", MetricPlot)
        plot.focus()
        await pilot.pause()
        measured = [plot.series.ids[i] for i in plot.series.measured()]
        assert plot.cursor == plot.series.index[measured[-1]]
        await pilot.press("left", "left")
        assert plot.series.ids[plot.cursor or 0] == measured[-3]
        assert plot.render().plain.startswith(f"▸ {measured[-3]} ")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExperimentScreen) and app.screen.key == measured[-3]


async def test_a_click_on_a_point_opens_that_experiment() -> None:
    app = OrgloopApp(RECORDED, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        plot = app.query_one("#experiments-plot", MetricPlot)
        frame = plot._frame
        assert frame is not None
        i = plot.series.index["e8"]
        content = plot.content_region.offset - plot.region.offset  # border and padding
        x = content.x + frame.axis + int(frame.xs[i]) // 2
        y = content.y + frame.top + int(frame.ys[i]) // 4
        await pilot.click("#experiments-plot", offset=(x, y))
        await pilot.pause()
        assert isinstance(app.screen, ExperimentScreen) and app.screen.key == "e8"
