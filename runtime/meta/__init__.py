"""The org rewriting itself: the meta desk (`desk.py`) judges and measures meta edits; `reload.py`
validates and commits one edit, and applies a person's edits to role files while a run is live."""

from __future__ import annotations

from .desk import MetaDesk
from .reload import LiveEdits, RoleWatcher

__all__ = ["LiveEdits", "MetaDesk", "RoleWatcher"]
