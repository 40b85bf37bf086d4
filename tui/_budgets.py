"""Budgets as gauges: experiments, tokens, dollars, wall time, and the slot duty cycle; as bars in
a side pane where the terminal is wide, as one line where it is not.

Limits come from `run_started.budget`; what was spent comes from the fold (`experiments_sent`,
`tokens`, `usd`, wall time), and the duty cycle is the seconds experiments ran over slots × wall
time. Wall time is counted up to the clock while an engine runs the run (so it moves during a long
experiment) and up to the last event otherwise (so a finished or dead run reads the same forever).
A budget with no limit shows its figure and no bar (an indeterminate bar would animate forever).
A figure that is not a budget (slots busy, experiments an hour) fits as a `Gauge` with no limit:
one more entry in `GAUGES` and in `gauges`, and it shows in the side pane and the line alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar

from ._caption import Caption
from ._feed import Feed
from ._format import count, duration

GAUGES = ("experiments", "tokens", "usd", "wall", "duty")


@dataclass(frozen=True)
class Gauge:
    label: str
    """The long form: `experiments  6 / 10`."""
    short: str
    """The compact form: `exp 6/10`."""
    spent: float
    limit: float | None
    left: str = ""
    """What remains, in words: `4 experiments left`."""

    @property
    def fraction(self) -> float | None:
        return None if self.limit is None else min(1.0, self.spent / self.limit)


def _limit(budget: dict[str, Any], key: str) -> float | None:
    value = budget.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


def gauges(feed: Feed, now: float | None = None) -> dict[str, Gauge]:
    """Per budget: its gauge. `now` only while an engine runs the run."""
    s = feed.state
    budget = s.config.get("budget") or {}
    wall = feed.wall_seconds(now)
    slots = int(s.config.get("slots", 1) or 1)
    out: dict[str, Gauge] = {}
    n, lim = s.experiments_sent, _limit(budget, "experiments")
    out["experiments"] = Gauge(
        f"experiments  {n}" + (f" / {lim:.0f}" if lim else ""),
        f"exp {n}" + (f"/{lim:.0f}" if lim else ""),
        n,
        lim,
        f"{max(0, int(lim) - n)} experiments left" if lim else "",
    )
    lim = _limit(budget, "tokens")
    out["tokens"] = Gauge(
        f"tokens  {count(s.tokens)}" + (f" / {count(lim)}" if lim else ""),
        f"tok {count(s.tokens)}" + (f"/{count(lim)}" if lim else ""),
        s.tokens,
        lim,
        f"{count(max(0.0, lim - s.tokens))} tokens left" if lim else "",
    )
    lim = _limit(budget, "usd")
    out["usd"] = Gauge(
        f"dollars  ${s.usd:.2f}" + (f" / ${lim:.2f}" if lim else ""),
        f"${s.usd:.2f}" + (f"/${lim:.2f}" if lim else ""),
        s.usd,
        lim,
        f"${max(0.0, lim - s.usd):.2f} left" if lim else "",
    )
    lim = _limit(budget, "wall")
    out["wall"] = Gauge(
        f"wall  {duration(wall)}" + (f" / {duration(lim)}" if lim else ""),
        f"wall {duration(wall)}" + (f"/{duration(lim)}" if lim else ""),
        wall,
        lim,
        f"{duration(max(0.0, lim - wall))} of wall time left" if lim else "",
    )
    duty = min(100.0, 100.0 * feed.busy_seconds / (slots * wall)) if wall > 0 else 0.0
    plural = "s" if slots != 1 else ""
    out["duty"] = Gauge(
        f"slot duty  {duty:.0f}% of {slots} slot{plural}", f"duty {duty:.0f}%", duty, 100.0
    )
    return out


def tightest(feed: Feed, now: float | None = None) -> str:
    """What is left of the budget that is furthest spent, in words; '' when none has a limit."""
    spent = [(g.fraction, g.left) for g in gauges(feed, now).values() if g.left]
    return max(spent, key=lambda pair: pair[0] or 0.0)[1] if spent else ""


def _pct_style(fraction: float) -> str:
    return "bold red" if fraction >= 1 else "yellow" if fraction >= 0.8 else "green"


def budget_line(feed: Feed, now: float | None = None) -> Text:
    """Every gauge on one line, each with its share spent."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for key, g in gauges(feed, now).items():
        if text:
            text.append(" · ", style="dim")
        text.append(g.short)
        if g.fraction is not None and key != "duty":
            text.append(f" {g.fraction:.0%}", style=_pct_style(g.fraction))
    return text


class BudgetLine(Caption):
    """The gauges as one line of text, for terminals too narrow for the side pane."""

    DEFAULT_CSS = """
    BudgetLine { padding: 0 1; }
    """

    def show(self, feed: Feed, now: float | None = None) -> None:
        self.update(budget_line(feed, now))


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

    def show(self, feed: Feed, now: float | None = None) -> None:
        for key, g in gauges(feed, now).items():
            self.query_one(f"#{key}-label", Caption).update(g.label)
            pct = "" if g.fraction is None else f"{100 * g.fraction:.0f}%"
            self.query_one(f"#{key}-pct", Caption).update(f"{pct:>6}")
            bar = self.query_one(f"#{key}-bar", ProgressBar)
            if bar.display != (g.limit is not None):
                bar.display = g.limit is not None
            if g.limit is not None:
                bar.update(total=g.limit, progress=min(g.spent, g.limit))
