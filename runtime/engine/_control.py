"""Reading control.jsonl: the commands people and programs send a live run (pause, resume, step,
stop, inject, approve, reject), one JSON object a line.

`ControlReader.read(done)` returns the whole lines after the first `done` ones, parsed: a line
still being written is left for the next read, and the file is read again only when it grew (the
engine asks before every scheduling round). Applying a command is the engine's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Command:
    line: int
    """The command's line in control.jsonl, from 0: the fold counts lines already applied."""
    cmd: dict[str, Any]
    """The parsed object, or {"raw": the line} when it does not parse."""
    problem: str = ""
    """Why the line is not a command ("" when it is one)."""


class ControlReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._size = -1

    def read(self, done: int) -> list[Command]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size == self._size:
            return []
        self._size = size
        text = self.path.read_text(encoding="utf-8", errors="replace")
        lines = text[: text.rfind("\n") + 1].split("\n")[:-1]
        return [_parse(n, lines[n]) for n in range(done, len(lines))]


def _parse(n: int, raw: str) -> Command:
    try:
        cmd = json.loads(raw)
    except ValueError as e:
        return Command(n, {"raw": raw[:200]}, str(e))
    if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
        return Command(n, {"raw": raw[:200]}, "needs a JSON object with a `cmd`")
    return Command(n, cmd)


__all__ = ["Command", "ControlReader"]
