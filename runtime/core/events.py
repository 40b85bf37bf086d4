"""The event log: every fact about a run, appended to `events.jsonl`, one JSON object a line.

Each line is `{"seq": N, "t": unix seconds, "kind": "...", "data": {...}}`. A run's state is a
fold over its events (`state.fold`), so resuming is replaying. The log only
appends and reads. Appends are buffered and made durable together by `commit()` (write, flush,
fsync): the engine commits before anything leaves the process (an experiment starting, a branch
moving), so the durable log is always a prefix of what happened. A torn last line — a crash in the
middle of a write — is tolerated on read and trimmed on reopen.

Event kinds (the `data` each carries is documented in docs/architecture.md):
run_started, run_resumed, message_sent, turn_started, llm_call, tool_call, turn_completed,
experiment_started, experiment_finished, decision, org_proposed, org_edited, org_rejected,
org_reverted, control, budget_exhausted, paused, resumed, error, run_finished.
"""

from __future__ import annotations

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
        "tool_call",
        "turn_completed",
        "experiment_started",
        "experiment_finished",
        "decision",
        "org_proposed",
        "org_edited",
        "org_rejected",
        "org_reverted",
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
                raise LogError(
                    f"{path}:{lineno}: not an orgloop event ({e}); "
                    "is this an orgloop run folder? If it was truncated by hand, cut it before "
                    "this line"
                ) from None
            if expect is not None and ev.seq != expect:
                raise LogError(f"{path}:{lineno}: event seq {ev.seq}, expected {expect}")
            expect = ev.seq + 1
            yield ev


class EventLog:
    """Appends events; `commit()` makes everything appended so far durable in one fsync."""

    def __init__(self, path: Path, *, durable: bool = True, next_seq: int = 0) -> None:
        self.path = path
        self.durable = durable
        self.next_seq = next_seq
        self._buffer: list[bytes] = []
        self._trim_torn_tail()
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

    def commit(self) -> None:
        if not self._buffer:
            return
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - open until close()
        self._file.write(b"".join(self._buffer))
        self._buffer.clear()
        self._file.flush()
        if self.durable:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Commit and release the file; appending again reopens it."""
        self.commit()
        if self._file is not None:
            self._file.close()
            self._file = None
