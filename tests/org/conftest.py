"""Helpers for the org tests: a valid org in tmp_path that a test then breaks in one place."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import builtin_org_dir, default_roles_dir

CORPUS = Path(__file__).parent / "corpus"
"""Broken-org overlays: each case folder holds only the files that differ from a valid org."""


def copy_valid_org(dest: Path) -> Path:
    """The built-in tinylm org with the default roles copied into dest/roles (no git)."""
    dest.mkdir(parents=True)
    for name in ("ORG.md", "prepare.py", "train.py"):
        shutil.copyfile(builtin_org_dir() / name, dest / name)
    shutil.copytree(
        default_roles_dir(), dest / "roles", ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return dest


@pytest.fixture
def make_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], Path]:
    """`make_org(case)`: a valid org at tmp_path/org with corpus/<case>/ laid over it (None for
    no overlay). The cwd moves to tmp_path, so findings read `org/roles/pi.md:6: ...`."""
    monkeypatch.chdir(tmp_path)

    def make(case: str | None = None) -> Path:
        org = copy_valid_org(tmp_path / "org")
        if case is not None:
            shutil.copytree(CORPUS / case, org, dirs_exist_ok=True)
        return org

    return make
