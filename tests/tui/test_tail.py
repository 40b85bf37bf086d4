"""The log tail and the control writer: incremental, torn-line tolerant, one line per command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _runs import RECORDED, lines

from orgloop.runtime.core.events import read_events
from orgloop.tui import LogReplaced, LogTail, send_control


def test_tail_reads_each_event_once_across_appends(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    events = lines(RECORDED / "events.jsonl")
    log.write_bytes(b"".join(events[:10]))
    tail = LogTail(log)
    first = tail.read()
    with open(log, "ab") as f:
        f.write(b"".join(events[10:25]))
    second = tail.read()
    assert [e.seq for e in first + second] == list(range(25))
    assert tail.read() == []


def test_torn_last_line_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    events = lines(RECORDED / "events.jsonl")
    log.write_bytes(events[0] + events[1][:20])
    tail = LogTail(log)
    assert [e.seq for e in tail.read()] == [0]
    with open(log, "ab") as f:
        f.write(events[1][20:])
    assert [e.seq for e in tail.read()] == [1]


def test_unreadable_line_is_counted_and_skipped(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    events = lines(RECORDED / "events.jsonl")
    log.write_bytes(events[0] + b"not json\n" + events[1])
    tail = LogTail(log)
    assert [e.seq for e in tail.read()] == [0, 1]
    assert tail.bad == 1


def test_skimmed_kinds_keep_seq_and_time_and_drop_data(tmp_path: Path) -> None:
    full = read_events(RECORDED / "events.jsonl")
    skimmed = LogTail(RECORDED / "events.jsonl", skim=frozenset({"tool_call"})).read()
    assert [(e.seq, e.t, e.kind) for e in skimmed] == [(e.seq, e.t, e.kind) for e in full]
    assert all(e.data == {} for e in skimmed if e.kind == "tool_call")
    assert [e.data for e in skimmed if e.kind != "tool_call"] == [
        e.data for e in full if e.kind != "tool_call"
    ]


def test_a_shrunken_log_is_reported_as_replaced(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    events = lines(RECORDED / "events.jsonl")
    log.write_bytes(b"".join(events[:5]))
    tail = LogTail(log)
    tail.read()
    log.write_bytes(events[0])
    with pytest.raises(LogReplaced):
        tail.read()


def test_control_lines_are_ascii_json_one_per_command(tmp_path: Path) -> None:
    send_control(tmp_path, {"cmd": "pause"})
    body = "line one\nline two \u2028 ünïcode"
    send_control(tmp_path, {"cmd": "inject", "to": "pi", "kind": "note", "body": body})
    raw = (tmp_path / "control.jsonl").read_bytes()
    assert raw.isascii()
    text = raw.decode()
    assert len(text.splitlines()) == 2  # what the engine's str.splitlines sees
    assert json.loads(text.splitlines()[1])["body"] == body
