"""Small text helpers shared by the widgets: durations, metrics, counts, one-line summaries.

Pure functions of their arguments; none of them reads a clock.
"""

from __future__ import annotations

import re

STATE_STYLE = {
    "idle": "dim",
    "thinking": "bold yellow",
    "running": "bold green",
    "waiting": "magenta",
    "paused": "bold red",
    "stopped": "red",
}
"""The colour of each role state, shared by the graph, the roles table and the legend."""

STATUS_STYLE = {
    "ok": "green",
    "running": "yellow",
    "crash": "bold red",
    "timeout": "red",
    "suspect": "bold magenta",
    "void": "magenta",
}

DECISION_STYLE = {"keep": "bold green", "discard": "dim", "baseline": "cyan"}

HISTORY_STYLE = {
    "kept": "green",
    "pending": "bold yellow",
    "reverted": "red",
    "rejected": "dim",
    "revert": "magenta",
}


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`: what a researcher glances at, not a timestamp."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def clock(seconds: float) -> str:
    """Time since the run started, as `+mm:ss` or `+h:mm:ss`."""
    s = int(max(0.0, seconds))
    if s < 3600:
        return f"+{s // 60:02d}:{s % 60:02d}"
    return f"+{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def metric(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.4f}"


def count(n: float) -> str:
    """`950`, `12.3k`, `4.56M`."""
    if abs(n) < 1000:
        return f"{n:.0f}"
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def one_line(text: str, width: int) -> str:
    """The first non-empty line of `text`, cut to `width` characters with an ellipsis."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def fence(text: str, lang: str = "text") -> str:
    """`text` as a Markdown code block, with a fence longer than any inside it."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text}\n{ticks}"


_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")


def label_fences(markdown: str) -> str:
    """Give every code block without a language the language `text`. Textual's Markdown guesses
    a language for the others, and pygments' guess imports every lexer it has (and their plugins,
    IPython among them): seconds, the first time a message is opened."""
    out = []
    open_fence = ""
    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if m is None:
            out.append(line)
            continue
        indent, marks, info = m.groups()
        if open_fence:
            if marks[0] == open_fence[0] and len(marks) >= len(open_fence) and not info.strip():
                open_fence = ""
        else:
            open_fence = marks
            if not info.strip():
                line = f"{indent}{marks}text"
        out.append(line)
    return "\n".join(out)
