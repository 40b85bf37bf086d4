"""Pictures of every tab at 80×24, 100×30 and 160×48, and of each modal, on the recorded runs.

Each test starts the app once and resizes it through the three sizes, so a picture costs a resize
and not an app. Everything shown comes from the events and a fixed clock, so the pictures do not
depend on when they are taken; the live one holds the run's lock as its engine would.
`pytest --snapshot-update` redraws them after a deliberate change (look at them first): they
are also the screenshots docs/tui.md shows, under tests/tui/__snapshots__/test_snapshots/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _runs import META, RECORDED
from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion
from textual.pilot import Pilot

from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.lock import RunLock
from orgloop.tui import ExperimentsTable, MessageStream, OrgloopApp, RolesTable

SIZES = ((80, 24), (100, 30), (160, 48))
LATER = 42.0
"""Seconds after the last event the fixed clock reads."""

Prepare = Callable[[Pilot[Any]], Awaitable[None]]


class Named(SVGImageExtension):
    """One file per picture, named by its test and what the test calls it
    (`test_org_tab-80x24.svg`), so the docs can link to it."""

    @classmethod
    def get_snapshot_name(cls, *, test_location: Any, index: Any = 0) -> str:
        if isinstance(index, str):
            return f"{test_location.snapshot_name}-{index}"
        return str(super().get_snapshot_name(test_location=test_location, index=index))


@pytest.fixture
def pictures(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(Named)


def app_on(run: Path) -> OrgloopApp:
    last = read_events(run / "events.jsonl")[-1].t
    return OrgloopApp(run, follow=False, clock=lambda: last + LATER)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def nothing(pilot: Pilot[Any]) -> None:
    return None


async def shoot(
    pictures: SnapshotAssertion,
    app: OrgloopApp,
    name: str,
    prepare: Prepare = nothing,
    sizes: tuple[tuple[int, int], ...] = SIZES,
) -> None:
    """The app at each size after `prepare`, compared with (or written as) `NAME-WxH.svg`."""
    async with app.run_test(size=sizes[0]) as pilot:
        await settle(pilot)
        await prepare(pilot)
        await settle(pilot)
        for width, height in sizes:
            await pilot.resize_terminal(width, height)
            await settle(pilot)
            svg = app.export_screenshot(title=f"orgloop · {name} · {width}×{height}")
            assert pictures(name=f"{width}x{height}") == svg


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Path]:
    """The recorded run cut after its 150th event, its lock held as a live engine holds it: an
    experiment running, a role waiting."""
    run = tmp_path / "run"
    run.mkdir()
    for part in ("org", "experiments"):
        (run / part).symlink_to(RECORDED / part)
    events = (RECORDED / "events.jsonl").read_bytes().splitlines(keepends=True)
    (run / "events.jsonl").write_bytes(b"".join(events[:150]))
    with RunLock(run):
        yield run


async def test_org_tab(pictures: SnapshotAssertion, live: Path) -> None:
    await shoot(pictures, app_on(live), "org")


async def test_org_tab_finished(pictures: SnapshotAssertion) -> None:
    await shoot(pictures, app_on(RECORDED), "org-finished", sizes=SIZES[1:2])


async def test_messages_tab(pictures: SnapshotAssertion) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        table = pilot.app.query_one(MessageStream).table
        table.move_to(len(table.keys) - 1)

    await shoot(pictures, app_on(RECORDED), "messages", show)


async def test_experiments_tab(pictures: SnapshotAssertion) -> None:
    await shoot(pictures, app_on(RECORDED), "experiments", lambda pilot: pilot.press("3"))


async def test_history_tab(pictures: SnapshotAssertion) -> None:
    await shoot(pictures, app_on(META), "history", lambda pilot: pilot.press("4"))


async def test_modals(pictures: SnapshotAssertion, live: Path) -> None:
    """A message, an experiment, a role and the help, each at 100×30."""
    app = app_on(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        steps: list[tuple[str, Prepare]] = [
            ("message", _open_message),
            ("experiment", _open_experiment),
            ("role", _open_role),
            ("help", lambda p: p.press("question_mark")),
        ]
        for name, open_it in steps:
            await open_it(pilot)
            await settle(pilot)
            svg = app.export_screenshot(title=f"orgloop · {name} · 100×30")
            assert pictures(name=f"{name}-100x30") == svg
            await pilot.press("escape")
            await settle(pilot)


async def _open_message(pilot: Pilot[Any]) -> None:
    await pilot.press("2")
    pilot.app.query_one("#kind-filter").value = "review"  # type: ignore[attr-defined]
    await settle(pilot)
    pilot.app.query_one(MessageStream).table.move_to("m48")  # the reviewer on e4
    await pilot.press("enter")


async def _open_experiment(pilot: Pilot[Any]) -> None:
    await pilot.press("3")
    pilot.app.query_one(ExperimentsTable).move_to("e8")
    await pilot.press("enter")


async def _open_role(pilot: Pilot[Any]) -> None:
    await pilot.press("1")
    pilot.app.query_one(RolesTable).move_to("engineer")
    await pilot.press("enter")
