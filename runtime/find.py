"""Finding what a command was pointed at: a run folder, an org folder, or neither.

Every command that takes a RUN or an ORG resolves it here, so each says the same thing about a
path that is not what it needs: what was found there, and what to give instead. With no argument,
the current folder is tried first, then the `orgloop-*` folders that `orgloop run` makes for the
built-in org (the newest first), so `orgloop watch` and `orgloop history` right after `orgloop run`
find that run.

Runs are ordered by their ids, which begin with the start time (`20261201-213901-c459`). Nothing
here reads events beyond checking that the log exists and, to list runs with their state, the kind
of its last line; the commands open what they are given.
"""

from __future__ import annotations

import json
from pathlib import Path

from .core.lock import holder

RUNS = Path(".orgloop") / "runs"
EVENTS = "events.jsonl"


class FindError(Exception):
    """The path is not what the command needs; the message says what it is and what to give."""


def is_run(path: Path) -> bool:
    return (path / EVENTS).is_file()


def is_org(path: Path) -> bool:
    """An org folder: it has ORG.md, or an autoresearch program.md, or runs of its own."""
    return (path / "ORG.md").is_file() or (path / "program.md").is_file() or (path / RUNS).is_dir()


def runs_of(org: Path) -> list[Path]:
    """The org's run folders that hold an event log, oldest first."""
    folder = org / RUNS
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_run(p)), key=lambda p: p.name)


def _candidates(cwd: Path) -> list[Path]:
    """The orgs a bare command means: the current folder, then `orgloop-*` (newest run first)."""
    made = [p for p in cwd.glob("orgloop-*") if p.is_dir() and is_org(p)]
    made.sort(key=lambda p: runs_of(p)[-1].name if runs_of(p) else "", reverse=True)
    return ([cwd] if is_org(cwd) else []) + made


def run_state(run: Path) -> str:
    """A run's state in a few words: held by an engine (pid, host), finished, or stopped."""
    live = holder(run)
    if live is not None:
        return f"running: {live}"
    try:
        with open(run / EVENTS, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            tail = f.read().split(b"\n")
        last = json.loads(next(line for line in reversed(tail[:-1]) if line.strip()))
        kind = last.get("kind") if isinstance(last, dict) else None
    except (OSError, ValueError, StopIteration):
        return "unreadable log"
    return "finished" if kind == "run_finished" else "stopped; resume it"


def list_runs(org: Path, limit: int = 10) -> str:
    """The org's newest runs, one per line with its state, for a message that asks the user to
    pick one."""
    runs = runs_of(org)
    if not runs:
        return f"{org} has no runs yet (start one with: orgloop run {org})"
    lines = [f"  {p}  ({run_state(p)})" for p in runs[-limit:][::-1]]
    more = f"\n  … and {len(runs) - limit} older" if len(runs) > limit else ""
    return f"runs of {org}, newest first:\n" + "\n".join(lines) + more


def describe(path: Path) -> str:
    """What is at `path`, in a few words, for an error message."""
    if not path.exists():
        return "nothing (no such file or folder)"
    if path.is_file():
        return "a file, not a folder"
    if is_run(path):
        return "a run folder"
    if is_org(path):
        return "an org folder"
    return "a folder that is neither a run (no events.jsonl) nor an org (no ORG.md or program.md)"


def find_run(arg: Path | None, cwd: Path | None = None) -> Path:
    """The run folder a command means: `arg` itself when it is a run, the newest run of `arg`
    when it is an org, and with no `arg` the newest run under the current folder or `orgloop-*`.
    Raises FindError saying what was found instead."""
    cwd = (cwd or Path.cwd()).resolve()
    if arg is None:
        for org in _candidates(cwd):
            runs = runs_of(org)
            if runs:
                return runs[-1]
        raise FindError(
            f"no run under {cwd} or its orgloop-* folders; give a run folder "
            "(ORG/.orgloop/runs/ID) or an org folder"
        )
    path = arg if arg.is_absolute() else cwd / arg
    if is_run(path):
        return path
    if path.is_dir() and is_org(path):
        runs = runs_of(path)
        if runs:
            return runs[-1]
        raise FindError(f"{arg} is an org folder with no runs yet (start one: orgloop run {arg})")
    raise FindError(f"{arg} is {describe(path)}; give a run folder (ORG/.orgloop/runs/ID)")


def find_org(arg: Path | None, cwd: Path | None = None) -> Path:
    """The org folder a command means: `arg` when it is an org (a run folder means its org), and
    with no `arg` the current folder or the newest `orgloop-*`. Raises FindError otherwise."""
    cwd = (cwd or Path.cwd()).resolve()
    if arg is None:
        found = _candidates(cwd)
        if found:
            return found[0]
        raise FindError(f"{cwd} is not an org folder (no ORG.md); give an org folder")
    path = arg if arg.is_absolute() else cwd / arg
    if path.is_file() and path.name in ("ORG.md", "program.md"):
        return path.parent
    if is_run(path) and path.parent.parent.name == ".orgloop":
        return path.parent.parent.parent
    if path.is_dir() and is_org(path):
        return path
    raise FindError(f"{arg} is {describe(path)}; give an org folder (one with ORG.md)")


__all__ = [
    "EVENTS",
    "RUNS",
    "FindError",
    "describe",
    "find_org",
    "find_run",
    "is_org",
    "is_run",
    "list_runs",
    "run_state",
    "runs_of",
]
