"""Fixtures for the TUI tests: the recorded run, a live cut of it, and the meta-edit log."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _runs import META, RECORDED, lines


@pytest.fixture
def recorded() -> Path:
    return RECORDED


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """The recorded run cut after its 150th event: running, with more to come (`rest.jsonl`)."""
    run = tmp_path / "run"
    shutil.copytree(RECORDED, run)
    events = lines(RECORDED / "events.jsonl")
    (run / "events.jsonl").write_bytes(b"".join(events[:150]))
    (run / "rest.jsonl").write_bytes(b"".join(events[150:]))
    return run


@pytest.fixture
def meta(tmp_path: Path) -> Path:
    run = tmp_path / "meta"
    shutil.copytree(META, run)
    return run
