"""The message stream: the last `LIMIT` messages, newest at the bottom, filterable by role (as
sender or receiver), by kind, and by text (`/`: every message of the run is searched, not only
the rows kept). Enter opens a message in full (`MessageStream.Opened`).

New messages are appended as they arrive and the oldest rows dropped past `LIMIT`; changing a
filter refills the rows from the feed's send order. While the cursor sits on the last row the
stream follows the newest message; move it up and it stays where you put it, and the line under
the table counts the new rows below ("12 new ↓", End goes to them).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Select

from ._caption import Caption
from ._feed import HUMAN, Feed
from ._format import clock, one_line
from ._table import Cells, Column, KeyedTable

COLUMNS = (
    Column("time", 9, keep=4),
    Column("from", 10, keep=8),
    Column("to", 10, keep=7),
    Column("kind", 11, keep=6),
    Column("message", 24, flex=True),
)
TEXT = 400
"""Characters of a message's first line kept for its row (the table cuts it to fit)."""


class MessageStream(Vertical):
    """Filters above a table of messages, a count under it."""

    LIMIT = 1000
    """Most rows kept; older messages stay in the feed and come back when a filter narrows."""

    DEFAULT_CSS = """
    MessageStream #filters { height: 3; }
    MessageStream Select { width: 24; }
    MessageStream #search { width: 1fr; }
    MessageStream #stream-count { height: 1; padding: 0 1; color: $text-muted; }
    """

    class Opened(Message):
        """The user asked to read one message in full."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self._options: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._applied: tuple[str | None, str | None, str] = (None, None, "")
        self._matches = 0
        """Messages that pass the filters, over the whole run."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Select[str]([], prompt="any role", id="role-filter")
            yield Select[str]([], prompt="any kind", id="kind-filter")
            yield Input(placeholder="/ search every message", id="search")
        yield KeyedTable(COLUMNS, self._cells, limit=self.LIMIT, id="stream-table")
        yield Caption("", id="stream-count")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#stream-table", KeyedTable)

    @property
    def filters(self) -> tuple[str | None, str | None]:
        """(role, kind); None where any passes."""
        out: list[str | None] = []
        for sel_id in ("#role-filter", "#kind-filter"):
            value = self.query_one(sel_id, Select).value
            out.append(value if isinstance(value, str) else None)
        return out[0], out[1]

    @property
    def text(self) -> str:
        """The search applied ('' for none)."""
        return self._applied[2]

    # ---- feeding
    def show(self, new: Iterable[str]) -> None:
        """Append the messages `new` that pass the filters, keeping the last `LIMIT`."""
        feed = self.feed
        self._sync_options()
        role, kind, text = self._applied
        needle = text.casefold()
        ids = [mid for mid in new if feed.matches(mid, role, kind, needle)]
        self._matches += len(ids)
        if len(ids) >= self.LIMIT:
            self.table.clear()
        self.table.add(ids[-self.LIMIT :])
        self._count()

    def refill(self) -> None:
        """Show the last `LIMIT` messages that pass the filters, from the feed's send order."""
        self.table.clear()
        ids, self._matches = self.feed.last_messages(*self._applied[:2], self.LIMIT, self.text)
        self.table.add(ids)
        self._count()

    def search(self, text: str) -> None:
        """Keep only messages that contain `text` ('' keeps all)."""
        box = self.query_one("#search", Input)
        if box.value != text:
            box.value = text
        self._apply()

    def _apply(self) -> None:
        applied = (*self.filters, self.query_one("#search", Input).value.strip())
        if applied != self._applied:
            self._applied = applied
            self.refill()

    def _cells(self, mid: str) -> Cells:
        feed = self.feed
        msg = feed.state.messages[mid]
        return (
            Text(clock(feed.since_start(feed.sent_at.get(mid, 0.0))), style="dim"),
            Text(msg.sender, style="bold" if msg.sender == HUMAN else ""),
            Text(msg.receiver),
            Text(msg.kind, style="cyan"),
            Text(one_line(msg.body, TEXT)),
        )

    def _count(self) -> None:
        table = self.table
        text = Text(no_wrap=True, overflow="ellipsis")
        if table.unseen:
            text.append(f"{table.unseen} new ↓ (End)  ", style="bold yellow")
        sent = len(self.feed.order)
        if self.text:
            text.append(f"{self._matches:,} of {sent:,} messages contain “{self.text}”")
        elif any(self.filters):
            text.append(f"{self._matches:,} of {sent:,} messages pass the filters")
        else:
            text.append(f"{sent:,} messages")
        if self._matches > table.row_count:
            text.append(f" · the newest {table.row_count:,} shown")
        text.append(" · enter opens · / searches", style="dim")
        self.query_one("#stream-count", Caption).update(text)

    def _sync_options(self) -> None:
        roles, kinds = tuple(self.feed.roles), tuple(self.feed.kinds)
        if (roles, kinds) == self._options:
            return
        for sel_id, values, old in (
            ("#role-filter", roles, self._options[0]),
            ("#kind-filter", kinds, self._options[1]),
        ):
            if values == old:
                continue
            select = self.query_one(sel_id, Select)
            current = select.value
            select.set_options((v, v) for v in values)
            if isinstance(current, str) and current in values:
                select.value = current
        self._options = (roles, kinds)

    # ---- events
    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._apply()

    @on(Input.Submitted, "#search")
    def _searched(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply()
        self.table.focus()

    def on_keyed_table_highlighted(self, event: KeyedTable.Highlighted) -> None:
        event.stop()
        self._count()

    def on_keyed_table_selected(self, event: KeyedTable.Selected) -> None:
        event.stop()
        self.post_message(self.Opened(event.key))
