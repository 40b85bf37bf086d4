"""Reading control.jsonl: the commands people and programs send a live run (pause, resume, step,
stop, inject, approve, reject), one JSON object a line.

`ControlReader.read(done)` returns the whole lines after the first `done` ones, parsed: a line
still being written is left for the next read, and the file is read again only when it grew (the
engine asks before every scheduling round). A line that is no command (garbage, binary, another
program's JSON) comes back with its problem, and the lines after it are read as usual; a file that
cannot be read at all is said once, as line -1. Applying a command is the engine's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.text import clip, errno_words


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
        self._problem = ""

    def read(self, done: int) -> list[Command]:
        try:
            size = self.path.stat().st_size
            if size == self._size:
                return []
            self._size = size
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as e:
            return self._unreadable(e)
        lines = text[: text.rfind("\n") + 1].split("\n")[:-1]
        return [_parse(n, lines[n]) for n in range(done, len(lines))]

    def _unreadable(self, e: OSError) -> list[Command]:
        """Say once (as line -1) that the file cannot be read; the run goes on without it."""
        problem = f"control.jsonl cannot be read ({errno_words(e)}); commands are not heard"
        if problem == self._problem:
            return []
        self._problem = problem
        return [Command(-1, {}, problem)]


def _parse(n: int, raw: str) -> Command:
    try:
        cmd = json.loads(raw)
    except ValueError as e:
        return Command(n, {"raw": clip(raw, 200)}, str(e))
    if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
        return Command(n, {"raw": clip(raw, 200)}, "needs a JSON object with a `cmd`")
    return Command(n, cmd)


__all__ = ["Command", "ControlReader"]
