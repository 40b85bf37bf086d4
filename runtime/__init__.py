"""How an org runs: engine, event log, brains, tools, sandbox, meta, git and the `orgloop` CLI.

    >>> from orgloop.runtime import Engine, OfflineBrain
    >>> engine = Engine.start("my-org", brain=OfflineBrain())
    >>> state = asyncio.run(engine.run())

Names are imported on first use, so the sandbox's first process (`python -m
orgloop.runtime._child`) starts without loading the engine.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Engine": "engine",
    "RunError": "engine",
    "Brain": "brain",
    "BrainPaused": "brain",
    "TurnContext": "brain",
    "ToolResult": "tools",
    "OfflineBrain": "offline",
    "Executor": "executor",
    "ExperimentSpec": "executor",
    "ExperimentResult": "executor",
    "LocalExecutor": "executor",
    "Event": "events",
    "EventLog": "events",
    "LogError": "events",
    "read_events": "events",
    "RunState": "state",
    "fold": "state",
    "FunctionBrain": "testing",
    "NoopBrain": "testing",
    "InstantExecutor": "testing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
