"""Snapshots of the main screens on the recorded runs (pytest-textual-snapshot). Everything shown
comes from the events, so the pictures do not depend on the clock; `--snapshot-update` redraws
them after a deliberate change (look at the report first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _runs import META, RECORDED, SIZE
from textual.pilot import Pilot
from textual.widgets import Markdown, Select

from orgloop.tui import ExperimentsTable, MessageStream, OrgloopApp

Snap = Callable[..., bool]


def recorded() -> OrgloopApp:
    return OrgloopApp(RECORDED, follow=False)


def test_org_tab(snap_compare: Snap) -> None:
    assert snap_compare(recorded(), terminal_size=SIZE)


def test_messages_tab(snap_compare: Snap) -> None:
    async def show_messages(pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await pilot.pause()
        # The table scrolls to its cursor (the newest message) after the refresh that sizes it;
        # on a busy machine the picture could come first, so scroll to it here.
        table = pilot.app.query_one(MessageStream).table
        table.move_to(len(table.keys) - 1)
        table._show_cursor()
        await pilot.pause()

    assert snap_compare(recorded(), terminal_size=SIZE, run_before=show_messages)


def test_experiments_tab(snap_compare: Snap) -> None:
    assert snap_compare(recorded(), terminal_size=SIZE, press=["3"])


def test_history_tab(snap_compare: Snap) -> None:
    app = OrgloopApp(META, follow=False)
    assert snap_compare(app, terminal_size=SIZE, press=["4"])


async def rendered(pilot: Pilot[Any]) -> None:
    """Wait for the open modal's Markdown: Textual parses it in a thread, which `pause` does not
    wait for, and holds the widget's lock until the blocks are mounted."""
    await pilot.pause()
    for md in pilot.app.screen.query(Markdown):
        async with md.lock:
            pass
    await pilot.pause()


def test_message_in_full(snap_compare: Snap) -> None:
    async def open_review(pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        # Only the reviews: they all fit, so where the table scrolls cannot depend on timing.
        pilot.app.query_one("#kind-filter", Select).value = "review"
        await pilot.pause()
        pilot.app.query_one(MessageStream).table.move_to("m48")  # the reviewer on e4
        await pilot.press("enter")
        await rendered(pilot)

    assert snap_compare(recorded(), terminal_size=SIZE, run_before=open_review)


def test_experiment_in_full(snap_compare: Snap) -> None:
    async def open_kept(pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await pilot.pause()
        pilot.app.query_one(ExperimentsTable).move_to("e8")  # 13 rows: all on screen
        await pilot.press("enter")
        await rendered(pilot)

    assert snap_compare(recorded(), terminal_size=SIZE, run_before=open_kept)
