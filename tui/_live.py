"""Whether an engine is running the run: the engine's own word, not the log's age.

An engine holds an exclusive lock on `RUN/engine.lock` for its whole life and the kernel drops
it the moment the process dies (`orgloop.runtime.core.lock`), so a probe tells a live run from a
dead one at once, however long the last experiment has been quiet. The probe takes a shared lock
without waiting and lets go of it; it is repeated at most every `EVERY` seconds.

It does not see engines on other machines sharing the folder over NFS (flock there is only as
good as the server's), and a run recorded before engines took the lock reads as having none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from orgloop.runtime.core.lock import Holder, holder

EVERY = 1.0
"""Seconds a probe's answer is trusted."""


class Liveness:
    """`engine()` is the holder of the run's lock, or None when no engine runs it."""

    def __init__(
        self, run_dir: Path, *, every: float = EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.run_dir = run_dir
        self.every = every
        self.clock = clock
        self._at = -float("inf")
        self._holder: Holder | None = None

    def engine(self) -> Holder | None:
        now = self.clock()
        if now - self._at >= self.every:
            self._holder = holder(self.run_dir)
            self._at = now
        return self._holder

    @property
    def alive(self) -> bool:
        return self.engine() is not None
