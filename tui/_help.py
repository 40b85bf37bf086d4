"""Every key the app answers, in one list (`KEYS`) that the help screen shows (`?` or F1) and the
docs' key table is checked against, so neither can fall behind the bindings."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str, str], ...] = (
    ("Everywhere", "1 2 3 4", "switch tab: Org, Messages, Experiments, History"),
    ("Everywhere", "tab / shift+tab", "move between the panes of a tab"),
    ("Everywhere", "? / F1", "this help"),
    ("Everywhere", "/", "search every message of the run (the Messages tab)"),
    ("Everywhere", "p", "pause the run: turns in flight finish, nothing new starts"),
    ("Everywhere", "r", "resume a paused run"),
    ("Everywhere", "s", "step: while paused, run one more turn"),
    ("Everywhere", "m", "send a message into the org as the human"),
    ("Everywhere", "a / x", "approve / reject the meta edit waiting for approval"),
    ("Everywhere", "q", "quit (the run goes on)"),
    ("Tables", "↑ ↓ PgUp PgDn Home End", "move the cursor; End follows new rows again"),
    ("Tables", "enter, or a click on the highlighted row", "open the row in full"),
    ("Org", "arrows, mouse", "scroll the graph; click a role's box to open it"),
    ("Plot", "← → Home End", "move the cursor from experiment to experiment"),
    ("Plot", "enter, or a click on a point", "open that experiment"),
    ("Messages", "role and kind filters", "show only messages to or from a role, of a kind"),
    ("Messages", "/ then enter (empty: clear)", "show only messages that contain the text"),
    ("Open item", "n or →, N or ←", "the next, the previous row of the table it came from"),
    ("Open item", "escape or q", "close"),
    ("Message form", "ctrl+s, escape", "send, cancel"),
)
"""(where, keys, what they do)."""


def keys_table() -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, expand=True)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    section = ""
    for where, keys, what in KEYS:
        if where != section:
            table.add_row(Text(f"\n{where}", style="bold"), "")
            section = where
        table.add_row(keys, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Every key; escape, q or ? closes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark,f1", "close", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%; border: thick $accent; background: $surface;
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("Keys", style="bold"))
            yield Static(keys_table(), id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)
