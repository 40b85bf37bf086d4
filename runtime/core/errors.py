"""The errors a run ends with, importable without loading the engine.

`RunError`: a run cannot start or resume (the CLI reports it as bad input, exit 2). `RunStopped`:
a run that was going stopped short for a reason outside the org — the disk filled up, the run
folder became read-only — with its log whole up to its last durable event, so `orgloop resume`
continues it once the cause is fixed (the CLI exits 1). `disk_trouble(e)` tells the second kind of
cause from a bug: an OSError (or git's words for one) that says the machine cannot take the write.
"""

from __future__ import annotations

import errno

DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
"""What a write raises when the fault is the machine's, not the run's."""

_GIT_WORDS = ("No space left on device", "Disk quota exceeded", "Read-only file system")
"""How git (a separate process) says the same; its exit code alone does not tell."""


class RunError(Exception):
    """A run cannot start or resume; the message says why and what to do."""


class RunStopped(Exception):
    """A run stopped short because the machine refused a write; the message says what to fix
    and how to go on (`orgloop resume RUN`). Nothing already in the log is lost."""


def disk_trouble(e: BaseException) -> bool:
    """True when `e` says the disk cannot take a write (full, over quota, read-only, failing)."""
    if isinstance(e, OSError):
        return e.errno in DISK_ERRNOS
    return isinstance(e, RuntimeError) and any(w in str(e) for w in _GIT_WORDS)


__all__ = ["DISK_ERRNOS", "RunError", "RunStopped", "disk_trouble"]
