"""What `orgloop run` and `orgloop batch` check before anything is made: the org's findings.

`preflight(root)` loads and lints the org the way `orgloop check` does and returns its warnings,
which the caller prints before the run starts; errors (and, with `strict`, the warnings too) raise
OrgError, so nothing is made for an org that cannot run. `repo_note(root)` says, before a run,
what orgloop will do to the org's git repository that the user did not ask for.

It prints nothing and makes nothing; the engine checks again when it starts.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..org import Finding, OrgError, check
from .core.git import Git

STRICT_HINT = "--strict makes every warning an error"


def preflight(root: Path, *, strict: bool = False) -> list[Finding]:
    """The org's warnings; raises OrgError with its errors, or with everything under `strict`."""
    findings, code = check(root)
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity != "error"]
    if strict and warnings:
        errors += [
            replace(w, severity="error", hint=f"{w.hint}; {STRICT_HINT}" if w.hint else STRICT_HINT)
            for w in warnings
        ]
    if errors:
        raise OrgError(sorted(errors, key=lambda f: (f.path, f.line)), unreadable=code == 2)
    return warnings


def repo_note(root: Path) -> str:
    """What starting a run will do to `root`'s git repository beyond its own branch, or ''."""
    repo = Git(root)
    top = repo.run("rev-parse", "--show-toplevel", check=False).strip() if repo.is_repo() else ""
    if not top:
        return (
            f"{root} is not a git repository: orgloop makes one there and commits the org's "
            "files into it (its first commit), so that every experiment and keep is a commit"
        )
    if Path(top).resolve() != root.resolve():
        return (
            f"{root} is inside the git repository {top}, not at its top: orgloop makes a new "
            "repository in the org folder and commits the org's files into it"
        )
    if not repo.run("rev-parse", "--verify", "-q", "HEAD", check=False).strip():
        return (
            f"{root} is a git repository with no commits yet: orgloop commits the org's files "
            "as its first commit"
        )
    return ""


__all__ = ["STRICT_HINT", "preflight", "repo_note"]
