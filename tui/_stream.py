"""The message stream: the last `LIMIT` messages, newest at the bottom, filterable by role (as
sender or receiver) and by kind. Enter opens a message in full (`MessageStream.Opened`).

New messages are appended as they arrive and the oldest rows dropped past `LIMIT`; changing a
filter refills the rows from the feed's send order. While the cursor sits on the last row the stream
follows the newest message; move it up and it stays where you put it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Select

from ._caption import Caption
from ._feed import HUMAN, Feed
from ._format import clock, one_line
from ._table import Cells, KeyedTable

COLUMNS = (("time", 9), ("from", 10), ("to", 10), ("kind", 11), ("message", 70))


class MessageStream(Vertical):
    """Filters above a table of messages."""

    LIMIT = 1000
    """Most rows kept; older messages stay in the feed and come back when a filter narrows."""

    DEFAULT_CSS = """
    MessageStream #filters { height: 3; }
    MessageStream Select { width: 28; }
    MessageStream #stream-count { margin: 1 2; color: $text-muted; }
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
        self._applied: tuple[str | None, str | None] = (None, None)

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Select[str]([], prompt="any role", id="role-filter")
            yield Select[str]([], prompt="any kind", id="kind-filter")
            yield Caption("", id="stream-count")
        yield KeyedTable(COLUMNS, self._cells, limit=self.LIMIT, id="stream-table")

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

    # ---- feeding
    def show(self, new: Iterable[str]) -> None:
        """Append the messages `new` that pass the filters, keeping the last `LIMIT`."""
        feed = self.feed
        self._sync_options()
        role, kind = self._applied
        ids = [mid for mid in new if feed.matches(mid, role, kind)]
        if len(ids) >= self.LIMIT:
            self.table.clear()
        self.table.add(ids[-self.LIMIT :])
        self._count()

    def refill(self) -> None:
        """Show the last `LIMIT` messages that pass the filters, from the feed's send order."""
        self.table.clear()
        self.table.add(self.feed.last_messages(*self._applied, self.LIMIT))
        self._count()

    def _cells(self, mid: str) -> Cells:
        feed = self.feed
        msg = feed.state.messages[mid]
        return (
            Text(clock(feed.since_start(feed.sent_at.get(mid, 0.0))), style="dim"),
            Text(msg.sender, style="bold" if msg.sender == HUMAN else ""),
            Text(msg.receiver),
            Text(msg.kind, style="cyan"),
            Text(one_line(msg.body, COLUMNS[-1][1])),
        )

    def _count(self) -> None:
        self.query_one("#stream-count", Caption).update(
            f"{self.table.row_count} shown · {len(self.feed.order)} sent · enter opens"
        )

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
        if self.filters == self._applied:
            return
        self._applied = self.filters
        self.refill()

    def on_keyed_table_selected(self, event: KeyedTable.Selected) -> None:
        event.stop()
        self.post_message(self.Opened(event.key))
