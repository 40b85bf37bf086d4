"""A message in full: who sent it to whom, when, in which turn, its body rendered as Markdown,
any files it carries as code, a diff it carries coloured, and the rest of its data as JSON.
Steps through the message table's rows (`BrowseScreen`)."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text

from orgloop.runtime.core.state import Message

from ._browse import BrowseScreen
from ._diff import diff_text
from ._feed import Feed
from ._format import clock

_LANGS = {".py": "python", ".md": "markdown", ".json": "json", ".yaml": "yaml", ".toml": "toml"}
THEME = "ansi_dark"
"""Colours for code: the terminal's own palette, as the rest of the app uses."""


def message_body(msg: Message) -> RenderableType:
    """The body as written, then its files, its diff and the rest of its data."""
    parts: list[RenderableType] = [
        Markdown(msg.body, code_theme=THEME) if msg.body else Text("(empty body)", style="dim")
    ]
    data = dict(msg.data)
    files = data.pop("files", None)
    if isinstance(files, dict) and files:
        parts.append(Text("\nFiles", style="bold"))
        for path, text in files.items():
            lang = _LANGS.get(PurePosixPath(str(path)).suffix, "text")
            parts.append(Text(str(path), style="cyan"))
            parts.append(Syntax(str(text), lang, theme=THEME, word_wrap=True))
    diff = data.pop("diff", None)
    if isinstance(diff, str) and diff.strip():
        parts += [Text("\nDiff", style="bold"), diff_text(diff)]
    if data:
        parts.append(Text("\nData", style="bold"))
        parts.append(Syntax(json.dumps(data, indent=2, default=str), "json", theme=THEME))
    return Group(*parts)


class MessageScreen(BrowseScreen):
    """One message, read in full."""

    what = "message"

    def __init__(self, feed: Feed, keys: list[str], start: str) -> None:
        super().__init__(keys, start)
        self.feed = feed

    @property
    def msg(self) -> Message:
        return self.feed.state.messages[self.key]

    def head(self, key: str) -> RenderableType:
        m = self.feed.state.messages[key]
        since = self.feed.since_start(self.feed.sent_at.get(m.id, 0.0))
        text = Text()
        text.append(m.sender, style="bold")
        text.append(" → ")
        text.append(m.receiver, style="bold")
        text.append(f"   {m.kind}", style="cyan")
        text.append(f"   {m.id}   {clock(since)}")
        text.append(f"   turn {m.turn}" if m.turn else "   (from outside)", style="dim")
        return text

    def body(self, key: str) -> RenderableType:
        return message_body(self.feed.state.messages[key])
