"""The status line at the top: which run, whether an engine is running it (its lock, not the
log's age: a dead engine reads dead at once), paused or finished and why, an API outage the roles
are waiting out ("API overloaded (529), retry in 4m00s, waiting since 02:13"), turns that ended
without their role's duty done, the best against the baseline, the share of the gap to the
task's bound closed, the budget closest to running out, and control commands the engine has not
read yet.

What needs a look comes first, since the line is cut at the terminal's width.
"""

from __future__ import annotations

import time

from rich.text import Text

from ._budgets import tightest
from ._caption import Caption
from ._feed import Feed
from ._format import duration, metric, signed

QUIET = 60.0
"""Seconds without an event after which a live run's status says how long it has been quiet
(a long experiment, say)."""


def render_status(
    feed: Feed,
    *,
    alive: bool,
    follow: bool,
    unread_controls: int,
    now: float,
) -> Text:
    """`alive`: an engine holds the run now. `now` is the clock's time: how long a live run has
    been quiet, how long ago a dead one last wrote, what is left of the wall budget."""
    s = feed.state
    text = Text(no_wrap=True, overflow="ellipsis")
    if not feed.exists:
        text.append(f"waiting for {feed.tail.path}", style="bold yellow")
        return text
    if not s.run_id:
        text.append("no run_started event yet", style="bold yellow")
        return text
    text.append(f"{s.config.get('org_name', '?')} ", style="bold")
    quiet = now - s.last_t
    if s.finished:
        text.append(f"■ finished: {s.finish_reason}", style="bold blue")
    elif not alive:
        text.append("✖ no engine", style="bold red")
        text.append(f" (last event {duration(quiet)} ago; orgloop resume continues it)", "red")
    elif s.paused:
        text.append("❚❚ paused", style="bold red")
    else:
        text.append("● live", style="bold green")
        if s.waiting:
            _waiting(feed, text, now)
        elif quiet > QUIET:
            text.append(f" quiet {duration(quiet)}", style="yellow")
    if s.undone:
        n = len(s.undone)
        text.append(f"  {n} turn{'s' if n > 1 else ''} undone", style="bold red")
    if not follow and not s.finished:
        text.append("  not following", style="yellow")
    if unread_controls:
        plural = "s" if unread_controls > 1 else ""
        text.append(f"  {unread_controls} command{plural} not yet read", style="bold yellow")
    if feed.bad_lines:
        text.append(f"  {feed.bad_lines} unreadable lines", style="bold red")
    _figures(feed, text)
    left = "" if s.finished else tightest(feed, now if alive else None)
    if left:
        text.append(f"  {left}", style="yellow" if s.exhausted else "")
    text.append(f"  gen {s.generation}  {s.events} events  {s.run_id}", style="dim")
    return text


def _waiting(feed: Feed, text: Text, now: float) -> None:
    """Roles waiting out an API outage: what fails, when the next try comes, since when (the
    clock on the wall, as a person who wakes up to it reads it), and who waits."""
    waits = feed.state.waiting.values()
    first = min(waits, key=lambda w: float(w.get("since") or 0.0))
    latest = max(waits, key=lambda w: float(w.get("since") or 0.0) + float(w.get("waited") or 0))
    since = float(first.get("since") or 0.0)
    retry_at = sum(float(latest.get(k) or 0.0) for k in ("since", "waited", "retry_in"))
    roles = ", ".join(sorted(feed.state.waiting))
    text.append(
        f"  {first.get('what') or 'API error'}, retry in {duration(retry_at - now)}, waiting since "
        f"{time.strftime('%H:%M', time.localtime(since))} ({roles})",
        style="bold yellow",
    )


def _figures(feed: Feed, text: Text) -> None:
    """best (Δ against the baseline), the baseline, the gap to the bound closed."""
    s = feed.state
    text.append(f"  {feed.metric.get('name', 'metric')} ")
    text.append(metric(s.incumbent_metric), style="bold")
    base = feed.baseline
    kept = s.incumbent_exp in s.experiments and not s.experiments[s.incumbent_exp].baseline
    if kept and s.incumbent_metric is not None and base is not None:
        delta = s.incumbent_metric - base
        style = "green" if feed.better(delta) else ""
        text.append(f" ({s.incumbent_exp}, Δ {signed(delta)})", style=style or "dim")
    if base is not None:
        text.append(f"  baseline {metric(base)}", style="dim")
    closed = feed.gap_closed
    if closed is not None:
        text.append(f"  {closed:.0%} of gap to {metric(feed.bound)}", style="blue")


class StatusBar(Caption):
    """One line about the whole run."""

    DEFAULT_CSS = """
    StatusBar { padding: 0 1; background: $boost; }
    """

    def show(
        self, feed: Feed, *, alive: bool, follow: bool, unread_controls: int, now: float
    ) -> None:
        self.update(
            render_status(
                feed, alive=alive, follow=follow, unread_controls=unread_controls, now=now
            )
        )
