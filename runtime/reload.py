"""Org edits on a live run: validate one, commit it on the run branch, apply it between turns.

Two kinds of edit reach a running org. The meta desk (`meta.py`) proposes edits from the meta role's
turns; a person edits a role file in the org folder while the run is live. Both go through here:

- `candidate(repo, base, path, text)` loads the org at commit `base` with one file replaced, from a
  throwaway copy, and runs parse plus lint: the edit is refused unless the org would still run.
- `commit_file` / `apply_edit` commit the file on top of the run's incumbent (the latest one, so an
  edit never drops another), append `org_edited`, make the log durable, move the run branch, and
  reload `engine.org` from the new commit.
- `merge3` combines an edit made against an older version of a file with the newer one (git's
  three-way merge), so a human edit and a meta edit that land together both survive.
- `LiveEdits` watches the org's role folder with watchdog. Editors that save through a temp file
  and a rename, and vim's backup dance (rename to `file~`, write, delete the backup), both end as
  a changed `*.md`; changes are debounced and applied by `poll()`, which the engine calls at a safe
  point of its loop, never from the watcher's thread.

What it does not do: it never writes into the user's org folder (so the runtime's own writes cannot
trigger a reload), it ignores deleted role files (a role leaves an org by a deliberate commit, not
by a half-finished save), and it does not decide which edits are allowed beyond "the org still
loads and lints" — the meta desk's guardrails (protected files, size) live in `meta.py`.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..org import Org, OrgError, Role, lint, load_org
from ._git import Git

if TYPE_CHECKING:
    from .engine import Engine

HUMAN_AUTHOR = ("human", "human@localhost")
DEBOUNCE = 0.15
"""Seconds a role file must stay quiet before its change is applied: one save is several events."""


# ---- validating and committing one edit
def candidate(repo: Git, base: str, path: str, text: str) -> tuple[Org | None, str]:
    """(the org as it would be, "") or (None, why not): parse and lint of `base` with `path`
    replaced by `text`, loaded from a temporary copy (the run's own snapshot stays untouched)."""
    with tempfile.TemporaryDirectory(prefix="orgloop-candidate-") as tmp:
        dest = Path(tmp)
        archive = subprocess.run(
            ["git", "-C", str(repo.root), "archive", "--format=tar", base],
            capture_output=True,
            check=True,
        ).stdout
        # -m: the files get today's times (git archive stamps them with the commit's, which
        # orgloop sets deterministically and tar would warn about)
        subprocess.run(["tar", "-x", "-m", "-C", tmp], input=archive, check=True)
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


def changed_lines(old: str, new: str) -> int:
    """Lines added plus lines removed."""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
    return sum(1 for d in diff if d[:1] in "+-" and d[:3] not in ("+++", "---"))


def unified(path: str, old: str, new: str, limit: int = 4000) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(lines)[:limit]


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


def commit_file(
    repo: Git, base: str, path: str, text: str, message: str, author: tuple[str, str], date: str
) -> str:
    """A commit of `base` with `path` set to `text`, by `author`."""
    return repo.commit_tree(repo.tree_with(base, {path: text}), base, message, author, date)


def role_file(engine: Engine, role: Role) -> str | None:
    """A role's file relative to the org folder; None for roles from the default library."""
    for root in (engine.run_dir / "org", engine.org.root):
        try:
            return str(role.path.relative_to(root).as_posix())
        except ValueError:
            continue
    return None


def role_at(engine: Engine, path: str) -> Role | None:
    return next((r for r in engine.org.roles.values() if role_file(engine, r) == path), None)


def next_generation(engine: Engine, waiting: list[int] | None = None) -> int:
    s = engine.state
    done = [s.generation, *(int(e.get("generation", 0)) for e in s.org_edits)]
    return 1 + max(done + (waiting or []))


def apply_edit(
    engine: Engine,
    path: str,
    text: str,
    data: dict[str, Any],
    *,
    author: tuple[str, str],
    message: str,
    settle: bool = True,
) -> tuple[str, str]:
    """Commit `path` = `text` on the incumbent and append `org_edited` (with `data`); returns
    (new, old) commits. With `settle`, the log is made durable, the branch moved and the org
    reloaded now; otherwise the caller settles after its turn commits (`settle_moves`)."""
    s = engine.state
    old = s.incumbent
    before = engine.read_at(old, path) or ""
    new = commit_file(
        engine.repo, old, path, text, message, author, engine._date(len(s.experiments) + 1)
    )
    engine.emit(
        "org_edited",
        {
            **data,
            "file": path,
            "commit": new,
            "parent": old,
            "diff": unified(path, before, text),
        },
    )
    if settle:
        settle_moves(engine, [(new, old)])
    return new, old


def settle_moves(engine: Engine, moves: list[tuple[str, str]]) -> None:
    """After the events are durable: move the run branch (compare-and-swap) and reload the org."""
    if not moves:
        return
    engine.commit()
    for new, old in moves:
        engine.repo.move_branch(engine.state.branch, new, old)
    from ._setup import snapshot_org

    engine.org = snapshot_org(engine.repo, engine.state.incumbent, engine.run_dir)


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
    """Human edits of role files during a run: watched, validated, committed, applied."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.watcher: RoleWatcher | None = None
        self.folder = ""
        self._disk: dict[str, str] = {}
        """Each role file as last seen in sync on disk: the base a human edit is merged from."""
        self._refused: dict[str, str] = {}

    def start(self) -> None:
        folders = {
            str(Path(p).parent)
            for p in (role_file(self.engine, r) for r in self.engine.org.roles.values())
            if p
        }
        if len(folders) != 1:
            return  # roles from the default library (or scattered): nothing of the user's to watch
        self.folder = folders.pop()
        folder = self.engine.org.root / self.folder
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

    def poll(self) -> None:
        if self.watcher is None:
            return
        for name in self.watcher.ready():
            self.apply(f"{self.folder}/{name}")

    def apply(self, path: str) -> None:
        """Validate and commit the file at `path` as the human's edit; reject it with a reason."""
        engine = self.engine
        try:
            text = (engine.org.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return  # gone or mid-save; the next event brings the finished file
        if text == self._disk.get(path) or text == self._refused.get(path):
            return
        current = engine.read_incumbent(path)
        merged = merge3(self._disk.get(path, current or ""), text, current or "")
        who = human_identity(engine.repo)
        reason = ""
        if merged is None:
            reason = f"{path}: the edit conflicts with the run's newer version of the file"
        elif merged == current:
            self._disk[path] = text
            return
        else:
            _, reason = candidate(engine.repo, engine.state.incumbent, path, merged)
        if reason:
            self._refused[path] = text
            engine.emit(
                "org_rejected",
                {"author": "human", "who": who[0], "files": [path], "reason": reason},
            )
            engine.commit()
            return
        assert merged is not None
        gen = next_generation(engine, engine.meta.waiting())
        role = role_at(engine, path)
        metric = engine.state.incumbent_metric
        apply_edit(
            engine,
            path,
            merged,
            {
                "generation": gen,
                "role": role.name if role else "",
                "author": "human",
                "who": who[0],
                "rationale": f"edited by {who[0]} while the run was live",
                "evidence": {},
                "metric_before": metric,
                "window": len(engine.meta.windows()),
            },
            author=who,
            message=f"human generation {gen}: {path}\n\nEdited by {who[0]} during run "
            f"{engine.state.run_id}.\n\nGeneration: {gen}",
        )
        self._disk[path] = text
        self._refused.pop(path, None)


__all__ = [
    "LiveEdits",
    "RoleWatcher",
    "apply_edit",
    "candidate",
    "changed_lines",
    "commit_file",
    "human_identity",
    "merge3",
    "next_generation",
    "role_at",
    "role_file",
    "settle_moves",
    "unified",
]
