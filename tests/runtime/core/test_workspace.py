"""The workspace on a real repository: reads at a revision that tell a missing file from a broken
git, and commits that move nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgloop.runtime.core.git import META, Git, GitError
from orgloop.runtime.core.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "org"
    (root / "roles").mkdir(parents=True)
    (root / "train.py").write_text("LR = 0.1\n")
    (root / "roles" / "pi.md").write_text("# pi\n")
    git = Git(root)
    git.init()
    git.commit_all("base")
    return Workspace(git, clock=1_700_000_000)


def test_a_missing_file_is_none_and_a_bad_commit_is_an_error(ws: Workspace) -> None:
    head = ws.repo.head()
    assert ws.read(head, "train.py") == "LR = 0.1\n"
    assert ws.read(head, "nope.py") is None
    with pytest.raises(GitError):
        ws.read("0" * 40, "train.py")
    assert sorted(ws.list(head)) == ["roles/pi.md", "train.py"]


def test_a_commit_moves_no_branch_and_is_dated_by_the_run(ws: Workspace) -> None:
    head = ws.repo.head()
    new = ws.commit_file(head, "roles/pi.md", "# pi, edited\n", "meta edit", 5, META)
    assert ws.repo.head() == head  # only the engine moves a branch
    assert ws.read(new, "roles/pi.md") == "# pi, edited\n"
    assert ws.read(new, "train.py") == "LR = 0.1\n"
    show = ws.repo.run("log", "-1", "--format=%at %an", new).split()
    assert show == [str(1_700_000_000 + 5), "orgloop", "meta"]
    assert ws.blob(new, "train.py") == ws.blob(head, "train.py") != ws.blob(new, "roles/pi.md")
    assert ws.repo.run("status", "--porcelain") == ""


def test_export_writes_a_commit_as_plain_files(ws: Workspace, tmp_path: Path) -> None:
    dest = tmp_path / "copy"
    dest.mkdir()
    ws.export(ws.repo.head(), dest)
    assert (dest / "roles" / "pi.md").read_text() == "# pi\n"
    assert not (dest / ".git").exists()
