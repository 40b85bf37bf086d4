"""The run lock: one engine per run folder, and how readers tell a live run from a dead one.

An engine holds an exclusive `flock` on `RUN/engine.lock` for its whole life. The kernel releases
it when the process dies, however it dies (kill -9 included), so a lock is never stale: the file
may stay behind, but nobody holds it. The file's text names the holder (pid, host, when), for the
message that refuses a second engine.

Readers (`orgloop watch`, `orgloop report`, the TUI's status line) never take the lock for long:
`holder()` tries a shared lock without waiting and lets go at once. An engine that finds the lock
busy retries for a moment before it concludes that another engine holds it, so a reader's probe
never refuses an engine.

What it does not do: it does not lock across machines that share the run folder over NFS (flock
there is only as good as the server's), and it says nothing about a run that never had an engine.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RunError

LOCK_FILE = "engine.lock"
RETRY_SECONDS = 1.0
"""How long an engine keeps trying a busy lock: a reader's probe holds it for microseconds."""


class RunLocked(RunError):
    """Another engine holds the run; the message names it (pid, host, since when)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a run's lock, as its lock file says."""

    pid: int
    host: str
    since: float

    def __str__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on {self.host}, since {when}"


def _read(path: Path) -> Holder:
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    return Holder(
        int(data.get("pid") or 0), str(data.get("host") or "?"), float(data.get("since") or 0)
    )


def _busy(e: OSError) -> bool:
    return e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class RunLock:
    """The exclusive lock of one run folder, held from `acquire()` until `release()` or exit."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, retry: float = RETRY_SECONDS) -> None:
        """Take the lock or raise RunLocked naming the holder."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + retry
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if not _busy(e) or time.monotonic() >= deadline:
                    os.close(fd)
                    if not _busy(e):
                        raise
                    raise RunLocked(
                        f"{self.path.parent} is held by another orgloop engine "
                        f"({_read(self.path)}); wait for it to end, or stop it first"
                    ) from None
                time.sleep(0.02)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode() + b"\n", 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(run_dir: Path) -> Holder | None:
    """Who holds the run now, or None when no engine does (it ended, or died). Probes with a
    shared lock it lets go of at once; it never waits and never blocks an engine for long."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        return _read(path) if _busy(e) else None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE", "Holder", "RunLock", "RunLocked", "holder"]
