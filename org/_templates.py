"""The built-in org (tinylm) and `check`: load plus lint, as `orgloop check` reports it."""

from __future__ import annotations

from pathlib import Path

from ._lint import lint
from ._load import parse_org
from ._model import Finding


def builtin_org_dir() -> Path:
    """The built-in tinylm task: ORG.md, prepare.py, train.py (roles come from the library)."""
    return Path(__file__).resolve().parent / "templates" / "tinylm"


def check(root: Path | str) -> tuple[list[Finding], int]:
    """Every finding for the org at `root`, and the exit code `orgloop check` gives:
    0 clean, 1 findings, 2 unreadable input."""
    org, findings = parse_org(Path(root))
    if org is not None:
        findings = findings + lint(org)
    if any(f.code == "unreadable" for f in findings):
        return findings, 2
    return findings, 1 if findings else 0
