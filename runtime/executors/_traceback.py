"""Where a crashed experiment failed: the file and line from the end of its log.

A Python traceback ends with the error (`SyntaxError: invalid syntax`) and names, above it, every
frame it passed through (`File "/…/tree/train.py", line 12`). A crash's reason is more use with
the place than without it, so `failure(output, cwd)` returns `train.py:12: SyntaxError: invalid
syntax`: the innermost frame in the experiment's own files (under `cwd`, shown relative to it),
else the innermost frame at all, then the last line of the output. For output that holds no
traceback it returns the last line alone.

It reads text only: it does not open the files it names, and it knows Python's traceback format
and no other language's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)')
_START = "Traceback (most recent call last):"


def _shown(path: str, cwd: Path) -> tuple[str, bool]:
    """`path` relative to `cwd` when it lies under it, and whether it does."""
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:
        return path, False
    inside = not rel.startswith("..") and not os.path.isabs(rel)
    return (rel if inside else path), inside


def failure(output: str, cwd: Path) -> str:
    """`file:line: last line` for a Python traceback in `output`; the last line otherwise."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return "(no output)"
    last = lines[-1].strip()
    starts = [i for i, line in enumerate(lines) if line.startswith(_START)]
    frames = []
    for line in lines[starts[-1] if starts else 0 :]:
        m = _FRAME.match(line)
        if m:
            frames.append((*_shown(m.group("path"), cwd), m.group("line")))
    if not frames:
        return last
    own = [f for f in frames if f[1]]
    path, _, number = (own or frames)[-1]
    return f"{path}:{number}: {last}"


__all__ = ["failure"]
