"""`orgloop init`: make a new org folder from the built-in tinylm task and the default roles.

The new folder holds ORG.md, the task's code (train.py, prepare.py), roles/*.md copied from the
default library, and a .gitignore for what a run leaves behind; it is a git repository with one
commit, made with orgloop's own identity (so it works where git has none configured).

It copies only the task's own files: no trained model, no bytecode caches, no run folders. It does
not check the result (`orgloop check` does) and never touches a folder that already has files in
it unless told to with `force`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..org import builtin_org_dir, default_roles_dir
from ._git import Git

GITIGNORE = (".orgloop/", "model.npz", "__pycache__/")
"""What a run leaves in an org folder that is not part of the org."""

_SKIP = frozenset({"model.npz", "__pycache__", ".orgloop"})


class ScaffoldError(Exception):
    """The destination cannot take a new org (not empty, not a folder, or git is missing)."""


def init_org(dest: Path, *, force: bool = False) -> Path:
    """Scaffold an org at `dest` and commit it; return the folder's absolute path.

    Refuses a `dest` that exists and is not an empty folder, unless `force`: then the template's
    files and the default roles overwrite same-named files, .gitignore gains any missing lines,
    and only what was written is committed (other files in the folder are left untracked).
    """
    dest = Path(dest).absolute()
    if dest.exists() and not dest.is_dir():
        raise ScaffoldError(f"{dest} exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise ScaffoldError(f"{dest} is not empty; choose a new folder or pass --force")
    if shutil.which("git") is None:
        raise ScaffoldError("git is not installed; orgloop keeps every org in a git repository")
    dest.mkdir(parents=True, exist_ok=True)
    written = _copy_template(dest)
    written += _copy_roles(dest)
    written.append(_write_gitignore(dest))
    git = Git(dest)
    git.init()
    git.run("add", "--", *(str(p.relative_to(dest)) for p in written))
    git.run(
        "commit", "-q", "--allow-empty", "-m", "orgloop init: the tinylm org with the default roles"
    )
    return dest


def _copy_template(dest: Path) -> list[Path]:
    out = []
    for src in sorted(builtin_org_dir().iterdir()):
        if src.name in _SKIP or src.suffix == ".pyc" or not src.is_file():
            continue
        shutil.copyfile(src, dest / src.name)
        out.append(dest / src.name)
    return out


def _copy_roles(dest: Path) -> list[Path]:
    roles = dest / "roles"
    roles.mkdir(exist_ok=True)
    out = []
    for src in sorted(default_roles_dir().glob("*.md")):
        shutil.copyfile(src, roles / src.name)
        out.append(roles / src.name)
    return out


def _write_gitignore(dest: Path) -> Path:
    path = dest / ".gitignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    missing = [line for line in GITIGNORE if line not in lines]
    if missing or not path.exists():
        path.write_text("".join(f"{line}\n" for line in [*lines, *missing]), encoding="utf-8")
    return path
