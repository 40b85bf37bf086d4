"""The sandbox's first process: sets resource limits, becomes a subreaper, runs the experiment.

Run as `python -m orgloop.runtime._child LIMITS_JSON REPORT_PATH -- CMD...` inside a fresh session.
Being a subreaper means grandchildren that detach (double fork, setsid) are re-parented here rather
than to init, so on SIGTERM this process can find and kill every one of them. It writes the peak
memory of the tree (KiB) to REPORT_PATH and exits with the command's status.
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
from pathlib import Path
from types import FrameType

_PR_SET_CHILD_SUBREAPER = 36


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_tree(signum: int = signal.SIGKILL) -> None:
    for _ in range(3):  # a fork racing the kill can slip one pass
        pids = _descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def main(argv: list[str]) -> int:
    limits, report, sep, *cmd = argv
    assert sep == "--" and cmd
    for name, value in json.loads(limits).items():
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def stop(signum: int, frame: FrameType | None) -> None:
        _kill_tree()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    proc = subprocess.Popen(cmd)
    code = proc.wait()
    _kill_tree()  # whatever the command left running behind it does not outlive it
    while True:  # reap re-parented orphans so their memory is counted
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    Path(report).write_text(str(peak_kib))
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
