"""Cutting text to fit a line without changing what it says.

`clip(text, width)` puts `text` on one line and, when it is too long, cuts it between words and
ends it with "…", so a reader can tell it was cut. A cut never falls inside a number or an id:
`val_bpb before: 1.19754` cut short reads `val_bpb before: …`, never `val_bpb before: 1`, and
`Evidence: e4, e5` reads `Evidence: e4, …`, never `Evidence: e4, e`. Only a word with no digits
that is longer than half the width is cut inside, since backing off would leave almost nothing.

It does no wrapping, no markup and no width-of-glyph accounting (a character is one column).
"""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, width: int) -> str:
    """`text` with its whitespace runs made single spaces, at most `width` characters long."""
    flat = " ".join(str(text).split())
    if len(flat) <= width:
        return flat
    room = max(0, width - len(ELLIPSIS))
    head = flat[:room]
    if flat[room] != " " and head and not head.endswith(" "):  # the cut splits a word
        start = head.rfind(" ") + 1
        if start > room // 2 or any(c.isdigit() for c in head[start:]):
            head = head[:start]
    return head + ELLIPSIS


__all__ = ["ELLIPSIS", "clip"]
