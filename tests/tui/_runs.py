"""Run folders for the TUI tests (tests/data/runs/) and small helpers to read what the app wrote."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.widgets import Static

RUNS = Path(__file__).parents[1] / "data" / "runs"
RECORDED = RUNS / "tinylm-offline"
"""A finished run of the built-in org with the offline brain: 13 experiments, 2 kept; `org/` holds
the org's Markdown as the engine keeps its snapshot."""
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


class LogWriter:
    """Writes a run folder's events.jsonl event by event, numbered and timed as the engine does."""

    def __init__(self, run: Path, t0: float = 1_767_268_800.0) -> None:
        self.run = run
        run.mkdir(parents=True, exist_ok=True)
        self.path = run / "events.jsonl"
        self.seq = 0
        self.t = t0
        self.experiments = 0

    def emit(self, kind: str, data: dict[str, Any], dt: float = 1.0) -> None:
        line = json.dumps({"seq": self.seq, "t": self.t, "kind": kind, "data": data})
        with open(self.path, "a") as f:
            f.write(line + "\n")
        self.seq += 1
        self.t += dt

    def start(self, bound: float | None = 0.6, budget: dict[str, Any] | None = None) -> None:
        metric = {"name": "val_bpb", "goal": "minimize", "bound": bound}
        self.emit(
            "run_started",
            {
                "run_id": "test",
                "org": str(self.run / "no-org"),
                "org_name": "tinylm",
                "branch": "b",
                "base": "0" * 40,
                "slots": 1,
                "metric": metric,
                "budget": budget or {"experiments": 1000},
            },
        )

    def experiment(
        self, metric: float | None, verdict: str = "", *, baseline: bool = False, inc: float = 0
    ) -> str:
        """One experiment from start to finish (and its decision, when `verdict` is given)."""
        self.experiments += 1
        exp = f"e{self.experiments}"
        self.emit(
            "experiment_started",
            {"id": exp, "turn": f"t{exp}", "message": f"m{exp}", "baseline": baseline},
        )
        status = "ok" if metric is not None else "crash"
        self.emit("experiment_finished", {"id": exp, "status": status, "metric": metric})
        if verdict:
            data = {"experiment": exp, "verdict": verdict, "commit": "c" * 40}
            self.emit("decision", {**data, "incumbent_metric": inc})
        return exp
