"""The org graph: every role with its state, and under it the edges it sends on, with counts.

A role is idle, thinking (an agent turn is running), running (an experiment is in a sandbox slot),
or waiting (messages are pending for it and no turn runs: it waits for a turn or experiment slot;
`paused` while the run is paused). Edge counts are the `message_sent` events per sender, receiver
and kind. It draws an adjacency list rather than boxes and lines: it reads the same at six roles
and at sixty, and never needs a layout engine.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ._feed import Feed
from ._format import STATE_STYLE


def render_graph(feed: Feed) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    roles = feed.roles
    if not roles:
        text.append("No messages yet.", style="dim")
        return text
    activity = feed.role_activity()
    width = max(len(r) for r in roles) + 1
    slots = int(feed.state.config.get("slots", 1) or 1)
    for role in roles:
        running, waiting = activity.get(role, (0, 0))
        state = feed.role_state(role, (running, waiting))
        style = STATE_STYLE[state]
        text.append("● ", style=style)
        text.append(f"{role:<{width}}", style="bold")
        label = f"{state} {running}/{slots}" if state == "running" and slots > 1 else state
        text.append(f"{label:<11}", style=style)
        turns = feed.state.role_turns.get(role, 0)
        if role != "human":
            text.append(f"{turns:>5} turns", style="dim" if not turns else "")
        if waiting:
            text.append(f"  {waiting} waiting", style="magenta")
        text.append("\n")
        out = [(dst, kinds) for (src, dst), kinds in feed.edges.items() if src == role]
        for i, (dst, kinds) in enumerate(out):
            branch = "└→ " if i == len(out) - 1 else "├→ "
            text.append("    " + branch, style="dim")
            text.append(f"{dst:<{width}}")
            text.append("  ".join(f"{k} {n}" for k, n in kinds.most_common()), style="cyan")
            text.append("\n")
    text.append("\n")
    for state in ("idle", "thinking", "running", "waiting"):
        text.append("● ", style=STATE_STYLE[state])
        text.append(f"{state}  ", style="dim")
    return text


class OrgGraph(Widget):
    """The roles and the messages between them."""

    DEFAULT_CSS = """
    OrgGraph { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text()

    def show(self, feed: Feed) -> None:
        text = render_graph(feed)
        if text == self._text:
            return
        # Only a new role or edge changes the height; a state change is a repaint.
        grew = len(text.plain.splitlines()) != len(self._text.plain.splitlines())
        self._text = text
        self.refresh(layout=grew)

    def render(self) -> Text:
        return self._text
