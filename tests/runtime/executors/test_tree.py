"""An experiment's tree as data: the commit made from git objects on the driver, its files
exported as a snapshot that travels, materialized on a worker with no git at all, and measured
exactly as committed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import pickle
from pathlib import Path

import pytest

from orgloop.runtime.core.git import Git
from orgloop.runtime.executors import Sandbox, materialize, measure, prepare
from orgloop.runtime.executors._tree import Snapshot, export
from orgloop.runtime.executors.sandbox import detect_slots

from _sandboxed import make_repo, spec


def test_a_snapshot_is_the_commits_files_modes_and_links(tmp_path: Path) -> None:
    root, _ = make_repo(tmp_path / "org", {"run.sh": "#!/bin/sh\n"})
    (root / "data").mkdir()
    (root / "data" / "blob.bin").write_bytes(b"\x00\x01binary")
    (root / "run.sh").chmod(0o755)
    os.symlink("data/blob.bin", root / "link")
    (root / ".gitattributes").write_text("data/** export-ignore\n")  # git archive would drop it
    commit = Git(root).commit_all("more")
    snapshot = pickle.loads(pickle.dumps(export(root, commit)))  # plain data: it travels
    dest = tmp_path / "worker" / "tree"
    materialize(snapshot, dest)
    assert (dest / "data" / "blob.bin").read_bytes() == b"\x00\x01binary"
    assert os.access(dest / "run.sh", os.X_OK) and not os.access(dest / "train.py", os.X_OK)
    assert os.readlink(dest / "link") == "data/blob.bin"
    assert not (dest / ".git").exists()
    listed = Git(root).run("ls-tree", "-r", "--name-only", commit).split()
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if not p.is_dir()) == sorted(
        listed
    )


@pytest.mark.parametrize("path", ["../escape.py", "/etc/evil", "a/../../b"])
def test_a_snapshot_path_outside_the_tree_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ValueError, match="outside the tree"):
        materialize(Snapshot(((path, 0o100644, b"x"),)), tmp_path / "tree")
    assert not (tmp_path / "escape.py").exists()


def test_prepare_commits_the_base_plus_the_files_and_keeps_it_reachable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "org")
    root, base = repo
    s = spec(repo, "print('changed')\n", ref="refs/orgloop/r/e1", commit_date="1700000123 +0000")
    prepared = prepare(s)
    git = Git(root)
    assert git.run("rev-parse", "refs/orgloop/r/e1").strip() == prepared.commit
    assert git.run("rev-parse", f"{prepared.commit}^").strip() == base
    assert git.show(prepared.commit, "train.py") == "print('changed')\n"
    assert git.run("log", "-1", "--format=%at %ct", prepared.commit).split() == ["1700000123"] * 2
    assert "+print('changed')" in prepared.diff == (s.workdir / "diff.patch").read_text()
    assert git.run("status", "--porcelain") == "" and git.head() == base  # nothing checked out


MEASURE_FILES = """
import hashlib, os
for name in sorted(os.listdir(".")):
    if os.path.isfile(name):
        print("file", name, hashlib.sha256(open(name, "rb").read()).hexdigest())
print("val_bpb: 1.0")
"""


def test_what_is_measured_is_exactly_what_is_committed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "org")
    s = spec(repo, MEASURE_FILES)
    prepared = prepare(s)
    worker = spec(repo, MEASURE_FILES, workdir=tmp_path / "worker" / "e1")  # another folder
    result = asyncio.run(measure(worker, prepared.snapshot, detect_slots(1)[0], Sandbox()))
    assert result.status == "ok" and result.commit == ""  # the driver fills the commit in
    seen = {
        line.split()[1]: line.split()[2]
        for line in result.log_tail.splitlines()
        if line.startswith("file ")
    }
    git = Git(repo[0])
    committed = git.run("ls-tree", "--name-only", prepared.commit).split()
    assert sorted(seen) == sorted(committed)
    for name in committed:
        blob = git.run("show", f"{prepared.commit}:{name}").encode()
        assert seen[name] == hashlib.sha256(blob).hexdigest()
