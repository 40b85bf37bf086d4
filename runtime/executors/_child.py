"""The sandbox's first process: sets resource limits, becomes a subreaper, runs the experiment.

Run as `python -I -S _child.py SETUP_JSON REPORT_PATH -- CMD...` inside a fresh session (it needs
only the standard library). SETUP_JSON holds `limits` (resource name -> bytes or count) and
`processes` (how many processes the experiment may add to those its user already runs).

Being a subreaper means grandchildren that detach (double fork, setsid) are re-parented here rather
than to init, so when the command exits, or SIGTERM arrives, this process finds every one of them
and kills them: it stops them all first (a stopped process cannot fork), then kills them, so a fork
loop cannot outrun it. It writes a JSON report (peak resident memory of the largest process, the
limits it applied, how many processes it had to kill) to REPORT_PATH and exits with the command's
status.

The parent imports `freeze_and_kill` and `tagged` from here to sweep processes that still carry the
experiment's environment tag after this process is gone (because the experiment killed it, say).
Nothing here limits CPU time (the parent's timeout does) or GPU memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1
TAG = "ORGLOOP_SANDBOX"
"""The environment variable every experiment process inherits; its value names the experiment."""


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state letter) of a process, None when it is gone."""
    try:
        fields = (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0]
    except (OSError, IndexError, ValueError):
        return None


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


def _user_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += 1
    return count


def apply_limits(limits: dict[str, int], processes: int | None) -> dict[str, int]:
    """Set each limit (soft and hard, so the experiment cannot raise it back), never above the
    hard limit we were given; returns what was applied."""
    wanted = dict(limits)
    if processes is not None:
        # RLIMIT_NPROC counts every process of the user, not just ours: allow what runs already.
        wanted["RLIMIT_NPROC"] = _user_processes() + processes
    applied = {}
    for name, value in wanted.items():
        res = getattr(resource, name)
        hard = resource.getrlimit(res)[1]
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(res, (value, value))
            applied[name] = value
    return applied


def main(argv: list[str]) -> int:
    setup_json, report, sep, *cmd = argv
    if sep != "--" or not cmd:
        print("usage: _child.py SETUP REPORT -- CMD...", file=sys.stderr)
        return 2
    setup: dict[str, Any] = json.loads(setup_json)
    applied = apply_limits(setup.get("limits", {}), setup.get("processes"))
    try:
        subreaper = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        subreaper = -1
    stopped = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopped
        stopped = True
        freeze_and_kill(lambda: descendants(os.getpid()))

    signal.signal(signal.SIGTERM, stop)
    # If orgloop itself dies (kill -9), this process hears SIGTERM and takes the experiment with
    # it: nothing keeps training, unwatched and past its timeout, after the run is gone.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # orgloop died before the line above took effect
        return 137
    try:
        proc = subprocess.Popen(cmd)
        code = proc.wait()
    except OSError as e:
        print(f"orgloop sandbox: cannot run {cmd[0]}: {e}", file=sys.stderr)
        code = 127
    # Whatever the command left running behind it does not outlive it.
    leftovers = freeze_and_kill(lambda: descendants(os.getpid()))
    while True:  # reap the re-parented orphans, so their memory is counted
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    out = {
        "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "limits": applied,
        "subreaper": subreaper == 0,
        "leftovers": leftovers,
    }
    with contextlib.suppress(OSError):  # the experiment may have deleted the report's folder
        Path(report).write_text(json.dumps(out))
    if stopped:
        return 128 + signal.SIGTERM
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
