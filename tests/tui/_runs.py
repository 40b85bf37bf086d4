"""Run folders for the TUI tests (tests/data/runs/) and small helpers to read what the app wrote."""

from __future__ import annotations

from pathlib import Path

RUNS = Path(__file__).parents[1] / "data" / "runs"
RECORDED = RUNS / "tinylm-offline"
"""A finished run of the built-in org with the offline brain: 13 experiments, 2 kept."""
META = RUNS / "meta-history"
"""An unfinished log with every kind of org history event: kept, pending, reverted, rejected."""
SIZE = (120, 40)
"""The terminal every test and snapshot uses."""


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def control(run: Path) -> list[str]:
    path = run / "control.jsonl"
    return path.read_text().splitlines() if path.exists() else []
