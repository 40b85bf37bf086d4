"""Org edits on a live run: validate one, commit it on the run branch, apply it between turns.

Two kinds of edit reach a running org. The meta desk (`desk.py`) proposes edits from the meta role's
turns; a person edits a role file in the org folder while the run is live. Both go through here:

- `candidate(workspace, base, path, text)` loads the org at commit `base` with one file replaced,
  from a throwaway copy, and runs parse plus lint: the edit is refused unless the org would still
  run.
- `apply_edit` commits the file on top of the run's incumbent (the latest one, so an edit never
  drops another) and appends `org_edited`; it returns the `Move` that the engine applies (the log
  made durable, the run branch moved, the org reloaded from the new commit).
- `merge3` combines an edit made against an older version of a file with the newer one (git's
  three-way merge), so a human edit and a meta edit that land together both survive.
- `LiveEdits` watches the org's role folder with watchdog. Editors that save through a temp file
  and a rename, and vim's backup dance (rename to `file~`, write, delete the backup), both end as
  a changed `*.md`; changes are debounced and applied by `poll()`, which the engine calls at a safe
  point of its loop, never from the watcher's thread.

What it does not do: it never writes into the user's org folder (so the runtime's own writes cannot
trigger a reload), it ignores deleted role files (a role leaves an org by a deliberate commit, not
by a half-finished save), and it does not decide which edits are allowed beyond "the org still
loads and lints" — the meta desk's guardrails (protected files, size) live in `desk.py`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ...org import Org, OrgError, Role, lint, load_org
from ..core.git import Git
from ..core.run import Move, Run
from ..core.state import RunState
from ..core.text import unified
from ..core.workspace import Workspace

HUMAN_AUTHOR = ("human", "human@localhost")
DEBOUNCE = 0.15
"""Seconds a role file must stay quiet before its change is applied: one save is several events."""


# ---- validating and committing one edit
def candidate(workspace: Workspace, base: str, path: str, text: str) -> tuple[Org | None, str]:
    """(the org as it would be, "") or (None, why not): parse and lint of `base` with `path`
    replaced by `text`, loaded from a temporary copy (the run's own snapshot stays untouched)."""
    with tempfile.TemporaryDirectory(prefix="orgloop-candidate-") as tmp:
        dest = Path(tmp)
        workspace.export(base, dest)
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        try:
            org = load_org(dest)
        except OrgError as e:
            return None, _relative(str(e), tmp)
        errors = [f for f in lint(org) if f.severity == "error"]
        if errors:
            return None, _relative("\n".join(str(f) for f in errors[:5]), tmp)
        return org, ""


def _relative(text: str, tmp: str) -> str:
    return text.replace(tmp + os.sep, "").replace(tmp, ".")


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """`theirs` with the change from `base` to `ours` applied; None when the two conflict."""
    if ours in (base, theirs):
        return theirs
    if theirs == base:
        return ours
    with tempfile.TemporaryDirectory(prefix="orgloop-merge-") as tmp:
        files = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = Path(tmp) / name
            p.write_text(text, encoding="utf-8")
            files.append(str(p))
        proc = subprocess.run(
            ["git", "merge-file", "-p", "--quiet", *files], capture_output=True, text=True
        )
    return proc.stdout if proc.returncode == 0 else None


def role_at(org: Org, path: str) -> Role | None:
    return next((r for r in org.roles.values() if org.role_file(r) == path), None)


def next_generation(state: RunState) -> int:
    """The next org generation: after every edit made, and every one waiting for approval."""
    done = [state.generation, *(int(e.get("generation", 0)) for e in state.org_edits)]
    return 1 + max(done + list(state.proposals))


def apply_edit(
    run: Run,
    path: str,
    text: str,
    data: dict[str, Any],
    *,
    author: tuple[str, str],
    message: str,
) -> Move:
    """Commit `path` = `text` on the incumbent and append `org_edited` (with `data`); returns the
    move from the old incumbent to the new commit, for the engine to apply."""
    s, ws = run.state, run.workspace
    old = s.incumbent
    before = ws.read(old, path) or ""
    new = ws.commit_file(old, path, text, message, len(s.experiments) + 1, author)
    run.emit(
        "org_edited",
        {
            **data,
            "file": path,
            "commit": new,
            "parent": old,
            "diff": unified(path, before, text),
        },
    )
    return Move(new, old)


def human_identity(repo: Git) -> tuple[str, str]:
    """The person's git identity, or `human` where none is configured."""
    name = repo.run("config", "user.name", check=False).strip()
    email = repo.run("config", "user.email", check=False).strip()
    return (name or HUMAN_AUTHOR[0], email or HUMAN_AUTHOR[1])


# ---- watching the org folder
class RoleWatcher(FileSystemEventHandler):
    """Names of `*.md` files in one folder that changed and have been quiet for `debounce` s.

    Its callbacks run on watchdog's thread and only record names under a lock; `ready()` hands
    them to the engine's thread. Moves count by their destination (the temp-file-and-rename save),
    creations and writes by their path; deletions and backup files (`file~`) are ignored.
    """

    def __init__(self, folder: Path, debounce: float = DEBOUNCE) -> None:
        super().__init__()
        self.folder = folder
        self.debounce = debounce
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._observer: Any = None

    def start(self) -> None:
        self._observer = Observer()
        self._observer.schedule(self, str(self.folder), recursive=False)
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if event.event_type == "moved":
            raw = event.dest_path
        elif event.event_type in ("created", "modified", "closed"):
            raw = event.src_path
        else:
            return
        path = Path(os.fsdecode(raw))
        if path.suffix != ".md" or path.parent != self.folder:
            return
        with self._lock:
            self._seen[path.name] = time.monotonic()

    def ready(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            names = sorted(n for n, t in self._seen.items() if now - t >= self.debounce)
            for n in names:
                del self._seen[n]
        return names


class LiveEdits:
    """Human edits of role files during a run: watched, validated, committed, handed back as
    moves for the engine to apply."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.watcher: RoleWatcher | None = None
        self.folder = ""
        self._disk: dict[str, str] = {}
        """Each role file as last seen in sync on disk: the base a human edit is merged from."""
        self._refused: dict[str, str] = {}

    def start(self) -> None:
        org = self.run.org
        folders = {str(Path(p).parent) for p in (org.role_file(r) for r in org.roles.values()) if p}
        if len(folders) != 1:
            return  # roles from the default library (or scattered): nothing of the user's to watch
        self.folder = folders.pop()
        folder = org.root / self.folder
        if not folder.is_dir():
            return
        for f in folder.glob("*.md"):
            self._disk[f"{self.folder}/{f.name}"] = f.read_text(encoding="utf-8", errors="replace")
        self.watcher = RoleWatcher(folder)
        self.watcher.start()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def poll(self) -> list[Move]:
        if self.watcher is None:
            return []
        moves = [self.apply(f"{self.folder}/{name}") for name in self.watcher.ready()]
        return [m for m in moves if m is not None]

    def apply(self, path: str) -> Move | None:
        """Validate and commit the file at `path` as the human's edit (the move to apply), or
        reject it with a reason (None)."""
        run = self.run
        ws, state = run.workspace, run.state
        try:
            text = (run.org.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None  # gone or mid-save; the next event brings the finished file
        if text == self._disk.get(path) or text == self._refused.get(path):
            return None
        current = ws.read(state.incumbent, path)
        merged = merge3(self._disk.get(path, current or ""), text, current or "")
        who = human_identity(ws.repo)
        reason = ""
        if merged is None:
            reason = f"{path}: the edit conflicts with the run's newer version of the file"
        elif merged == current:
            self._disk[path] = text
            return None
        else:
            _, reason = candidate(ws, state.incumbent, path, merged)
        if reason:
            self._refused[path] = text
            run.emit(
                "org_rejected",
                {"author": "human", "who": who[0], "files": [path], "reason": reason},
            )
            return None
        assert merged is not None
        gen = next_generation(state)
        role = role_at(run.org, path)
        move = apply_edit(
            run,
            path,
            merged,
            {
                "generation": gen,
                "role": role.name if role else "",
                "author": "human",
                "who": who[0],
                "rationale": f"edited by {who[0]} while the run was live",
                "evidence": {},
                "metric_before": state.incumbent_metric,
                "window": len(state.windows),
            },
            author=who,
            message=f"human generation {gen}: {path}\n\nEdited by {who[0]} during run "
            f"{state.run_id}.\n\nGeneration: {gen}",
        )
        self._disk[path] = text
        self._refused.pop(path, None)
        return move


__all__ = [
    "LiveEdits",
    "RoleWatcher",
    "apply_edit",
    "candidate",
    "human_identity",
    "merge3",
    "next_generation",
    "role_at",
]
