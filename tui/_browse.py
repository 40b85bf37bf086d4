"""A modal that shows one item of a list in full and steps through the list: `n` or → the next,
`N` or ← the previous, escape (or q) closes and answers with the item last shown, so the table
it came from can put its cursor there.

Subclasses say how an item reads (`head` and `body`, Rich renderables drawn at once, so a long
diff is coloured and scrolls like the rest); the list is the table's rows as they were when the
modal opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class BrowseScreen(ModalScreen[str | None]):
    """One of `keys`, starting at `start`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("n,right", "step(1)", "Next"),
        Binding("N,left", "step(-1)", "Previous"),
    ]

    DEFAULT_CSS = """
    BrowseScreen { align: center middle; }
    BrowseScreen > VerticalScroll {
        width: 90%; height: 90%; border: thick $accent; background: $surface; padding: 0 1;
    }
    BrowseScreen .browse-head { background: $boost; padding: 0 1; }
    """

    what = "item"
    """What an item is called, for the position line."""

    def __init__(self, keys: Sequence[str], start: str) -> None:
        super().__init__()
        self.keys = list(keys) or [start]
        self.index = self.keys.index(start) if start in self.keys else 0

    @property
    def key(self) -> str:
        return self.keys[self.index]

    def head(self, key: str) -> RenderableType:
        return Text(key, style="bold")

    def body(self, key: str) -> RenderableType:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="browse-scroll"):
            yield Static(id="browse-head", classes="browse-head")
            yield Static(id="browse-body")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        position = Text(
            f"{self.what} {self.index + 1} of {len(self.keys)}   n next · N previous · "
            "escape closes",
            style="dim",
        )
        head = self.head(self.key)
        self.query_one("#browse-head", Static).update(
            Text.assemble(head, "\n", position) if isinstance(head, Text) else head
        )
        self.query_one("#browse-body", Static).update(self.body(self.key))
        self.query_one("#browse-scroll", VerticalScroll).scroll_home(animate=False)

    def action_step(self, delta: int) -> None:
        index = max(0, min(len(self.keys) - 1, self.index + delta))
        if index != self.index:
            self.index = index
            self._show()

    def action_close(self) -> None:
        self.dismiss(self.key)
