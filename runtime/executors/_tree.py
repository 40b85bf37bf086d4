"""An experiment's files as data, and the commit they are measured as: the seam between the
machine that holds the org's repository (the driver) and the one that runs the experiment (a
worker, which may be the same machine).

Driver side: `prepare(spec)` makes the experiment's commit (the base commit with the engineer's
files, from git objects only: no checkout, no worktree), points `spec.ref` at it, writes
`diff.patch`, and exports that commit's files as a `Snapshot`: paths, modes and bytes, plain data
that pickles and travels. Worker side, with no git and no repository: `materialize(snapshot, dest)`
writes them into a fresh private folder, and the sandbox runs the experiment there. The commit is
made before the run from exactly the files that are materialized, so what is measured is what is
committed; the experiment never sees a `.git`, so nothing it does can reach the org's refs, hooks
or config, and orgloop runs no git command in its folder.

What it does not do: submodules are not materialized (a gitlink has no files here), and a snapshot
holds the whole tree in memory, so a repository with large committed data sets costs that much.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.git import Git, GitError
from .base import ExperimentSpec

_LINK = 0o120000


@dataclass(frozen=True)
class Snapshot:
    """A commit's files: (path, git mode, bytes) each; a symlink's bytes are its target."""

    files: tuple[tuple[str, int, bytes], ...]

    @property
    def size(self) -> int:
        return sum(len(data) for _, _, data in self.files)


@dataclass(frozen=True)
class Prepared:
    """What the driver made for one experiment: its commit, its diff, and its files."""

    commit: str
    diff: str
    snapshot: Snapshot


def export(repo: Path, commit: str) -> Snapshot:
    """The files of `commit`, read from git objects (no archive filters, no attributes)."""
    listing = Git(repo).run("ls-tree", "-r", "-z", "--full-tree", commit)
    entries: list[tuple[str, int, str]] = []
    for item in listing.split("\0"):
        if not item:
            continue
        meta, path = item.split("\t", 1)
        octal, kind, oid = meta.split()
        if kind == "blob":
            entries.append((path, int(octal, 8), oid))
    proc = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input="".join(f"{oid}\n" for _, _, oid in entries).encode(),
        capture_output=True,
    )
    if proc.returncode != 0:
        raise GitError(f"git cat-file --batch: {proc.stderr.decode().strip()}")
    out, at = proc.stdout, 0
    files: list[tuple[str, int, bytes]] = []
    for path, mode, _ in entries:
        end = out.index(b"\n", at)
        size = int(out[at:end].split()[2])
        files.append((path, mode, out[end + 1 : end + 1 + size]))
        at = end + 2 + size
    return Snapshot(tuple(files))


def materialize(snapshot: Snapshot, dest: Path) -> None:
    """Write the snapshot's files into `dest`, which must not exist yet."""
    dest.mkdir(parents=True)
    for path, mode, data in snapshot.files:
        rel = PurePosixPath(path)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"a path outside the tree in the snapshot: {path!r}")
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == _LINK:
            os.symlink(os.fsdecode(data), target)
            continue
        target.write_bytes(data)
        if mode & 0o111:
            target.chmod(0o755)


def prepare(spec: ExperimentSpec) -> Prepared:
    """The experiment's commit (kept reachable under `spec.ref`), its diff against the base,
    written to `diff.patch`, and its files."""
    git = Git(spec.repo)
    commit = git.commit_files(spec.base, dict(spec.files), spec.message, date=spec.commit_date)
    diff = git.run("diff", f"{spec.base}..{commit}")
    if spec.ref:
        git.run("update-ref", spec.ref, commit)
    spec.workdir.mkdir(parents=True, exist_ok=True)
    (spec.workdir / "diff.patch").write_text(diff, encoding="utf-8")
    return Prepared(commit, diff, export(spec.repo, commit))


__all__ = ["Prepared", "Snapshot", "export", "materialize", "prepare"]
