"""The sandbox's first process: confines itself, sets resource limits, runs the experiment, and
ends every process the experiment started.

Run as `python -I -S _child.py SETUP_JSON -- CMD...` (it needs only the standard
library; its siblings `_procs.py` and `_confine.py` are imported as plain files). Where the machine
allows it orgloop starts it as the first process of a new PID, mount (and network) namespace
(`unshare --pid --fork --mount-proc --mount`), so it is PID 1 there: the experiment sees only its
own processes, cannot signal anything outside, cannot kill this process (the kernel ignores
SIGKILL and SIGSTOP sent to a namespace's init from inside it), and when this process exits, every
process in the namespace dies with it. Elsewhere it is a subreaper in a session of its own, and
finds the experiment's processes by descent.

SETUP_JSON holds `limits` (resource name -> bytes or count), `processes` (how many processes the
experiment may add to those its user already runs), `report` (a file descriptor orgloop opened for
the report: a file opened in here would keep the mount busy and stop it turning read-only),
`lifeline` (a pipe orgloop holds the other end
of: when it closes, because orgloop stopped the experiment or died, this process ends the
experiment), `cgroup` (a cgroup.procs file to join first, so everything the experiment starts is
in it) and `confine` (the plan for `_confine.confine`, in a mount namespace only).

It writes a JSON report to `report`: peak resident
memory of the largest process, the limits applied, what confinement took effect, and how many
processes it had to kill when the command ended. It exits with the command's status. Nothing here
limits CPU time (orgloop's timeout does) or GPU memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

try:
    from ._confine import confine, drop_privileges
    from ._procs import descendants, freeze_and_kill, others
except ImportError:  # run by path (python -I -S _child.py): the siblings are plain files beside it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _confine import confine, drop_privileges  # type: ignore[no-redef]
    from _procs import descendants, freeze_and_kill, others  # type: ignore[no-redef]

_PR_SET_CHILD_SUBREAPER = 36


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


def _subreaper() -> bool:
    import ctypes

    try:
        return bool(ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _join(procs: str) -> bool:
    try:
        Path(procs).write_text("0")
        return True
    except OSError:
        return False


class _Experiment:
    """The command and everything it starts; `stop` may come from a thread or a signal."""

    def __init__(self, keep: tuple[int, ...] = ()) -> None:
        self.keep = keep
        """File descriptors the command inherits beyond stdio (the measurement channel)."""
        self.pid_namespace = os.getpid() == 1
        self.lock = threading.Lock()
        self.stopped = False
        self.killed = 0
        self.pid: int | None = None

    def start(self, cmd: list[str]) -> int | None:
        with self.lock:
            if self.stopped:
                return None
            self.pid = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, pass_fds=self.keep).pid
            return self.pid

    def kill_all(self) -> int:
        if self.pid_namespace:  # everything but this process is the experiment's
            found = len(others())
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)
            return found
        return freeze_and_kill(lambda: descendants(os.getpid()))

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
        self.killed += self.kill_all()

    def wait(self, pid: int) -> int:
        """Reap children (orphans are re-parented here) until `pid` exits; its exit code."""
        while True:
            try:
                got, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 0
            if got == pid:
                return os.waitstatus_to_exitcode(status)

    def reap(self, patience: float = 2.0) -> None:
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    time.sleep(0.01)
            except ChildProcessError:
                return


def _watch(lifeline: int, experiment: _Experiment) -> None:
    while True:
        try:
            if os.read(lifeline, 1):
                continue
        except InterruptedError:
            continue
        except OSError:
            pass
        experiment.stop()
        return


def main(argv: list[str]) -> int:
    setup_json, sep, *cmd = argv
    if sep != "--" or not cmd:
        print("usage: _child.py SETUP -- CMD...", file=sys.stderr)
        return 2
    setup: dict[str, Any] = json.loads(setup_json)
    got: dict[str, Any] = {}
    if setup.get("cgroup"):
        got["cgroup_joined"] = _join(setup["cgroup"])
    applied = apply_limits(setup.get("limits", {}), setup.get("processes"))
    measured = setup.get("measured")
    experiment = _Experiment((measured,) if isinstance(measured, int) else ())
    got["pid_namespace"] = experiment.pid_namespace
    if setup.get("confine") is not None:
        got.update(confine(setup["confine"]))
    got.update(drop_privileges())
    got["subreaper"] = experiment.pid_namespace or _subreaper()

    def on_term(signum: int, frame: FrameType | None) -> None:
        experiment.stop()

    signal.signal(signal.SIGTERM, on_term)
    if setup.get("lifeline") is not None:
        threading.Thread(target=_watch, args=(setup["lifeline"], experiment), daemon=True).start()
    try:
        pid = experiment.start(cmd)
        code = 128 + signal.SIGTERM if pid is None else experiment.wait(pid)
    except OSError as e:
        print(f"orgloop sandbox: cannot run {cmd[0]}: {e}", file=sys.stderr)
        code = 127
    leftovers = experiment.kill_all()  # whatever the command left running does not outlive it
    experiment.reap()
    result = {
        "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "limits": applied,
        "leftovers": leftovers + experiment.killed,
        **got,
    }
    if setup.get("report") is not None:
        with contextlib.suppress(OSError), open(setup["report"], "w", closefd=True) as out:
            out.write(json.dumps(result))
    if experiment.stopped:
        return 128 + signal.SIGTERM
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
