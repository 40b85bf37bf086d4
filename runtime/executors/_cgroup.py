"""A cgroup (v2) per experiment, where this machine's cgroup v2 hierarchy is writable: every
process the experiment starts is in it, `kill()` ends them all at once (cgroup.kill), and it
reports the experiment's CPU time and, where the memory controller is on, its peak memory.

The cgroup is made under orgloop's own cgroup, named `orgloop-<orgloop's pid>-<tag>`; the
sandbox's first process joins it before it starts anything. orgloop turns on no controller itself
(that would change the machine's configuration): it uses the ones already delegated to its cgroup,
and records which. Where there is no writable cgroup v2 (a v1-only machine, a user without the
right), `create` returns None and the namespace (or the process-tree sweep) is all there is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._procs import live


def _v2_root() -> Path | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                return Path(left.split()[4])
    return None


def _own_path() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def _sweep(parent: Path) -> None:
    """Remove empty cgroups that orgloop processes which have since died left behind."""
    for old in parent.glob("orgloop-*-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not live(int(pid)):
            with contextlib.suppress(OSError):
                old.rmdir()


@dataclass(frozen=True)
class Cgroup:
    path: Path

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    @property
    def controllers(self) -> list[str]:
        with contextlib.suppress(OSError):
            return (self.path / "cgroup.controllers").read_text().split()
        return []

    def limit_processes(self, count: int) -> bool:
        """pids.max, where the pids controller is delegated: a limit root cannot ignore."""
        try:
            (self.path / "pids.max").write_text(str(count))
            return True
        except OSError:
            return False

    def members(self) -> list[int]:
        with contextlib.suppress(OSError, ValueError):
            return [int(p) for p in self.procs.read_text().split()]
        return []

    def kill(self) -> None:
        try:
            (self.path / "cgroup.kill").write_text("1")
        except OSError:  # before Linux 5.14: one by one
            for pid in self.members():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    out["cpu_s"] = round(int(line.split()[1]) / 1e6, 3)
        with contextlib.suppress(OSError, ValueError):
            out["memory_peak_gb"] = int((self.path / "memory.peak").read_text()) / (1 << 30)
        return out

    def remove(self, patience: float = 2.0) -> bool:
        """Kill what is left and remove the cgroup; False if it would not empty in time."""
        deadline = time.monotonic() + patience
        while True:
            self.kill()
            try:
                self.path.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)


def create(tag: str) -> Cgroup | None:
    """A fresh cgroup for one experiment under orgloop's own, or None where there is none."""
    root, own = _v2_root(), _own_path()
    if root is None or own is None:
        return None
    parent = root / own.lstrip("/")
    _sweep(parent)
    path = parent / f"orgloop-{os.getpid()}-{tag}"
    try:
        path.mkdir()
    except OSError:
        return None
    group = Cgroup(path)
    if not os.access(group.procs, os.W_OK):
        group.remove()
        return None
    return group


__all__ = ["Cgroup", "create"]
