"""The engine: steps an org through its message graph until its budget is spent (see
`engine.py`). Run setup lives in `_setup.py`."""

from __future__ import annotations

from ..core.errors import RunError
from .engine import NO_BASELINE, RUNS, Engine

__all__ = ["NO_BASELINE", "RUNS", "Engine", "RunError"]
