"""Budgets as gauges: experiments, tokens, dollars, wall time, and the slot duty cycle.

Limits come from `run_started.budget`; what was spent comes from the fold (`experiments_sent`,
`tokens`, `usd`, `wall_seconds()`), and the duty cycle is the seconds experiments ran over
slots × wall time. Wall time is measured between events, so a live run's clock moves when the
run does, and a finished run reads the same forever. A budget with no limit shows its figure and
no bar (an indeterminate bar would animate forever).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar

from ._caption import Caption
from ._feed import Feed
from ._format import count, duration

GAUGES = ("experiments", "tokens", "usd", "wall", "duty")


def _limit(budget: dict[str, Any], key: str) -> float | None:
    value = budget.get(key)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def gauges(feed: Feed) -> dict[str, tuple[str, float, float | None]]:
    """Per gauge: (label, spent, limit or None)."""
    s = feed.state
    budget = s.config.get("budget") or {}
    wall = s.wall_seconds()
    slots = int(s.config.get("slots", 1) or 1)
    out: dict[str, tuple[str, float, float | None]] = {}
    lim = _limit(budget, "experiments")
    out["experiments"] = (
        f"experiments  {s.experiments_sent}" + (f" / {lim:.0f}" if lim else ""),
        s.experiments_sent,
        lim,
    )
    lim = _limit(budget, "tokens")
    tokens = f"tokens  {count(s.tokens)}" + (f" / {count(lim)}" if lim else "")
    out["tokens"] = (tokens, s.tokens, lim)
    lim = _limit(budget, "usd")
    out["usd"] = (f"dollars  ${s.usd:.2f}" + (f" / ${lim:.2f}" if lim else ""), s.usd, lim)
    lim = _limit(budget, "wall")
    out["wall"] = (f"wall  {duration(wall)}" + (f" / {duration(lim)}" if lim else ""), wall, lim)
    duty = 100.0 * feed.busy_seconds / (slots * wall) if wall > 0 else 0.0
    out["duty"] = (
        f"slot duty  {min(duty, 100.0):.0f}% of {slots} slot{'s' if slots != 1 else ''}",
        min(duty, 100.0),
        100.0,
    )
    return out


class Budgets(Vertical):
    """One labelled bar per budget."""

    DEFAULT_CSS = """
    Budgets { height: auto; padding: 0 1; }
    Budgets .gauge { height: 2; margin-bottom: 1; }
    Budgets .gauge .pct { width: 6; }
    Budgets .gauge Horizontal { height: 1; }
    Budgets ProgressBar { width: 100%; }
    Budgets ProgressBar Bar { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        for key in GAUGES:
            with Vertical(id=f"gauge-{key}", classes="gauge"):
                with Horizontal():
                    yield Caption(key, id=f"{key}-label")
                    yield Caption("", id=f"{key}-pct", classes="pct")
                yield ProgressBar(total=1, show_eta=False, show_percentage=False, id=f"{key}-bar")

    def show(self, feed: Feed) -> None:
        for key, (label, spent, limit) in gauges(feed).items():
            self.query_one(f"#{key}-label", Caption).update(label)
            pct = "" if limit is None else f"{100 * min(spent, limit) / limit:.0f}%"
            self.query_one(f"#{key}-pct", Caption).update(f"{pct:>6}")
            bar = self.query_one(f"#{key}-bar", ProgressBar)
            if bar.display != (limit is not None):
                bar.display = limit is not None
            if limit is not None:
                bar.update(total=limit, progress=min(spent, limit))
