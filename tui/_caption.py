"""A line of text that redraws in place. `Label.update` asks Textual for a layout pass every time,
which is the most expensive thing a poll can do; a caption's size never depends on its text, so
it only asks for a repaint, and only when the text changed. Text longer than the caption ends in
an ellipsis."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class Caption(Widget):
    """Fixed-size text: give it a width in CSS (1fr by default) and one line of height."""

    DEFAULT_CSS = """
    Caption { height: 1; width: 1fr; }
    """

    def __init__(self, text: str | Text = "", *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text(text) if isinstance(text, str) else text

    @property
    def text(self) -> Text:
        return self._text

    def update(self, text: str | Text) -> None:
        text = Text(text) if isinstance(text, str) else text
        if text != self._text:
            self._text = text
            self.refresh()

    def render(self) -> Text:
        width = self.content_size.width
        if self._text.cell_len <= width or width <= 0:
            return self._text
        text = self._text.copy()
        text.truncate(width, overflow="ellipsis")
        return text
