"""Write commands to a run's `control.jsonl`, the one channel from a face to the engine.

Each command is one JSON object on one line, appended with a single unbuffered `write` on a file
opened for append, so a line from the TUI never interleaves with a line from another writer and
the engine (which reads the file by line count) sees it whole. The JSON is ASCII-only: the engine
splits the file with `str.splitlines`, which would also split at U+2028 and friends in a body.

What the commands mean is the engine's business (`_apply_control`); this module does not check
them beyond "a JSON object with a `cmd`".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CONTROL = "control.jsonl"

COMMANDS = frozenset({"pause", "resume", "step", "stop", "inject", "approve", "reject"})


def send_control(run_dir: Path, cmd: dict[str, Any]) -> str:
    """Append `cmd` to `run_dir/control.jsonl`; returns the line written (without its newline)."""
    if not isinstance(cmd.get("cmd"), str):
        raise ValueError("a control command needs a `cmd`")
    line = json.dumps(cmd, ensure_ascii=True, separators=(",", ":"))
    data = (line + "\n").encode("ascii")
    fd = os.open(run_dir / CONTROL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):  # a regular file takes it whole; say so if it ever does not
            raise OSError(f"short write to {run_dir / CONTROL}: {written} of {len(data)} bytes")
    finally:
        os.close(fd)
    return line


def control_lines(run_dir: Path) -> int:
    """How many command lines control.jsonl holds (the engine's `control_lines` counts those it
    has read)."""
    try:
        data = (run_dir / CONTROL).read_bytes()
    except FileNotFoundError:
        return 0
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
