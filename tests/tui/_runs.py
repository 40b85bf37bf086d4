"""Run folders for the TUI tests (tests/data/runs/) and small helpers to read what the app wrote."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.widgets import Static

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


OFFLINE = {"ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": ""}
"""Environment for a real `orgloop run`: no key, so the offline brain thinks."""


def small_org(root: Path, *, experiments: int, baseline_runs: int) -> Path:
    """The built-in org made small (the runtime tests' own helper)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
    from _orgs import small_org as make

    return make(root, experiments=experiments, baseline_runs=baseline_runs)


def text_of(renderable: object, width: int = 100) -> str:
    """What a Rich renderable reads as on a terminal `width` columns wide."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def screen_text(app: App[Any]) -> str:
    """The whole screen as the terminal would show it, as text."""
    width = app.size.width
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return text_of(update, width)


def browse_text(app: App[Any]) -> str:
    """The head and body of the open modal (message, experiment or role), as text."""
    screen = app.screen
    head = screen.query_one("#browse-head", Static).content
    body = screen.query_one("#browse-body", Static).content
    return text_of(head) + text_of(body)
