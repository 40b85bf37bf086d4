"""Output that survives its reader: a text stream whose reader may go away at any moment.

`orgloop run ORG --json | head -5` closes the pipe after five lines; a closed terminal or a lost
ssh session does the same to a run's stdout. Writing on then raises BrokenPipeError (or EIO), and
a run that let that escape would stop half-way with a traceback. `Output` wraps a stream: the first
write that finds the reader gone marks the stream lost, points its file descriptor at /dev/null
(so the interpreter's last flush cannot fail either), calls `on_lost` once, and every later write
is dropped. The run goes on recording to its folder, which is where its facts live anyway.

`ignore_hangup()` makes SIGHUP (the terminal went away) mean the same thing for stdout and stderr
instead of killing the process. What this does not do: it keeps nothing that was written after
the reader left, and it does not reopen a terminal.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

GONE = frozenset({errno.EPIPE, errno.EIO, errno.ENXIO, errno.ECONNRESET, errno.EBADF})
"""What a write raises when nobody reads any more: a closed pipe, a hung-up terminal."""


class Output(io.TextIOBase):
    """`stream`, except that a reader going away is a state (`lost`), never an exception."""

    def __init__(self, stream: TextIO, on_lost: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.stream = stream
        self.on_lost = on_lost
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            with self._guard():
                self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            with self._guard():
                self.stream.flush()

    def lose(self) -> None:
        """The reader is gone: drop everything from now on, and say so once."""
        if self.lost:
            return
        self.lost = True
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        if self.on_lost is not None:
            self.on_lost()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except OSError as e:
            if e.errno not in GONE:
                raise
            self.lose()
        except ValueError:  # "I/O operation on closed file": the stream itself was closed
            self.lose()

    # what rich and print ask of a stream
    def isatty(self) -> bool:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return not self.lost and self.stream.isatty()
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def ignore_hangup(*streams: Output) -> Callable[[], None]:
    """From now on SIGHUP marks `streams` lost instead of killing the process; returns a function
    that restores the handler before. Only the main thread may install it; elsewhere it does
    nothing."""

    def on_hangup(signum: int, frame: object) -> None:
        for s in streams:
            s.lose()

    try:
        before = signal.signal(signal.SIGHUP, on_hangup)
    except (ValueError, AttributeError):  # not the main thread, or no SIGHUP here
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGHUP, before)

    return restore


def wrap_std(on_lost: Callable[[], None] | None = None) -> tuple[Output, Output]:
    """Wrap sys.stdout and sys.stderr in place (idempotent); returns the two wrappers."""
    out = sys.stdout if isinstance(sys.stdout, Output) else Output(sys.stdout, on_lost)
    err = sys.stderr if isinstance(sys.stderr, Output) else Output(sys.stderr)
    sys.stdout, sys.stderr = out, err
    return out, err


__all__ = ["GONE", "Output", "ignore_hangup", "wrap_std"]
