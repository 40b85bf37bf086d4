"""`replicas` in a role's frontmatter: a whole number or `auto`, one when absent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import OrgError, load_org


def _set(path: Path, line: str) -> None:
    text = path.read_text()
    path.write_text(text.replace("model: inherit\n", f"model: inherit\n{line}\n", 1))


@pytest.mark.parametrize(("line", "value"), [("replicas: 3", 3), ("replicas: auto", "auto")])
def test_replicas_is_read_as_written(
    make_org: Callable[[str | None], Path], line: str, value: object
) -> None:
    org = make_org(None)
    _set(org / "roles" / "engineer.md", line)
    roles = load_org(org).roles
    assert roles["engineer"].replicas == value
    assert roles["critic"].replicas == 1
    assert "replicas" not in roles["engineer"].extra


@pytest.mark.parametrize(
    ("role", "line", "says"),
    [
        ("engineer", "replicas: 0", "`replicas` must be at least 1, or auto"),
        ("engineer", "replicas: -2", "`replicas` must be at least 1, or auto"),
        ("engineer", "replicas: many", "a whole number or auto"),
        ("engineer", "replicas: 1.5", "a whole number or auto"),
        ("engineer", "replicas: yes", "a whole number or auto"),
        ("trainer", "replicas: 2", "`replicas` is for agent roles"),
    ],
)
def test_a_bad_replicas_is_an_error_at_its_line(
    make_org: Callable[[str | None], Path], role: str, line: str, says: str
) -> None:
    org = make_org(None)
    path = org / "roles" / f"{role}.md"
    text = path.read_text()
    if "model: inherit\n" not in text:  # the sandbox role has no model line
        text = text.replace("kind: sandbox\n", "kind: sandbox\nmodel: inherit\n", 1)
        path.write_text(text)
    _set(path, line)
    number = 1 + path.read_text().splitlines().index(line)
    with pytest.raises(OrgError) as e:
        load_org(org)
    assert f"roles/{role}.md:{number}: error: " in str(e.value)
    assert says in str(e.value)
