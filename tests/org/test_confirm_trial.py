"""`experiment.confirm` (reruns of the best and the baseline on fresh seeds) and `meta.trial`
(experiments per arm of an edit's paired trial): defaults, values as written, bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import check, load_org


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_the_defaults_are_three_reruns_and_four_per_arm(
    make_org: Callable[[str | None], Path],
) -> None:
    p = load_org(make_org(None)).program
    assert (p.experiment.confirm, p.meta.trial) == (3, 4)


def test_values_are_read_as_written_and_zero_turns_confirmation_off(
    make_org: Callable[[str | None], Path],
) -> None:
    org = make_org(None)
    _edit(org / "ORG.md", "  baseline_runs: 3\n", "  baseline_runs: 3\n  confirm: 0\n")
    _edit(org / "ORG.md", "max_lines: 20}", "max_lines: 20, trial: 6}")
    p = load_org(org).program
    assert (p.experiment.confirm, p.meta.trial) == (0, 6)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("  baseline_runs: 3\n", "  baseline_runs: 3\n  confirm: -1\n", 15,
         "`experiment.confirm` must be at least 0"),
        ("  baseline_runs: 3\n", "  baseline_runs: 3\n  confirm: yes\n", 15,
         "`experiment.confirm` must be a whole number"),
        ("max_lines: 20}", "max_lines: 20, trial: 1}", 16, "`meta.trial` must be at least 2"),
        ("max_lines: 20}", "max_lines: 20, trail: 4}", 16,
         "unknown key `meta.trail`: did you mean `meta.trial`?"),
    ],
)  # fmt: skip
def test_a_bad_value_is_an_error_at_its_line(
    make_org: Callable[[str | None], Path], old: str, new: str, line: int, message: str
) -> None:
    org = make_org(None)
    _edit(org / "ORG.md", old, new)
    findings, code = check(org)
    assert code == 1
    errors = [f for f in findings if f.severity == "error"]
    assert any(f.line == line and message in f.message for f in errors), [str(f) for f in errors]
    assert all(f.path.endswith("ORG.md") for f in errors)
