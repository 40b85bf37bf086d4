"""Tail `events.jsonl` incrementally: each `read()` returns the events appended since the last one.

It keeps the byte offset of the first line it has not consumed. A torn last line — the engine in
the middle of a write — is left for the next read. A line that does not parse is counted in `bad`
and skipped, so a viewer never dies on a damaged log (the engine's own reader is the strict one).
A file that shrank below the offset was replaced (a new run in the same folder, or a hand edit):
`read()` raises `LogReplaced` and the caller starts over.

Two things keep a long log cheap to open. Kinds named in `skim` (the app's reader never looks at a
`tool_call`'s arguments or result, which can hold whole files) are read for `seq` and `t` only, as
long as the line starts the way `Event.to_json` writes it; any other line is parsed in full. And a
large batch is parsed with the cyclic garbage collector paused: the parsed events are plain trees
of dicts and strings, and collections while a hundred thousand of them are made cost more than
the parsing.

It does not watch the file (no inotify): the app calls `read()` on a timer, and an unchanged size
costs one `stat`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from orgloop.runtime.core.events import KINDS, Event

CHUNK = 4 << 20
"""Most bytes one read takes (its events are parsed before the next chunk is read): small enough
that each chunk's bytes are freed and reused by the next, rather than a long log's whole text
being held (and the memory for it faulted in) at once."""
BIG_BATCH = 5000
"""Lines from which a batch is parsed with the garbage collector paused."""


class LogReplaced(Exception):
    """events.jsonl is now shorter than what was already read."""


@contextmanager
def paused_gc(paused: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (if it was running)."""
    was = gc.isenabled()
    if paused and was:
        gc.disable()
    try:
        yield
    finally:
        if paused and was:
            gc.enable()


class LogTail:
    def __init__(self, path: Path, *, skim: frozenset[str] = frozenset()) -> None:
        self.path = path
        self.offset = 0
        """Bytes consumed: every complete line before it has been returned."""
        self.bad = 0
        """Lines skipped because they were not orgloop events."""
        self._skim = [(kind, f',"kind":"{kind}"'.encode()) for kind in sorted(skim)]

    def pending_bytes(self) -> int:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return 0
        if size < self.offset:
            raise LogReplaced(f"{self.path} shrank from {self.offset} to {size} bytes")
        return size - self.offset

    def read(self) -> list[Event]:
        """The complete events appended since the last call, in order."""
        if self.pending_bytes() == 0:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(CHUNK)
            if len(data) == CHUNK and b"\n" not in data:  # one line longer than a chunk
                data += f.read()
        end = data.rfind(b"\n") + 1
        if end == 0:
            return []  # a torn line: not yet a fact
        self.offset += end
        lines = data.splitlines()
        if end < len(data):
            lines.pop()  # the torn last line waits for its end
        events = []
        with paused_gc(len(lines) >= BIG_BATCH):
            for line in lines:
                ev = self._parse(line)
                if ev is not None:
                    events.append(ev)
        return events

    def _parse(self, line: bytes) -> Event | None:
        try:
            for kind, tag in self._skim:
                at = line.find(tag, 0, 80)  # the kind sits in the head of the line
                if at > 0 and line.startswith(b'{"seq":'):
                    meta = orjson.loads(line[:at] + b"}")
                    return Event(int(meta["seq"]), float(meta["t"]), kind, {})
            obj = orjson.loads(line)
            kind, data = obj["kind"], obj["data"]
            if kind not in KINDS or not isinstance(data, dict):
                raise ValueError(f"not an orgloop event: {kind!r}")
            return Event(int(obj["seq"]), float(obj["t"]), kind, data)
        except (ValueError, KeyError, TypeError):
            if line.strip():
                self.bad += 1
            return None
