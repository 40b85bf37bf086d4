"""Fixtures for the sandbox tests: a repository and a marker whose processes are killed after the
test whatever happened, so a failing test leaves nothing running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _sandboxed import kill_survivors, make_repo, new_marker


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    return make_repo(tmp_path / "org")


@pytest.fixture
def marker() -> Iterator[str]:
    name = new_marker()
    yield name
    kill_survivors(name)
