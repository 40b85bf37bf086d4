"""Finding and ending an experiment's processes through /proc: its descendants, the processes that
still carry its environment tag, and a kill that stops them all first so a fork loop cannot
outrun it.

Used on both sides of the sandbox: by its first process (`_child.py`, run by path with the standard
library only, which imports this file as a plain module) and by orgloop, for the sweep after the
first process is gone. Nothing here decides when to kill; callers do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

TAG = "ORGLOOP_SANDBOX"
"""The environment variable every experiment process inherits; its value names the experiment."""


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state letter) of a process, None when it is gone."""
    try:
        fields = (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0]
    except (OSError, IndexError, ValueError):
        return None


def live(pid: int) -> bool:
    st = _stat(str(pid))
    return st is not None and st[1] not in ("Z", "X")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(entry.name)) is not None and st[1] != "Z":
            children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def others() -> list[int]:
    """Every live process this one can see but itself: in a PID namespace of our own, that is
    exactly the experiment."""
    me = os.getpid()
    return [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and int(e.name) != me and live(int(e.name))
    ]


def tagged(value: str) -> list[int]:
    """Live processes whose environment holds TAG=value (this process excluded)."""
    needle = f"{TAG}={value}".encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and (st := _stat(entry.name)) and st[1] != "Z":
            out.append(int(entry.name))
    return out


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _wait_stopped(pids: Iterable[int], deadline: float) -> None:
    for pid in pids:
        while time.monotonic() < deadline:
            st = _stat(str(pid))
            if st is None or st[1] in "TtZX":
                break
            time.sleep(0.001)


def freeze_and_kill(find: Callable[[], Iterable[int]], *, patience: float = 1.0) -> int:
    """SIGSTOP every process `find` returns until it finds no new one, then SIGKILL them all;
    returns how many there were. Stopping first is what makes a fork loop finite."""
    frozen: set[int] = set()
    deadline = time.monotonic() + patience
    while True:
        new = set(find()) - frozen
        if not new:
            break
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        frozen |= new
        _wait_stopped(new, deadline)
        if time.monotonic() > deadline:
            break  # processes that will not stop (uninterruptible sleep): kill what we have
    for pid in frozen:
        _signal(pid, signal.SIGKILL)
    for pid in set(find()) - frozen:  # anything that slipped through the last scan
        _signal(pid, signal.SIGKILL)
    return len(frozen)


__all__ = ["TAG", "descendants", "freeze_and_kill", "live", "others", "tagged"]
