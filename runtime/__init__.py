"""How an org runs: engine, event log, brains, tools, sandbox, meta, git and the `orgloop` CLI.

    >>> from orgloop.runtime import Engine, OfflineBrain
    >>> engine = Engine.start("my-org", brain=OfflineBrain())
    >>> state = asyncio.run(engine.run())

Filed by seam, arrows pointing one way: the faces here (cli, runner, batch, report, progress,
history, scaffold, find, testing) -> `engine/` -> {`meta/`, `brains/`, `executors/`} -> `core/`
-> `orgloop.org`. Names are imported on first use, so a reader of the log loads only what it
uses.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Engine": "engine",
    "RunError": "core.errors",
    "Brain": "brains.base",
    "BrainPaused": "brains.base",
    "TurnContext": "brains.base",
    "ToolResult": "core.tools",
    "OfflineBrain": "brains.offline",
    "Executor": "executors.base",
    "ExperimentSpec": "executors.base",
    "ExperimentResult": "executors.base",
    "LocalExecutor": "executors.local",
    "Event": "core.events",
    "EventLog": "core.events",
    "LogError": "core.events",
    "read_events": "core.events",
    "RunState": "core.state",
    "fold": "core.state",
    "Run": "core.run",
    "Move": "core.run",
    "Workspace": "core.workspace",
    "FunctionBrain": "testing",
    "NoopBrain": "testing",
    "InstantExecutor": "testing",
    "RecordingRun": "testing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
