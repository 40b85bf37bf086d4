"""Git, the way orgloop uses it: a thin wrapper over the `git` command with orgloop's own identity.

orgloop's commits set author and committer explicitly, so they work on machines with no git identity
and say who made them (`orgloop`, `orgloop meta`, or the human who edited a role file).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ORGLOOP = ("orgloop", "orgloop@localhost")
META = ("orgloop meta", "meta@orgloop.localhost")


class GitError(RuntimeError):
    """A git command failed; the message holds the command and git's own words."""


@dataclass(frozen=True)
class Git:
    root: Path

    def run(
        self,
        *args: str,
        author: tuple[str, str] = ORGLOOP,
        date: str | None = None,
        input: str | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": author[0],
            "GIT_COMMITTER_EMAIL": author[1],
            "GIT_TERMINAL_PROMPT": "0",
            **(env or {}),
        }
        if date is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
        proc = subprocess.run(
            ["git", "-C", str(self.root), *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    def is_repo(self) -> bool:
        return self.run("rev-parse", "--git-dir", check=False).strip() != ""

    def init(self) -> None:
        self.run("init", "-q", "-b", "main")

    def head(self, ref: str = "HEAD") -> str:
        return self.run("rev-parse", ref).strip()

    def commit_all(
        self, message: str, author: tuple[str, str] = ORGLOOP, date: str | None = None
    ) -> str:
        self.run("add", "-A")
        self.run("commit", "-q", "--allow-empty", "-m", message, author=author, date=date)
        return self.head()

    def snapshot(self, head: str) -> str:
        """A commit of the working tree as it is (untracked files too, .gitignore honoured) on top
        of `head`, made through a private index so the user's index and branch are untouched."""
        index = self.root / ".git" / "orgloop-index"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self.run("read-tree", head, env=env)
            self.run("add", "-A", env=env)
            tree = self.run("write-tree", env=env).strip()
        finally:
            index.unlink(missing_ok=True)
        return self.commit_tree(tree, head, "orgloop: snapshot of the working tree")

    def commit_files(
        self, base: str, files: dict[str, str], message: str, date: str | None = None
    ) -> str:
        """A commit of `base` with `files` replaced, made without a worktree."""
        return self.commit_tree(self.tree_with(base, files), base, message, date=date)

    def tree_with(self, base: str, files: dict[str, str]) -> str:
        """The tree of commit `base` with `files` replaced, written through a private index (the
        user's index and working tree are never touched; threads and processes never share one)."""
        index = self.root / ".git" / f"orgloop-index-{os.getpid()}-{threading.get_ident()}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self.run("read-tree", base, env=env)
            for path, text in files.items():
                blob = self.run("hash-object", "-w", "--stdin", input=text).strip()
                self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            return self.run("write-tree", env=env).strip()
        finally:
            index.unlink(missing_ok=True)

    def show(self, commit: str, path: str) -> str:
        return self.run("show", f"{commit}:{path}")

    def branch(self, name: str, commit: str) -> None:
        """Point branch `name` at `commit`. A lock that a killed git left on the branch (kill -9
        in the middle of a keep) is removed once it has stayed a second: a live git holds one
        for milliseconds, and only orgloop's own run moves this branch."""
        try:
            self.run("update-ref", f"refs/heads/{name}", commit)
            return
        except GitError:
            lock = Path(self.run("rev-parse", "--git-common-dir").strip()) / "refs" / "heads"
            lock = (self.root / lock / f"{name}.lock").resolve()
            if not lock.exists():
                raise
        time.sleep(1.0)
        lock.unlink(missing_ok=True)
        self.run("update-ref", f"refs/heads/{name}", commit)

    def move_branch(self, name: str, new: str, old: str) -> None:
        """Advance a branch only if it still points at `old` (a compare-and-swap)."""
        self.run("update-ref", f"refs/heads/{name}", new, old)

    def commit_tree(
        self,
        tree: str,
        parent: str,
        message: str,
        author: tuple[str, str] = ORGLOOP,
        date: str | None = None,
    ) -> str:
        return self.run(
            "commit-tree", tree, "-p", parent, "-m", message, author=author, date=date
        ).strip()

    # Force twice: a `worktree add` killed midway (kill -9 of the run) leaves its worktree locked,
    # and only a double force adds or removes a locked one. These paths are orgloop's own.
    def worktree_add(self, path: Path, commit: str) -> Git:
        self.run("worktree", "add", "-q", "--detach", "-f", "-f", str(path), commit)
        return Git(path)

    def worktree_remove(self, path: Path) -> None:
        self.run("worktree", "remove", "-f", "-f", str(path), check=False)
        self.run("worktree", "prune", check=False)
