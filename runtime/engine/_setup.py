"""Where a run starts: the commit it starts from, and the org as it is at a commit.

`prepare_repo` makes the org folder a git repository if it is not one, keeps `.orgloop/` out of git,
and snapshots a dirty working tree without touching the user's branch, index or files.
`snapshot_org` loads the org from a commit (so meta edits on the run branch are what runs).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from ...org import Org, load_org
from ..core.git import Git
from ..core.workspace import Workspace


def prepare_repo(repo: Git) -> str:
    """The commit a run starts from: HEAD, or a snapshot commit of a dirty working tree (made
    with a private index, so the user's branch, index and files are untouched)."""
    if not repo.is_repo() or repo.run("rev-parse", "--show-toplevel", check=False).strip() != str(
        repo.root
    ):
        repo.init()
    exclude = repo.root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    if ".orgloop/" not in (exclude.read_text() if exclude.exists() else ""):
        with open(exclude, "a") as f:
            f.write("\n.orgloop/\n")
    has_head = repo.run("rev-parse", "--verify", "-q", "HEAD", check=False).strip()
    if not has_head:
        return repo.commit_all("orgloop: initial commit of the org")
    if not repo.run("status", "--porcelain").strip():
        return has_head
    return repo.snapshot(has_head)


def snapshot_org(workspace: Workspace, commit: str, run_dir: Path) -> Org:
    """Load the org as it is at `commit` (roles edited by meta included), from a plain copy of
    that commit's files in the run folder, with `root` still the user's org folder."""
    dest = run_dir / "org"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    workspace.export(commit, dest)
    return replace(load_org(dest), root=workspace.repo.root, source=dest)
