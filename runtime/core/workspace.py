"""A run's view of the org's repository: files read at a revision, and commits made without a
worktree, dated from the run's own clock.

Desks (the toolbox, the meta desk, live edits) read and commit through a `Workspace`; none of them
moves a branch. A commit made here is unreferenced until the engine moves the run branch to it,
so a desk that dies halfway leaves nothing behind but a loose object.

Reads tell a missing file from a failing git: `read` returns None only when the path is not in the
commit, and raises GitError for anything else (an unknown commit, a broken repository), so a git
failure is never mistaken for "no such file".

Commit dates are the run's base commit time plus a number (the experiment count), not the wall
clock, so the same seed gives the same commits and the same results.tsv.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .git import ORGLOOP, Git, GitError


@dataclass
class Workspace:
    repo: Git
    clock: int = 0
    """The run's base commit time: commit `n` of the run is dated `clock + n`."""
    snapshots: dict[tuple[str, ...], tuple[int, str]] = field(default_factory=dict)
    """The toolbox's snapshot commit per set of editable paths, and how many keeps it has seen
    (see `Toolbox.snapshot_files`): a cache of reads, rebuilt from the state after a resume."""

    # ---- reads
    def read(self, commit: str, path: str) -> str | None:
        """The text of `path` at `commit`, or None when the commit has no such file."""
        proc = subprocess.run(
            ["git", "-C", str(self.repo.root), "cat-file", "blob", f"{commit}:{path}"],
            capture_output=True,
        )
        if proc.returncode == 0:
            return proc.stdout.decode("utf-8", errors="replace")
        if self.exists(commit):
            return None  # the commit is fine: the path is not in it
        raise GitError(f"git cat-file {commit}:{path}: {proc.stderr.decode().strip()}")

    def exists(self, commit: str) -> bool:
        out = self.repo.run("rev-parse", "-q", "--verify", f"{commit}^{{commit}}", check=False)
        return bool(out.strip())

    def list(self, commit: str) -> list[str]:
        """Every file of `commit`, by path."""
        return self.repo.run("ls-tree", "-r", "--name-only", "-z", commit).split("\0")[:-1]

    def blob(self, commit: str, path: str) -> str:
        """The blob id of `path` at `commit`, "" when it has none: equal ids, equal files."""
        return self.repo.run("rev-parse", "-q", "--verify", f"{commit}:{path}", check=False).strip()

    def tree(self, commit: str) -> str:
        return self.repo.run("rev-parse", f"{commit}^{{tree}}").strip()

    def export(self, commit: str, dest: Path) -> None:
        """The files of `commit` written into `dest` (an existing folder), as plain files."""
        archive = subprocess.run(
            ["git", "-C", str(self.repo.root), "archive", "--format=tar", commit],
            capture_output=True,
            check=True,
        ).stdout
        # -m: the files get today's times (git archive stamps them with the commit's, which
        # orgloop sets deterministically and tar would warn about)
        subprocess.run(["tar", "-x", "-m", "-C", str(dest)], input=archive, check=True)

    # ---- commits (objects only: no branch moves)
    def date(self, n: int) -> str:
        return f"{self.clock + n} +0000"

    def commit_tree(
        self, tree: str, parent: str, message: str, n: int, author: tuple[str, str] = ORGLOOP
    ) -> str:
        return self.repo.commit_tree(tree, parent, message, author, self.date(n))

    def tree_with(self, commit: str, files: dict[str, str]) -> str:
        return self.repo.tree_with(commit, files)

    def commit_file(
        self, base: str, path: str, text: str, message: str, n: int, author: tuple[str, str]
    ) -> str:
        """A commit of `base` with `path` set to `text`, by `author`."""
        return self.commit_tree(self.tree_with(base, {path: text}), base, message, n, author)


__all__ = ["Workspace"]
