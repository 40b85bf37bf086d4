"""The run contract: what a desk may do to a run, and how it asks for what only the engine does.

The toolbox, the meta desk and live edits are desks. Each is handed a `Run` — the org, the state,
the run folder, the workspace, and two ways to write: `emit` an event and `send` a message — and
nothing else of the engine. A desk that changes the org commits through the workspace (objects
only) and returns a `Move`; the engine then makes the log durable, moves the run branch and
replaces its org, in that order, so a crash in between never leaves the branch ahead of the log.

The Engine satisfies `Run`; tests hand desks a small stand-in instead of a whole Engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...org import Org
from .events import Event
from .state import RunState
from .workspace import Workspace


@dataclass(frozen=True)
class Move:
    """Advance the run branch from `old` to `new` (a compare-and-swap) and run the org at `new`."""

    new: str
    old: str


class Run(Protocol):
    """What a desk may do to a run."""

    @property
    def org(self) -> Org: ...

    @property
    def state(self) -> RunState: ...

    @property
    def run_dir(self) -> Path: ...

    @property
    def workspace(self) -> Workspace: ...

    def emit(self, kind: str, data: dict[str, Any]) -> Event:
        """Append an event (buffered: the engine decides when the log is durable)."""
        ...

    def send(
        self,
        sender: str,
        receiver: str,
        kind: str,
        body: str,
        data: dict[str, Any],
        turn: str | None = None,
    ) -> str:
        """Send a message; returns its id. With `turn`, it is delivered when that turn commits."""
        ...


__all__ = ["Move", "Run"]
