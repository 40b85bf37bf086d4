"""A table whose rows are keys: added, updated and dropped in O(1) or O(rows), and rendered only
while on screen, so a run with thousands of experiments opens as fast as one with ten.

It is Textual's Line API (a `ScrollView` that draws one line at a time): a sticky header, then
one line per row. A row's cells come from the `source` callback, asked when the row is first
drawn and again after `touch(key)`; adding a row stores its key and nothing else. Columns have
fixed widths (text past them ends in an ellipsis), except one that may flex to take what is left;
when the table is too narrow for them all, the columns it needs least are dropped before the
flexible one is cut below its minimum. It does what the app needs and no more: a row cursor
(arrows, page keys, home/end, click), `Highlighted` when the cursor moves, `Selected` on enter or
a click on the cursor row, and a count of rows added below while the cursor was elsewhere
(`unseen`). Textual's DataTable measures every cell of every new row, which is what made this
worth writing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cells = tuple[Text, ...]
PAD = 1
"""Blank cells either side of a column."""


@dataclass(frozen=True)
class Column:
    name: str
    width: int
    """Its width; for the flexible column, the least it is given before others are dropped."""
    keep: int = 9
    """When the table is too narrow, columns with the lowest `keep` go first (ties: the
    rightmost); a column with the highest is never dropped."""
    flex: bool = False
    """Takes the width the other columns leave (one column at most)."""


def fit_columns(columns: Sequence[Column], width: int) -> list[tuple[int, int]]:
    """(index, width) of each column shown at `width` cells, in order."""
    shown = list(range(len(columns)))

    def need(ids: list[int]) -> int:
        return sum(columns[i].width + 2 * PAD for i in ids)

    top = max((c.keep for c in columns), default=0)
    while need(shown) > width:
        droppable = [i for i in shown if columns[i].keep < top and not columns[i].flex]
        if not droppable:
            break
        shown.remove(min(droppable, key=lambda i: (columns[i].keep, -i)))
    spare = max(0, width - need(shown))
    return [(i, columns[i].width + (spare if columns[i].flex else 0)) for i in shown]


class _RowMessage(Message):
    """A message about one row of a KeyedTable, named by its key."""

    def __init__(self, table: KeyedTable, key: str) -> None:
        super().__init__()
        self.table = table
        self.key = key

    @property
    def control(self) -> KeyedTable:
        return self.table


class KeyedTable(ScrollView, can_focus=True):
    """Rows by key under a fixed header; `source(key)` gives a row's cells."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--cursor",
        "keyed-table--stripe",
    }

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; overflow-x: hidden; background: $surface; }
    KeyedTable > .keyed-table--header { text-style: bold; background: $panel; }
    KeyedTable > .keyed-table--stripe { background: $surface-lighten-1; }
    KeyedTable > .keyed-table--cursor { background: $primary 30%; }
    KeyedTable:focus > .keyed-table--cursor { background: $primary 70%; }
    """

    cursor: reactive[int] = reactive(0, init=False)
    """Index of the highlighted row."""

    class Highlighted(_RowMessage):
        """The cursor moved to another row."""

    class Selected(_RowMessage):
        """The user asked to open the row under the cursor."""

    def __init__(
        self,
        columns: Sequence[Column],
        source: Callable[[str], Cells],
        *,
        follow: bool = True,
        limit: int | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.source = source
        self.follow = follow
        """Whether the cursor stays on the last row as rows are added, when it was there."""
        self.limit = limit
        """Most rows kept: adding past it drops the oldest."""
        self.keys: list[str] = []
        self._index: dict[str, int] = {}
        self._cells: dict[str, Cells] = {}
        self._fitted: tuple[int, list[tuple[int, int]]] = (-1, [])
        """(width, the columns shown at it)."""
        self.unseen = 0
        """Rows added below the cursor since it last stood on the last row."""
        self._pending_size = False
        self.virtual_size = Size(0, 1)

    # ---- rows
    def __contains__(self, key: object) -> bool:
        return key in self._index

    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def cursor_key(self) -> str | None:
        return self.keys[self.cursor] if self.keys else None

    def add(self, keys: Iterable[str]) -> None:
        """Append rows (keys already present are refreshed instead), then drop the oldest past
        `limit`."""
        at_end = not self.keys or self.cursor >= len(self.keys) - 1
        added = 0
        for key in keys:
            if key in self._index:
                self.touch(key)
                continue
            self._index[key] = len(self.keys)
            self.keys.append(key)
            added += 1
        if not added:
            return
        if not (self.follow and at_end):
            self.unseen += added
        if self.limit is not None and len(self.keys) > self.limit:
            self._drop(len(self.keys) - self.limit)
        self._resize()
        if self.follow and at_end:
            self.move_to(len(self.keys) - 1)
        self.refresh()

    def touch(self, key: str) -> None:
        """The row's cells changed: ask `source` again when it is next drawn."""
        if self._cells.pop(key, None) is not None:
            self.refresh()

    def _drop(self, n: int) -> None:
        """Forget the oldest `n` rows; the cursor and the view keep their rows if they survive."""
        for key in self.keys[:n]:
            self._cells.pop(key, None)
        del self.keys[:n]
        self._index = {k: i for i, k in enumerate(self.keys)}
        self.set_reactive(KeyedTable.cursor, max(0, self.cursor - n))
        self.scroll_to(y=max(0.0, self.scroll_y - n), animate=False, immediate=True)

    def clear(self) -> None:
        self.unseen = 0
        self.keys.clear()
        self._index.clear()
        self._cells.clear()
        self.set_reactive(KeyedTable.cursor, 0)
        self._resize()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def move_to(self, index_or_key: int | str) -> None:
        index = self._index[index_or_key] if isinstance(index_or_key, str) else index_or_key
        if self.keys:
            self.cursor = max(0, min(index, len(self.keys) - 1))

    def _resize(self) -> None:
        # A new virtual size costs a layout of the whole screen; a table in a hidden tab takes
        # its size when it is shown, so a poll lays out at most the table you are looking at.
        if self.size.height == 0:
            self._pending_size = True
            return
        self._pending_size = False
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.keys) + 1)

    def on_resize(self) -> None:
        self._resize()
        self.call_after_refresh(self._show_cursor)

    # ---- cursor
    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def watch_cursor(self, old: int, new: int) -> None:
        if new >= len(self.keys) - 1:
            self.unseen = 0
        self._show_cursor()
        self.refresh()
        if self.keys:
            self.post_message(self.Highlighted(self, self.keys[new]))

    def _show_cursor(self) -> None:
        """Scroll as little as puts the cursor's row on screen."""
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self._page:
            self.scroll_to(y=self.cursor - self._page + 1, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * self._page)

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.keys) - 1 if end else 0)

    def action_select(self) -> None:
        if self.keys:
            self.post_message(self.Selected(self, self.keys[self.cursor]))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1 or not self.keys:
            return
        index = round(self.scroll_y) + event.y - 1
        if index >= len(self.keys):
            return
        if index == self.cursor:
            self.action_select()
        else:
            self.move_to(index)

    # ---- drawing
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            style = self.get_component_rich_style("keyed-table--header")
            line = self._line(tuple(Text(c.name) for c in self.columns), style, width)
        else:
            index = round(self.scroll_y) + y - 1
            if index >= len(self.keys):
                return Strip.blank(width, self.rich_style)
            key = self.keys[index]
            cells = self._cells.get(key)
            if cells is None:
                cells = self._cells[key] = self.source(key)
            if index == self.cursor:
                style = self.get_component_rich_style("keyed-table--cursor")
            elif index % 2:
                style = self.get_component_rich_style("keyed-table--stripe")
            else:
                style = self.rich_style
            line = self._line(cells, style, width)
        segments = list(line.render(self.app.console))
        return Strip(segments).extend_cell_length(width, style).crop(0, width)

    def shown_columns(self, width: int) -> list[tuple[int, int]]:
        if self._fitted[0] != width:
            self._fitted = (width, fit_columns(self.columns, width))
        return self._fitted[1]

    def _line(self, cells: Cells, style: Style, total: int) -> Text:
        line = Text(style=style, no_wrap=True, end="")
        pad = " " * PAD
        for i, width in self.shown_columns(total):
            if i >= len(cells):
                break
            cell = cells[i]
            text = cell.copy()
            text.truncate(width, overflow="ellipsis")
            text.align(cell.justify if cell.justify in ("right", "center") else "left", width)
            line.append(pad)
            line.append_text(text)
            line.append(pad)
        return line
