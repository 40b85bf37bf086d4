"""The status line at the top: which run, its state (live, paused, finished and why), how far it
got, the incumbent against the task's bound, and control commands the engine has not read yet."""

from __future__ import annotations

from rich.text import Text

from ._caption import Caption
from ._feed import Feed
from ._format import duration, metric

QUIET = 60.0
"""Seconds without an event after which a live run's status says how long it has been quiet."""


def render_status(
    feed: Feed, *, follow: bool, unread_controls: int, now: float | None = None
) -> Text:
    """`now` is given only while following an unfinished run: then a run that has gone quiet
    (a long experiment, or an engine that died) says for how long."""
    s = feed.state
    text = Text(no_wrap=True, overflow="ellipsis")
    if not feed.exists:
        text.append(f"waiting for {feed.tail.path}", style="bold yellow")
        return text
    if not s.run_id:
        text.append("no run_started event yet", style="bold yellow")
        return text
    # What needs a look comes first: the line is cut at the terminal's width.
    text.append(f"{s.config.get('org_name', '?')} ", style="bold")
    if s.finished:
        text.append(f"■ finished: {s.finish_reason}", style="bold blue")
    elif s.paused:
        text.append("❚❚ paused", style="bold red")
    elif follow:
        text.append("● live", style="bold green")
    else:
        text.append("○ not following", style="yellow")
    if unread_controls:
        plural = "s" if unread_controls > 1 else ""
        text.append(f"  {unread_controls} command{plural} not yet read", style="bold yellow")
    if now is not None and not s.finished and now - s.last_t > QUIET:
        text.append(f"  quiet {duration(now - s.last_t)}", style="yellow")
    if feed.bad_lines:
        text.append(f"  {feed.bad_lines} unreadable lines", style="bold red")
    if s.exhausted and not s.finished:
        text.append(f"  spent: {', '.join(s.exhausted)}", style="yellow")
    m = feed.metric
    text.append(f"  {m.get('name', 'metric')} ")
    text.append(metric(s.incumbent_metric), style="bold")
    if s.incumbent_exp:
        text.append(f" ({s.incumbent_exp})", style="dim")
    if m.get("bound") is not None:
        text.append(f" bound {metric(m['bound'])}", style="blue")
    text.append(f"  gen {s.generation}  {s.events} events  {s.run_id}", style="dim")
    return text


class StatusBar(Caption):
    """One line about the whole run."""

    DEFAULT_CSS = """
    StatusBar { padding: 0 1; background: $boost; }
    """

    def show(
        self, feed: Feed, *, follow: bool, unread_controls: int, now: float | None = None
    ) -> None:
        self.update(render_status(feed, follow=follow, unread_controls=unread_controls, now=now))
