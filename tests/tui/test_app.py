"""The app driven headless by Textual's Pilot: what it shows, and what each key writes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from _runs import RECORDED, SIZE, browse_text, control
from rich.console import Console
from textual.widgets import Input, Select, Static, TextArea

from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.state import Message
from orgloop.tui import (
    ExperimentScreen,
    ExperimentsTable,
    InjectScreen,
    KeyedTable,
    MessageScreen,
    MessageStream,
    MetricPlot,
    OrgHistory,
    OrgloopApp,
    StatusBar,
    VerdictScreen,
)
from orgloop.tui._experiments import experiment_cells
from orgloop.tui._message import message_body


def table_keys(app: OrgloopApp, selector: str) -> list[str]:
    return list(app.query_one(selector, KeyedTable).keys)


async def test_a_finished_run_opens_at_its_final_state(recorded: Path) -> None:
    events = read_events(recorded / "events.jsonl")
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE):
        assert app.feed.state.events == len(events)
        assert app.feed.state.finished
        exps = [e.data["id"] for e in events if e.kind == "experiment_started"]
        assert table_keys(app, "#experiments-table") == exps
        sent = [e.data["id"] for e in events if e.kind == "message_sent"]
        assert table_keys(app, "#stream-table") == sent
        assert "finished" in app.query_one(StatusBar).text.plain


async def test_each_control_key_appends_its_command(live: Path) -> None:
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p", "s", "s", "r")
    assert [json.loads(line) for line in control(live)] == [
        {"cmd": "pause"},
        {"cmd": "step"},
        {"cmd": "step"},
        {"cmd": "resume"},
    ]


async def test_message_form_injects_as_the_human(live: Path) -> None:
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, InjectScreen)
        assert form.query_one("#inject-role", Select).value == "pi"  # the kick-off's receiver
        form.query_one("#inject-role", Select).value = "engineer"
        form.query_one("#inject-kind", Input).value = "direction"
        await pilot.click("#inject-body")
        await pilot.press(*"Try GELU.")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, InjectScreen)
    assert [json.loads(line) for line in control(live)] == [
        {"cmd": "inject", "to": "engineer", "kind": "direction", "body": "Try GELU."}
    ]


async def test_message_form_escape_sends_nothing(live: Path) -> None:
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#inject-body", TextArea).text = "never mind"
        await pilot.press("escape")
    assert control(live) == []


async def test_verdict_keys_name_the_pending_generation(meta: Path) -> None:
    app = OrgloopApp(meta, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        for key in ("a", "x"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, VerdictScreen)
            assert app.screen.query_one(Input).value == "2"  # generation 2 waits for approval
            await pilot.press("enter")
            await pilot.pause()
    assert [json.loads(line) for line in control(meta)] == [
        {"cmd": "approve", "generation": 2},
        {"cmd": "reject", "generation": 2},
    ]


async def test_a_finished_run_takes_no_commands(recorded: Path, tmp_path: Path) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p", "s")
    assert not (recorded / "control.jsonl").exists()


async def test_filters_keep_only_matching_messages(recorded: Path) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        stream = app.query_one(MessageStream)
        roles = stream.query_one("#role-filter", Select)
        kinds = stream.query_one("#kind-filter", Select)
        for role, kind in (("engineer", None), (None, "review"), ("pi", "review"), (None, None)):
            roles.value = role if role else Select.NULL
            kinds.value = kind if kind else Select.NULL
            await pilot.pause()
            shown = [app.feed.state.messages[k] for k in stream.table.keys]
            expected = [
                m
                for m in app.feed.state.messages.values()
                if role in (None, m.sender, m.receiver) and kind in (None, m.kind)
            ]
            assert shown == expected and shown, (role, kind)


async def test_enter_opens_a_message_in_full(recorded: Path) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        stream = app.query_one(MessageStream)
        kickoff = next(m for m in app.feed.state.messages.values() if m.kind == "kickoff")
        stream.table.move_to(kickoff.id)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MessageScreen)
        assert app.screen.msg == kickoff
        shown = browse_text(app)
        assert "human → pi   kickoff" in shown and "Objective" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, MessageScreen)


async def test_next_and_previous_step_through_the_rows_and_the_cursor_follows(
    recorded: Path,
) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        table = app.query_one(ExperimentsTable)
        table.move_to("e4")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExperimentScreen)
        await pilot.press("n", "n", "N", "right")
        assert app.screen.key == "e6"
        assert browse_text(app).startswith("e6: ")
        await pilot.press("left", "escape")
        await pilot.pause()
        assert table.cursor_key == "e5"  # the table's cursor is where the modal stopped
        await pilot.press("2")
        stream = app.query_one(MessageStream)
        first = stream.table.keys[0]
        stream.table.move_to(first)
        await pilot.press("enter", "N")  # nothing before the first row: it stays
        await pilot.pause()
        assert isinstance(app.screen, MessageScreen) and app.screen.key == first
        await pilot.press("n")
        assert app.screen.key == stream.table.keys[1]


async def test_clicking_a_row_twice_opens_the_experiment(recorded: Path) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one(ExperimentsTable)
        row = table.keys.index("e8") + 1  # under the header line
        await pilot.click(ExperimentsTable, offset=(2, row))
        assert table.cursor_key == "e8"
        assert not isinstance(app.screen, ExperimentScreen)
        await pilot.click(ExperimentsTable, offset=(2, row))
        await pilot.pause()
        assert isinstance(app.screen, ExperimentScreen)
        text = browse_text(app)
        assert "+BATCH = 64" in text and "decision keep" in text


async def test_following_applies_appended_events_and_waits_for_a_torn_line(live: Path) -> None:
    rest = (live / "rest.jsonl").read_bytes().splitlines(keepends=True)
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        before = app.feed.state.events
        rows = len(table_keys(app, "#stream-table"))
        with open(live / "events.jsonl", "ab") as f:
            f.write(b"".join(rest[:-1]) + rest[-1][:10])
        app.refresh_feed()
        await pilot.pause()
        assert app.feed.state.events == before + len(rest) - 1
        assert not app.feed.state.finished
        assert len(table_keys(app, "#stream-table")) > rows
        with open(live / "events.jsonl", "ab") as f:
            f.write(rest[-1][10:])
        app.refresh_feed()
        await pilot.pause()
        assert app.feed.state.finished
        assert len(table_keys(app, "#experiments-table")) == 13


async def test_the_stream_keeps_only_the_last_rows(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MessageStream, "LIMIT", 10)
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE):
        assert table_keys(app, "#stream-table") == app.feed.order[-10:]


async def test_history_shows_what_became_of_each_edit(meta: Path) -> None:
    app = OrgloopApp(meta, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        history = app.query_one(OrgHistory)
        statuses = [app.feed.history[int(k[1:])].status for k in history.table.keys]
        assert statuses == ["reverted", "rejected", "revert", "pending", "kept", "kept", "rejected"]
        history.table.move_to("h0")
        await pilot.pause()
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(history.query_one("#history-text", Static).content)
        shown = console.export_text()
        assert "three LR draws below" in shown  # the first edit's rationale
        assert "+  LR: {log: [1.0e-3, 1.0e-2]}" in shown  # and its diff


async def test_a_replaced_log_is_shown_from_its_start(live: Path) -> None:
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        head = (live / "events.jsonl").read_bytes().splitlines(keepends=True)[:40]
        (live / "events.jsonl").write_bytes(b"".join(head))
        app.refresh_feed()
        await pilot.pause()
        assert app.feed.state.events == 40
        assert table_keys(app, "#stream-table") == app.feed.order


async def test_a_run_folder_without_a_log_waits_for_one(live: Path, tmp_path: Path) -> None:
    run = tmp_path / "starting"
    run.mkdir()
    app = OrgloopApp(run, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        assert "waiting for" in app.query_one(StatusBar).text.plain
        (run / "events.jsonl").write_bytes((live / "events.jsonl").read_bytes())
        app.refresh_feed()
        await pilot.pause()
        assert app.feed.state.events == 150
        assert "tinylm" in app.query_one(StatusBar).text.plain


async def test_diffs_are_coloured_in_the_experiment_view(recorded: Path) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        app.query_one(ExperimentsTable).move_to("e8")
        await pilot.press("enter")
        await pilot.pause()
        body = app.screen.query_one("#browse-body", Static).content
        console = Console(width=100, file=io.StringIO(), color_system="truecolor")
        styles = {
            seg.text.strip(): str(seg.style)
            for seg in console.render(body)
            if seg.text.strip().startswith(("+BATCH", "-BATCH"))
        }
        assert styles == {"+BATCH = 64": "green", "-BATCH = 128": "red"}


async def test_the_status_line_says_best_baseline_gap_and_what_is_left(live: Path) -> None:
    app = OrgloopApp(live, follow=False)
    async with app.run_test(size=(200, 40)):
        status = app.query_one(StatusBar).text.plain
        assert "val_bpb 1.2818" in status and "baseline 1.2818" in status
        assert "0% of gap to 0.6044" in status
        assert "5m41s of wall time left" in status  # 62% of the wall spent, 60% of experiments
    app = OrgloopApp(RECORDED, follow=False)
    async with app.run_test(size=(200, 40)):
        status = app.query_one(StatusBar).text.plain
        assert "val_bpb 1.2485 (e12, Δ -0.0332)" in status and "5% of gap" in status


async def test_delta_reads_the_same_way_on_every_view(recorded: Path) -> None:
    app = OrgloopApp(recorded, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        cells = experiment_cells(app.feed, "e8")
        assert cells[3].plain == "-0.0280" and cells[3].style == "green"  # lower is better
        await pilot.press("3")
        app.query_one(ExperimentsTable).move_to("e8")
        await pilot.press("enter")
        await pilot.pause()
        assert "Δ -0.0280" in browse_text(app)
        await pilot.press("escape")
        plot = app.query_one("#experiments-plot", MetricPlot)
        plot.focus()
        await pilot.pause()
        plot.cursor = plot.series.index["e8"]
        assert "(Δ -0.0280)" in plot.render().plain


def test_a_diff_a_message_carries_is_coloured() -> None:
    diff = "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-LR = 0.003\n+LR = 0.01\n"
    msg = Message("m9", "trainer", "critic", "result", "e3: ok", {"diff": diff}, "t8")
    console = Console(width=80, file=io.StringIO(), color_system="truecolor")
    styles = {s.text.strip(): str(s.style) for s in console.render(message_body(msg))}
    assert styles["+LR = 0.01"] == "green" and styles["-LR = 0.003"] == "red"
    assert styles["@@ -1 +1 @@"] == "cyan"
