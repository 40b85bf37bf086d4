"""`replicas` in a role's frontmatter: a whole number or `auto`, one when absent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import load_org


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
