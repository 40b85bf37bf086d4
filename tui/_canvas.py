"""Draw a `Layout` with box-drawing characters: each cell keeps which of its four sides a line
leaves by, and the character is chosen from those (so a route that meets a box border makes a
tee, and two routes that cross make a cross), with rounded corners where a box has a plain one.

Each route and box has a style; where routes share a cell the one drawn last wins, so the caller
draws the quiet ones first and the lit ones last. Text inside a box is written over its middle.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text

from ._layout import DOWN, LEFT, RIGHT, UP, Box, Direction, Route

_BIT = {UP: 1, DOWN: 2, LEFT: 4, RIGHT: 8}
_CHARS = {
    0: " ",
    1: "╵",
    2: "╷",
    4: "╴",
    8: "╶",
    3: "│",
    12: "─",
    10: "┌",
    6: "┐",
    9: "└",
    5: "┘",
    11: "├",
    7: "┤",
    14: "┬",
    13: "┴",
    15: "┼",
}
_ROUND = {10: "╭", 6: "╮", 9: "╰", 5: "╯"}
_HEAD = {RIGHT: "▶", LEFT: "◀", DOWN: "▼", UP: "▲"}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.bits = [[0] * width for _ in range(height)]
        self.chars: list[list[str | None]] = [[None] * width for _ in range(height)]
        self.styles: list[list[Style | str]] = [[""] * width for _ in range(height)]
        self.corners: set[tuple[int, int]] = set()

    def _join(self, x: int, y: int, d: Direction, style: Style | str) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.bits[y][x] |= _BIT[d]
            if style:
                self.styles[y][x] = style

    def box(self, b: Box, style: Style | str) -> None:
        right, bottom = b.x + b.w - 1, b.y + b.h - 1
        for x in range(b.x, right):
            self._join(x, b.y, RIGHT, style)
            self._join(x + 1, b.y, LEFT, style)
            self._join(x, bottom, RIGHT, style)
            self._join(x + 1, bottom, LEFT, style)
        for y in range(b.y, bottom):
            self._join(b.x, y, DOWN, style)
            self._join(b.x, y + 1, UP, style)
            self._join(right, y, DOWN, style)
            self._join(right, y + 1, UP, style)
        self.corners |= {(b.x, b.y), (right, b.y), (b.x, bottom), (right, bottom)}

    def route(self, r: Route, style: Style | str) -> None:
        cells = r.cells
        first, (bx, by) = cells[0], r.start
        self._join(first[0], first[1], r.start, style)  # into the sender's border: a tee
        self._join(first[0] + bx, first[1] + by, (-bx, -by), "")
        for (x0, y0), (x1, y1) in itertools.pairwise(cells):
            d = (x1 - x0, y1 - y0)
            self._join(x0, y0, d, style)
            self._join(x1, y1, (-d[0], -d[1]), style)
        x, y = cells[-1]
        self.chars[y][x] = _HEAD[r.end]
        self.styles[y][x] = style

    def write(self, x: int, y: int, text: Text) -> None:
        """Text from cell (x, y), one character a cell, over whatever is there."""
        for i, span_text in enumerate(_cells(text)):
            if 0 <= x + i < self.width and 0 <= y < self.height:
                char, style = span_text
                self.chars[y][x + i] = char
                self.styles[y][x + i] = style

    def lines(self) -> list[Text]:
        out = []
        for y in range(self.height):
            line = Text(no_wrap=True, end="")
            run: list[str] = []
            run_style: Style | str = ""
            for x in range(self.width):
                char = self.chars[y][x]
                if char is None:
                    bits = self.bits[y][x]
                    round_corner = (x, y) in self.corners and bits in _ROUND
                    char = _ROUND[bits] if round_corner else _CHARS[bits]
                style = self.styles[y][x]
                if style != run_style and run:  # one span per run of a style, not per cell
                    line.append("".join(run), run_style or None)
                    run = []
                run_style = style
                run.append(char)
            if run:
                line.append("".join(run), run_style or None)
            out.append(line)
        return out


def _style(style: Style | str) -> Style:
    return Style.parse(style) if isinstance(style, str) else style


def _cells(text: Text) -> Sequence[tuple[str, Style | str]]:
    """Each character of `text` with its style (single-width characters only)."""
    styles = [_style(text.style)] * len(text.plain)
    for span in text.spans:
        for i in range(span.start, min(span.end, len(styles))):
            styles[i] = styles[i] + _style(span.style)
    return list(zip(text.plain, styles, strict=True))
