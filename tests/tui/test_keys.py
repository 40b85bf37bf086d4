"""Keys and what they reach: every tab from every tab, help, search over the whole run, the
count of new rows below, the footer's keys (only those that can act), and the bell."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from _runs import META, SIZE, lines, screen_text, text_of
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from orgloop.tui import KEYS, HelpScreen, MessageStream, OrgloopApp

TABS = ("org", "messages", "experiments", "history")


async def test_every_tab_key_reaches_its_tab_from_every_tab(recorded: Path) -> None:
    walk = "1234132431421"  # every ordered pair of tabs, each once
    pairs = {(a, b) for a, b in itertools.pairwise(walk)}
    assert len(pairs) == 12
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        tabs = app.query_one(TabbedContent)
        for here, key in itertools.pairwise(walk):
            await pilot.press(key)
            assert tabs.active == TABS[int(key) - 1], f"{key} from {TABS[int(here) - 1]}"


@pytest.mark.parametrize("key", ["question_mark", "f1"])
async def test_help_lists_every_key(recorded: Path, key: str) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", key)  # from any tab, History's table focused too
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = text_of(app.screen.query_one("#help-keys").content, width=100)
        for _, keys, what in KEYS:
            assert keys in shown and what.split(":")[0] in shown
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_of_the_app_is_in_the_help() -> None:
    listed = " ".join(keys for _, keys, _ in KEYS)
    for binding in OrgloopApp.BINDINGS:
        for key in binding.key.split(","):  # type: ignore[union-attr]
            shown = {"question_mark": "?", "slash": "/", "f1": "F1"}.get(key, key)
            assert shown in listed, key


async def test_slash_searches_every_message_of_the_run(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MessageStream, "LIMIT", 10)  # the table keeps the last ten rows
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        stream = app.query_one(MessageStream)
        kickoff = next(m for m in app.feed.order if app.feed.state.messages[m].kind == "kickoff")
        assert kickoff not in stream.table.keys  # long gone from the rows kept
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"objective", "enter")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "messages"
        assert stream.table.keys == [kickoff]
        count = stream.query_one("#stream-count").text.plain  # type: ignore[attr-defined]
        assert f"1 of {len(app.feed.order)} messages contain “objective”" in count
        stream.search("")
        await pilot.pause()
        assert stream.table.keys == app.feed.order[-10:]


async def test_new_rows_below_are_counted_until_the_cursor_goes_down(live: Path) -> None:
    rest = lines(live / "rest.jsonl")
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        stream = app.query_one(MessageStream)
        stream.table.move_to(0)
        before = len(stream.table.keys)
        with open(live / "events.jsonl", "ab") as f:
            f.write(b"".join(rest[:60]))
        app.refresh_feed()
        await pilot.pause()
        new = len(stream.table.keys) - before
        assert new > 0 and stream.table.cursor == 0  # it stays where it was put
        count = stream.query_one("#stream-count").text.plain  # type: ignore[attr-defined]
        assert f"{new} new ↓" in count
        await pilot.press("end")
        count = stream.query_one("#stream-count").text.plain  # type: ignore[attr-defined]
        assert "new ↓" not in count


async def test_the_footer_shows_only_keys_that_can_act(
    recorded: Path, meta: Path, live: Path
) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        footer = await footer_of(app, pilot, "q Quit", hiding="Pause")
        assert "1234 tabs" in footer and "? Help" in footer and "q Quit" in footer
        for hidden in ("Pause", "Resume", "Step", "Message", "Approve", "Reject"):
            assert hidden not in footer  # a finished run: nothing reads control.jsonl
        await pilot.press("m")
        assert app.screen is app.screen_stack[0]  # no form to type into and lose
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        footer = await footer_of(app, pilot, "p Pause")
        assert "p Pause" in footer and "m Message" in footer
        assert "Resume" not in footer and "Approve" not in footer  # not paused, nothing waits
        await pilot.press("p")
        footer = await footer_of(app, pilot, "r Resume", hiding="Pause")
        assert "r Resume" in footer and "s Step" in footer and "Pause" not in footer
    app = OrgloopApp(meta, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        footer = await footer_of(app, pilot, "a Approve")
        assert "a Approve" in footer and "x Reject" in footer  # generation 2 waits


async def test_a_new_best_an_error_and_a_waiting_edit_ring_the_bell(tmp_path: Path) -> None:
    run = tmp_path / "meta"
    run.mkdir()
    events = lines(META / "events.jsonl")
    (run / "events.jsonl").write_bytes(b"".join(events[:7]))
    app = OrgloopApp(run, follow=False)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        assert rings == []  # what was there at open is not news
        with open(run / "events.jsonl", "ab") as f:
            f.write(events[7])  # org_proposed: generation 2 waits for a human
        app.refresh_feed()
        await pilot.pause()
        assert rings == [1]
        assert any("waits for approval" in n.message for n in app._notifications)
        seq = len(events)
        error = (
            f'{{"seq":{seq},"t":1767269200.0,"kind":"error","data":'
            '{"role":"engineer","error":"boom"}}\n'
        )
        with open(run / "events.jsonl", "ab") as f:
            f.write(b"".join(events[8:]) + error.encode())
        app.refresh_feed()
        await pilot.pause()
        assert rings == [1, 1]
        assert any("engineer: boom" in n.message for n in app._notifications)


async def test_a_kept_experiment_is_announced_as_a_new_best(live: Path) -> None:
    rest = lines(live / "rest.jsonl")
    app = OrgloopApp(live, follow=False)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        keep = next(
            i for i, line in enumerate(rest) if b'"kind":"decision"' in line and b'"keep"' in line
        )
        with open(live / "events.jsonl", "ab") as f:
            f.write(b"".join(rest[: keep + 1]))
        app.refresh_feed()
        await pilot.pause()
        assert rings == [1]
        assert any(n.message.startswith("new best: e8") for n in app._notifications)


async def footer_of(app: OrgloopApp, pilot: Pilot[None], showing: str, hiding: str = "\0") -> str:
    """The footer's line as the terminal shows it, once it shows `showing` and not `hiding`, or
    after five seconds (it is redrawn a few frames after a change; on a busy machine that takes
    a while)."""
    footer = ""
    for _ in range(100):
        found = [line for line in screen_text(app).split("\n") if "q Quit" in line]
        footer = found[-1] if found else ""
        if showing in footer and hiding not in footer:
            break
        await pilot.pause(0.05)
    return footer
