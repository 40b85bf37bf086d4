"""Which namespaces this machine gives an experiment, found once by trying them: the command prefix
(`unshare ...`) that starts the sandbox's first process in them, and what each one is.

Tried from strongest to weakest: new PID, mount (with a fresh /proc) and network namespaces as
root; the same inside a user namespace (`--map-root-user`) for a user without root; then only a
network namespace (`unshare -n`, `unshare -rn`); then nothing. `--kill-child` makes the namespace's
first process die with `unshare` itself, so killing the one process orgloop started ends them all.
Nothing here starts an experiment.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Namespaces:
    prefix: tuple[str, ...] = ()
    pid: bool = False
    """Own PID namespace, the sandbox's first process its PID 1 (and a mount namespace with it)."""
    network: bool = False
    user: bool = False
    """Inside a user namespace: root there, orgloop's own user outside."""

    @property
    def mount(self) -> bool:
        return self.pid  # --mount-proc always comes with a mount namespace


_PID = ("--pid", "--fork", "--kill-child", "--mount-proc")
_USER = ("--user", "--map-root-user")


def _works(prefix: tuple[str, ...]) -> bool:
    try:
        return subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def namespaces(*, pid: bool = True, network: bool = True) -> Namespaces:
    """The strongest namespaces that work here, of those asked for (`network`: no network)."""
    if not shutil.which("unshare") or not (pid or network):
        return Namespaces()
    net = ("--net",) if network else ()
    if pid:
        for user in ((), _USER):
            if _works(prefix := ("unshare", *user, *_PID, *net)):
                return Namespaces(prefix, pid=True, network=network, user=bool(user))
    if network:
        for prefix in (("unshare", "-n"), ("unshare", "-r", "-n")):
            if _works(prefix):
                return Namespaces(prefix, network=True, user="-r" in prefix)
    return Namespaces()


__all__ = ["Namespaces", "namespaces"]
