"""An experiment's stdout and stderr, copied from a pipe into its log by orgloop, capped.

Up to `cap` bytes the log is the output as it came. Beyond it, the log keeps the first
`cap - tail` bytes, a marker line saying how much was cut, and the last `tail` bytes (a summary,
the metric, the error, is at the end). The experiment is never blocked or ended for printing: the
pipe is drained to the end, and what is cut is only counted. The experiment never holds the log
file itself, so it cannot truncate, delete or rewrite what was recorded. A log the disk refuses
(full, read-only) stops the copying, not the draining: the error is kept for the caller to raise
once the experiment is over, so a full disk never blocks an experiment on a full pipe.
"""

from __future__ import annotations

import os
import select
import threading
from collections import deque
from typing import BinaryIO

TAIL = 1 << 20
"""At most this much of the end of a long output is kept after the cut."""


def cut_marker(cut: int, cap: int) -> bytes:
    return (
        f"\n[orgloop: {cut} bytes of output cut here; the output passed experiment.max_output "
        f"({cap} bytes), so the log keeps its beginning and its last bytes]\n"
    ).encode()


class CappedCopy:
    """Copies everything read from `fd` into `log`, as the module docstring says. `run` is
    blocking (a thread runs it); `stop` ends it even while a stray writer keeps the pipe open."""

    def __init__(self, fd: int, log: BinaryIO, cap: int | None) -> None:
        self.fd, self.log, self.cap = fd, log, cap
        self.tail_keep = min(TAIL, cap // 4) if cap else 0
        self.total = 0
        self.cut = 0
        self.error: OSError | None = None
        """The first write the log refused; nothing more is written after it."""
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _write(self, data: bytes) -> None:
        if self.error is None and data:
            try:
                self.log.write(data)
            except OSError as e:
                self.error = e

    def run(self) -> None:
        head_room = self.cap - self.tail_keep if self.cap else None
        written = 0
        tail: deque[bytes] = deque()
        tail_size = 0
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if not ready:
                continue
            data = os.read(self.fd, 1 << 20)
            if not data:
                break
            self.total += len(data)
            if head_room is None:
                self._write(data)
                written += len(data)
                continue
            if written < head_room:
                part = data[: head_room - written]
                self._write(part)
                written += len(part)
                data = data[len(part) :]
            if data:
                tail.append(data)
                tail_size += len(data)
                while tail and tail_size - len(tail[0]) >= self.tail_keep:
                    tail_size -= len(tail.popleft())
        kept = b"".join(tail)[-self.tail_keep :] if tail and self.tail_keep else b""
        self.cut = self.total - written - len(kept)
        if self.cut > 0 and self.cap:
            self._write(cut_marker(self.cut, self.cap))
        self._write(kept)
        if self.error is None:
            try:
                self.log.flush()
            except OSError as e:
                self.error = e


__all__ = ["TAIL", "CappedCopy", "cut_marker"]
