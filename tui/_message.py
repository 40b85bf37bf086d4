"""A message in full, in a modal: who sent it to whom, when, in which turn, its body rendered as
Markdown, any files it carries as code blocks, and the rest of its data as JSON. Escape closes."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from orgloop.runtime.core.state import Message

from ._format import clock, fence, label_fences

_LANGS = {".py": "python", ".md": "markdown", ".json": "json", ".yaml": "yaml", ".toml": "toml"}


def message_markdown(msg: Message) -> str:
    """The body as written, then its files and data, as one Markdown document."""
    parts = [label_fences(msg.body) if msg.body else "*(empty body)*"]
    data = dict(msg.data)
    files = data.pop("files", None)
    if isinstance(files, dict) and files:
        parts.append("---\n\n**Files**")
        for path, text in files.items():
            lang = _LANGS.get(PurePosixPath(str(path)).suffix, "text")
            parts.append(f"`{path}`\n\n{fence(str(text), lang)}")
    if data:
        parts.append("---\n\n**Data**")
        parts.append(fence(json.dumps(data, indent=2, default=str), "json"))
    return "\n\n".join(parts)


class MessageScreen(ModalScreen[None]):
    """One message, read in full."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    MessageScreen { align: center middle; }
    MessageScreen > VerticalScroll {
        width: 90%; height: 90%; border: thick $accent; background: $surface; padding: 0 1;
    }
    MessageScreen #message-head { padding: 0 1; background: $boost; }
    """

    def __init__(self, msg: Message, since_start: float) -> None:
        super().__init__()
        self.msg = msg
        self.since_start = since_start

    def compose(self) -> ComposeResult:
        m = self.msg
        head = (
            f"[b]{m.sender}[/b] → [b]{m.receiver}[/b]   [cyan]{m.kind}[/cyan]   {m.id}   "
            f"{clock(self.since_start)}" + (f"   turn {m.turn}" if m.turn else "   (from outside)")
        )
        with VerticalScroll(id="message-scroll"):
            yield Static(head, id="message-head")
            yield Markdown(message_markdown(m), id="message-body")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
