"""The event log: every fact about a run, appended to `events.jsonl`, one JSON object a line.

Each line is `{"seq": N, "t": unix seconds, "kind": "...", "data": {...}}`. A run's state is a
fold over its events (`state.fold`), so resuming is replaying. The log only
appends and reads. Appends are buffered and made durable together by `commit()` (write, flush,
fsync): the engine commits before anything leaves the process (an experiment starting, a branch
moving), so the durable log is always a prefix of what happened. A torn last line — a crash in the
middle of a write — is tolerated on read and trimmed on reopen; a commit the disk refuses is cut
back off the file. A log that is not orgloop's, is damaged mid-way, or was written by two engines
at once (seq numbers repeat) is a LogError that says which of these it is and what to do.

Event kinds (the `data` each carries is documented in docs/architecture.md):
run_started, run_resumed, message_sent, turn_started, llm_call, api_waiting, reply_cut, refusal,
tool_call, turn_undone, turn_completed, experiment_started, experiment_finished, decision,
org_proposed, org_edited, org_rejected, org_reverted, org_trial, control, budget_exhausted, paused,
resumed, error, run_finished.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

FORMAT = 1
"""Bumped when an event's meaning changes; run_started records it."""

KINDS = frozenset(
    {
        "run_started",
        "run_resumed",
        "message_sent",
        "turn_started",
        "llm_call",
        "api_waiting",
        "reply_cut",
        "refusal",
        "tool_call",
        "turn_undone",
        "turn_completed",
        "experiment_started",
        "experiment_finished",
        "decision",
        "org_proposed",
        "org_edited",
        "org_rejected",
        "org_reverted",
        "org_trial",
        "control",
        "budget_exhausted",
        "paused",
        "resumed",
        "error",
        "run_finished",
    }
)


class LogError(Exception):
    """events.jsonl is not an orgloop event log, or is corrupt before its last line."""


@dataclass(frozen=True)
class Event:
    seq: int
    t: float
    kind: str
    data: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"seq": self.seq, "t": round(self.t, 6), "kind": self.kind, "data": self.data},
            default=str,
            option=orjson.OPT_NON_STR_KEYS,
        )

    @staticmethod
    def from_json(line: bytes | str) -> Event:
        obj = orjson.loads(line)
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        seq, t, kind, data = obj["seq"], obj["t"], obj["kind"], obj["data"]
        if not isinstance(seq, int) or not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"not an orgloop event: kind {kind!r}")
        if not isinstance(data, dict):
            raise ValueError("its data is not an object")
        return Event(seq, float(t), kind, data)


def read_events(path: Path) -> list[Event]:
    """All complete events. A torn final line is dropped; anything else malformed is a LogError
    that names the line."""
    return list(iter_events(path))


def iter_events(path: Path, start: int = 0) -> Iterator[Event]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; bytes so offsets are exact
    except FileNotFoundError:
        raise LogError(f"{path}: no such event log") from None
    with f:
        f.seek(start)
        expect = None
        for lineno, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                return  # torn tail from a crash mid-write: not yet a fact
            try:
                ev = Event.from_json(raw)
            except (ValueError, KeyError, TypeError) as e:
                raise LogError(_not_an_event(path, lineno, start, e)) from None
            if expect is not None and ev.seq != expect:
                raise LogError(_out_of_order(path, lineno, ev.seq, expect))
            expect = ev.seq + 1
            yield ev


def _not_an_event(path: Path, lineno: int, start: int, e: Exception) -> str:
    if lineno == 1 and start == 0:
        return (
            f"{path}:1: not an orgloop event log ({e}); is this an orgloop run folder? "
            "Give the folder orgloop made (ORG/.orgloop/runs/ID)"
        )
    return (
        f"{path}:{lineno}: not an orgloop event ({e}): the log is damaged from this line on. "
        f"`orgloop report` still reads the rest; to resume, move line {lineno} and after out of "
        "the log (the run goes on from the line before)"
    )


def _out_of_order(path: Path, lineno: int, seq: int, expect: int) -> str:
    if seq < expect:  # a number written again: two engines appended to one log
        return (
            f"{path}:{lineno}: event seq {seq} again, after {expect - 1}: two engines wrote "
            "this log at once (an orgloop older than its run lock let a second `orgloop resume` "
            "in), so the events from here on mix two runs and cannot be replayed. `orgloop "
            "report` still reads it; start a new run to go on"
        )
    return (
        f"{path}:{lineno}: event seq {seq}, expected {expect}: {seq - expect} event(s) are "
        "missing before this line (was the log edited?); it cannot be replayed safely"
    )


class EventLog:
    """Appends events; `commit()` makes everything appended so far durable in one fsync.

    A commit the disk refuses (full, read-only) is undone: the file is cut back to what was
    durable before it, so a half-written batch never reaches a reader or the next commit, and
    the OSError is raised. The events stay buffered; `abandon()` drops them when the run stops."""

    def __init__(self, path: Path, *, durable: bool = True, next_seq: int = 0) -> None:
        self.path = path
        self.durable = durable
        self.next_seq = next_seq
        self._buffer: list[bytes] = []
        self._trim_torn_tail()
        self._size = path.stat().st_size if path.exists() else 0
        """Bytes of the file that hold whole, committed events."""
        self._file: BinaryIO | None = None

    def _trim_torn_tail(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, kind: str, data: dict[str, Any], t: float) -> Event:
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        ev = Event(self.next_seq, t, kind, data)
        self.next_seq += 1
        self._buffer.append(ev.to_json() + b"\n")
        return ev

    @property
    def dirty(self) -> bool:
        return bool(self._buffer)

    @property
    def durable_seq(self) -> int:
        """The seq of the last event committed (durable), -1 before the first."""
        return self.next_seq - len(self._buffer) - 1

    def commit(self) -> None:
        if not self._buffer:
            return
        batch = b"".join(self._buffer)
        try:
            if self._file is None:
                self._file = open(self.path, "ab")  # noqa: SIM115 - open until close()
            self._file.write(batch)
            self._file.flush()
            if self.durable:
                os.fsync(self._file.fileno())
        except OSError:
            self._undo()
            raise
        self._size += len(batch)
        self._buffer.clear()

    def _undo(self) -> None:
        """Cut the file back to its last whole commit and forget the open handle (its buffer may
        hold part of the batch); cutting frees space, so it works on a full disk too."""
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(f.fileno(), self._size)
            with contextlib.suppress(OSError):
                f.close()  # a flush of the rest of its buffer may fail again: it is cut anyway
        with contextlib.suppress(OSError):
            if self.path.stat().st_size > self._size:
                os.truncate(self.path, self._size)

    def abandon(self) -> None:
        """Drop what was never made durable and release the file: the run stopped short, and
        resuming replays only what is whole on disk."""
        self._buffer.clear()
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()

    def close(self) -> None:
        """Commit and release the file; appending again reopens it."""
        self.commit()
        if self._file is not None:
            self._file.close()
            self._file = None
