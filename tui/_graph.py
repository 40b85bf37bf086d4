"""The org drawn as a graph: a box per role (and the human), an arrow per edge, laid out to fit the
pane (`_layout`), each box lit by its role's state and each arrow by what travels on it now.

An arrow is bright while a turn handles a message that came along it, magenta while a message
waits on it, grey when it is idle, and dim when the org declares it and nobody has sent on it
yet. A box says its role's state and, where there is room, for how long. The pane scrolls when
the graph does not fit (arrows and page keys, or the mouse); a click on a box asks for that role
in full (`OrgGraph.Opened`).

The layout depends only on the roles, the edges and the pane's size, so it is computed when one
of those changes; a state change redraws the picture and nothing else.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ._canvas import Canvas
from ._feed import HUMAN, Feed
from ._format import STATE_STYLE, duration
from ._layout import Box, Layout, Variant, fit
from ._roles import role_now

STATE_WIDTH = 14
"""Room for a state line in a roomy box: `thinking 1h02m`."""
EDGE_STYLE = {"busy": "bold yellow", "queued": "magenta", "used": "grey62", "declared": "grey35"}
BOX_STYLE = {
    "idle": "grey62",
    "thinking": "bold yellow",
    "running": "bold green",
    "waiting": "magenta",
    "paused": "bold red",
    "stopped": "red",
}
LEGEND = ("idle", "thinking", "running", "waiting", "stopped")
ROOM = 6
"""Fewest rows the graph is laid out for when it sizes itself."""


def variants(names: list[str]) -> list[Variant]:
    """Roomy boxes with a state line, boxes of one line, and tight ones, in that order."""
    return [
        Variant({n: (max(len(n) + 2, STATE_WIDTH) + 4, 4) for n in names}),
        Variant({n: (len(n) + 6, 3) for n in names}, gap=4),
        Variant({n: (len(n) + 4, 3) for n in names}, gap=3),
    ]


def edge_states(feed: Feed) -> dict[tuple[str, str], str]:
    """Per (sender, receiver): busy, queued, used or declared."""
    s = feed.state
    out = {
        pair: "used" if sum(kinds.values()) else "declared"
        for pair, kinds in feed.all_edges().items()
    }
    for mid in s.pending:
        msg = s.messages.get(mid)
        if msg is not None:
            out[(msg.sender, msg.receiver)] = "queued"
    for role, mid in s.running.values():
        msg = s.messages.get(mid)
        if msg is not None:
            out[(msg.sender, role)] = "busy"
    return out


class OrgGraph(ScrollView, can_focus=True):
    """The graph, scrollable."""

    DEFAULT_CSS = """
    OrgGraph { height: 1fr; }
    """

    class Opened(Message):
        """A role's box was clicked."""

        def __init__(self, role: str) -> None:
            super().__init__()
            self.role = role

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.layout_: Layout | None = None
        self._key: tuple[object, ...] = ()
        self._lines: list[Strip] = []
        self._texts: list[Text] = []
        self._drawn: tuple[object, ...] = ()
        """What the picture was last drawn from."""
        self._offset = 0
        self.alive = False
        self.clock = 0.0

    def show(self, *, alive: bool, clock: float) -> None:
        self.alive, self.clock = alive, clock
        self._relayout()
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()
        self._draw()

    # ---- layout and drawing
    def _structure(self) -> tuple[list[str], list[tuple[str, str]]]:
        roles = self.feed.roles
        nodes = [HUMAN, *(r for r in roles if r != HUMAN)] if roles else []
        edges = self.feed.all_edges()
        # The kick-off first: the walk that layers the graph starts from the human along it.
        pairs = sorted(
            (p for p in edges if p[0] in nodes and p[1] in nodes),
            key=lambda p: "kickoff" not in edges[p],
        )
        return nodes, pairs

    def _relayout(self) -> None:
        width, height = self.scrollable_content_region.size
        if width <= 0:
            return
        if self.styles.height is not None and self.styles.height.is_auto:
            # Sized by its content: it may take up to half the screen, the rest is the tab's.
            height = max(ROOM, self.screen.size.height // 2 - 5)
        nodes, edges = self._structure()
        key = (tuple(nodes), tuple(edges), width, height)
        if key == self._key:
            return
        self._key = key
        root = HUMAN if HUMAN in nodes else None
        self.layout_ = fit(nodes, edges, variants(nodes), (width, height), root=root)
        self._offset = max(0, (width - self.layout_.width) // 2)
        self._texts = []  # the picture moved: draw it again
        self.virtual_size = Size(self.layout_.width + self._offset, self.layout_.height)

    def _draw(self) -> None:
        lay = self.layout_
        if lay is None:
            return
        states = edge_states(self.feed)
        boxes = {name: self._look(name) for name in lay.boxes}
        key = (tuple(boxes.items()), tuple(sorted(states.items())), self._offset)
        if key == self._drawn and self._texts:
            return  # nothing on the picture moved (the clock ticked under idle roles)
        self._drawn = key
        canvas = Canvas(lay.width, lay.height)
        order = ("declared", "used", "queued", "busy")  # the lit ones last, so they win
        for state in order:
            for route in lay.routes:
                if states.get((route.src, route.dst)) == state:
                    canvas.route(route, EDGE_STYLE[state])
        for name, look in boxes.items():
            self._box(canvas, lay.boxes[name], *look)
        lines = canvas.lines()
        if lines == self._texts:
            return
        self._texts = lines
        pad = Segment(" " * self._offset)
        self._lines = [Strip([pad, *line.render(self.app.console)]) for line in lines]
        self.refresh()

    def _look(self, name: str) -> tuple[str, str, str]:
        """(state, state line, border style) of a role's box."""
        if name == HUMAN:
            return "idle", "", "cyan"
        now = role_now(self.feed, name, self.alive)
        state = now.state
        label = state
        roomy = self.layout_ is not None and self.layout_.boxes[name].h >= 4
        if now.since is not None and state != "idle" and roomy:  # only a roomy box has the time
            label = f"{state} {duration(self.clock - now.since)}"
        return state, label, BOX_STYLE.get(state, "")

    def _box(self, canvas: Canvas, box: Box, state: str, label: str, style: str) -> None:
        name = box.name
        canvas.box(box, style)
        inner = box.w - 2
        pad = 1 if inner >= len(name) + 4 else 0
        head = Text(" " * pad, end="")
        head.append("● " if name != HUMAN else "◆ ", style=STATE_STYLE.get(state, "cyan"))
        head.append(name, style="bold")
        canvas.write(box.x + 1, box.y + 1, head)
        if box.h >= 4 and label:
            line = Text(" " * pad + label[: inner - 2 * pad], style=STATE_STYLE.get(state, ""))
            canvas.write(box.x + 1, box.y + 2, line)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        if row >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        strip = self._lines[row].crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, self.rich_style)

    def on_click(self, event: events.Click) -> None:
        if self.layout_ is None:
            return
        x = event.x + self.scroll_offset.x - self._offset
        y = event.y + self.scroll_offset.y
        name = self.layout_.box_at(x, y)
        if name is not None and name != HUMAN:
            self.post_message(self.Opened(name))


def legend() -> Text:
    """What the colours of boxes and arrows mean, on one line."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for state in LEGEND:
        text.append("● ", style=STATE_STYLE.get(state, ""))
        text.append(f"{state}  ", style="dim")
    text.append("━ ", style=EDGE_STYLE["busy"])
    text.append("handling  ", style="dim")
    text.append("━ ", style=EDGE_STYLE["queued"])
    text.append("waiting", style="dim")
    return text
