"""A misspelt ORG.md key is an error with "did you mean", since its setting would silently not
apply; a key that is nothing like a known one stays a warning, and role files only warn."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import check, lint, parse_org
from orgloop.org._spelling import distance, near_miss


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert re.search(old, text, re.MULTILINE), old
    path.write_text(re.sub(old, new, text, count=1, flags=re.MULTILINE))


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("^budget:", "budjet:", 15, "unknown key `budjet`: did you mean `budget`?"),
        ("^seed:", "seeds:", 4, "unknown key `seeds`: did you mean `seed`?"),
        (
            "experiments: 10",
            "experimnts: 10",
            15,
            "unknown key `budget.experimnts`: did you mean `budget.experiments`?",
        ),
        (
            "  timeout: 90s",
            "  timout: 90s",
            9,
            "unknown key `experiment.timout`: did you mean `experiment.timeout`?",
        ),
        ("every: 4", "evrey: 4", 16, "unknown key `meta.evrey`: did you mean `meta.every`?"),
        ("^budget:", "Budget:", 15, "unknown key `Budget`: did you mean `budget`?"),
    ],
)
def test_a_near_miss_is_an_error_that_names_the_key_meant(
    make_org: Callable[[str | None], Path], old: str, new: str, line: int, message: str
) -> None:
    org = make_org(None)
    _edit(org / "ORG.md", old, new)
    findings, code = check(org)
    assert code == 1
    (found,) = [f for f in findings if f.code == "unknown-key"]
    assert (found.line, found.severity, found.message) == (line, "error", message)
    assert "fix the spelling" in found.hint


def test_a_key_like_no_known_one_is_kept_with_a_warning(
    make_org: Callable[[str | None], Path],
) -> None:
    org = make_org(None)
    _edit(org / "ORG.md", "^seed: 0", "seed: 0\nowner: ada")
    parsed, findings = parse_org(org)
    assert parsed is not None and parsed.program.extra == {"owner": "ada"}
    (found,) = findings
    assert found.severity == "warning" and "`owner` is kept" in found.message


def test_a_near_miss_in_a_role_file_warns_with_the_key_meant(
    make_org: Callable[[str | None], Path],
) -> None:
    org = make_org(None)
    _edit(org / "roles" / "critic.md", "^description:", "descripton:")
    parsed, findings = parse_org(org)
    assert parsed is not None
    (found,) = [f for f in findings + lint(parsed) if f.code == "unknown-key"]
    assert found.severity == "warning" and found.hint == "did you mean `description`?"


def test_distance_counts_a_swap_of_neighbours_as_one_edit() -> None:
    assert distance("budjet", "budget") == 1
    assert distance("evrey", "every") == 1
    assert distance("usd", "tokens") > 2
    assert near_miss("wal", ["wall", "usd"]) == "wall"
    assert near_miss("notes", ["name", "seed", "budget"]) is None
