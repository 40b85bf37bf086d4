"""The event log on its own: appends made durable by commit, a torn tail trimmed, and anything else
malformed refused with the line it is on."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgloop.runtime.core.events import KINDS, Event, EventLog, LogError, read_events
from orgloop.runtime.core.state import fold


def write_log(path: Path, n: int) -> list[Event]:
    log = EventLog(path, durable=False)
    out = [log.append("run_started", {"run_id": "r", "branch": "b", "base": "c0"}, 0.0)]
    for i in range(1, n):
        mid = f"m{i}"
        data = {"id": mid, "sender": "human", "receiver": "pi", "kind": "note", "turn": None}
        out.append(log.append("message_sent", {**data, "body": "é" * i, "data": {}}, float(i)))
    log.close()
    return out


def test_appends_reach_the_file_only_on_commit(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path, durable=False)
    log.append("paused", {"reason": "test"}, 1.0)
    assert not path.exists() or path.read_bytes() == b""
    assert log.dirty
    log.commit()
    assert [e.kind for e in read_events(path)] == ["paused"] and not log.dirty
    log.close()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=12), st.data())
def test_a_torn_tail_is_dropped_on_read_and_trimmed_on_reopen(
    tmp_path_factory: pytest.TempPathFactory, n: int, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    events = write_log(path, n)
    raw = path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    path.write_bytes(raw[:cut])
    complete = raw[:cut].count(b"\n")
    assert read_events(path) == events[:complete]
    assert fold(read_events(path)) == fold(events[:complete])
    log = EventLog(path, durable=False, next_seq=complete)  # reopening trims the torn line
    assert path.read_bytes() == raw[: raw[:cut].rfind(b"\n") + 1]
    log.append("paused", {"reason": "after"}, 99.0)
    log.close()
    again = read_events(path)
    assert [e.seq for e in again] == list(range(complete + 1)) and again[-1].kind == "paused"


def test_a_gap_in_the_sequence_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_log(path, 4)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + lines[3:]))
    with pytest.raises(LogError, match=r"events.jsonl:3: event seq 3, expected 2"):
        read_events(path)


@pytest.mark.parametrize(
    "line",
    [
        b"{not json}\n",
        b"[1, 2]\n",
        b'{"seq": 0, "t": 0, "kind": "nope", "data": {}}\n',
        b'{"seq": 0, "t": 0, "kind": "paused", "data": []}\n',
        b'{"hello": "world"}\n',
    ],
)
def test_a_foreign_line_is_refused_with_its_place(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(line)
    with pytest.raises(LogError, match=r"events.jsonl:1: not an orgloop event"):
        read_events(path)


def test_unknown_kinds_are_refused_at_append(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", durable=False)
    with pytest.raises(ValueError, match="unknown event kind"):
        log.append("made_up", {}, 0.0)
    assert "run_started" in KINDS


def test_a_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="no such event log"):
        read_events(tmp_path / "events.jsonl")


def test_events_round_trip_through_json() -> None:
    ev = Event(3, 1.5, "message_sent", {"id": "m3", "body": "naïve ✓", "data": {"n": [1, 2]}})
    assert Event.from_json(ev.to_json()) == ev
