"""Every tab usable at 80×24, 100×30 and 160×48: each pane on screen and big enough to read, the
tables' text columns wide (columns dropped first), the History detail beside or under its table,
and the graph reachable in full by scrolling when it does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from _runs import META, screen_text
from textual.geometry import Region
from textual.widget import Widget

from orgloop.runtime.core.lock import RunLock
from orgloop.tui import ExperimentsTable, MetricPlot, OrgGraph, OrgloopApp, RolesTable
from orgloop.tui._stream import MessageStream

SIZES = [(80, 24), (100, 30), (160, 48)]


def on_screen(app: OrgloopApp, widget: Widget, rows: int = 1, cols: int = 20) -> Region:
    """The widget's region, asserted inside the screen and at least `rows` × `cols`."""
    region = widget.region
    screen = Region(0, 0, *app.size)
    assert widget.display and screen.contains_region(region), (widget, region, app.size)
    assert region.height >= rows and region.width >= cols, (widget, region)
    return region


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_every_tab_is_usable(live: Path, size: tuple[int, int]) -> None:
    width, _height = size
    with RunLock(live):
        app = OrgloopApp(live, follow=False)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            # Org: the graph, every role's row, the running experiment.
            graph = app.query_one(OrgGraph)
            on_screen(app, graph, rows=4, cols=min(width - 4, 100))
            roles = app.query_one(RolesTable)
            on_screen(app, roles, rows=len(roles.keys) + 1)
            on_screen(app, app.query_one("#running"), rows=1)
            lay = graph.layout_
            assert lay is not None
            if lay.height > graph.scrollable_content_region.height:
                graph.focus()
                await pilot.press("down")  # the keys scroll it
                assert graph.scroll_offset.y == 1
                graph.scroll_end(animate=False, immediate=True)
                await pilot.pause()
                bottom = max(b.y + b.h for b in lay.boxes.values())
                assert graph.scroll_offset.y + graph.scrollable_content_region.height >= bottom
            assert "e9" in screen_text(app)  # the running experiment, named
            # Messages: the text column keeps its room.
            await pilot.press("2")
            await pilot.pause()
            stream = app.query_one(MessageStream)
            table = on_screen(app, stream.table, rows=5)
            shown = dict(stream.table.shown_columns(table.width))
            assert shown[4] >= 24  # the message column
            # Experiments: the description column, and the plot under the table.
            await pilot.press("3")
            await pilot.pause()
            exps = app.query_one(ExperimentsTable)
            region = on_screen(app, exps, rows=5)
            assert dict(exps.shown_columns(region.width))[6] >= 20
            on_screen(app, app.query_one("#experiments-plot", MetricPlot), rows=8, cols=60)
            footer = screen_text(app).rstrip("\n").split("\n")
            assert any("q Quit" in line for line in footer[-2:])


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_history_detail_has_room_at_every_size(size: tuple[int, int]) -> None:
    app = OrgloopApp(META, follow=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("4")
        await pilot.pause()
        on_screen(app, app.query_one("#history-table"), rows=4, cols=30)
        detail = on_screen(app, app.query_one("#history-detail"), rows=6, cols=50)
        if size[0] < 100:  # under its table, the whole width
            assert detail.width >= size[0] - 2
