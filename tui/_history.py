"""The org's history: every meta or human edit to the org's Markdown (`org_edited`), every edit
waiting for a human (`org_proposed`, one row that becomes kept or rejected when answered), every
revert (`org_reverted`) and every edit the runtime refused (`org_rejected`), with what became of
it, and for the highlighted one its rationale, evidence, figures and diff.

It shows the fields an event has and says when the diff is missing; a run with no history says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from ._diff import diff_text
from ._feed import Feed, HistoryEntry
from ._format import HISTORY_STYLE, clock
from ._table import Cells, Column, KeyedTable

COLUMNS = (
    Column("gen", 4),
    Column("status", 9, keep=8),
    Column("by", 9, keep=4),
    Column("time", 9, keep=3),
    Column("files", 16, flex=True),
)
NUMBERS = (
    ("window", "window"),
    ("metric_before", "metric before"),
    ("before", "improvement in the window before"),
    ("after", "improvement in the window after"),
    ("margin", "margin"),
)
"""The figures an edit or a revert carries, in the order they read best."""
EMPTY = (
    "No org edits yet. When the meta-agent (or a person) edits the org's Markdown, each edit "
    "appears here with its rationale, its evidence and its diff, and whether it was kept."
)


def _author(entry: HistoryEntry) -> str:
    return str(entry.data.get("author") or entry.data.get("role") or "meta")


def entry_detail(feed: Feed, entry: HistoryEntry) -> RenderableType:
    d = entry.data
    gen = entry.generation
    title = Text()
    title.append(f"generation {gen}" if gen is not None else entry.kind, style="bold")
    title.append(f"  {entry.status}", style=HISTORY_STYLE.get(entry.status, ""))
    title.append(f"  by {_author(entry)}  {clock(feed.since_start(entry.t))}", style="dim")
    if d.get("commit"):
        title.append(f"  commit {str(d['commit'])[:10]}", style="dim")
    parts: list[RenderableType] = [title]
    if entry.files:
        parts.append(Text("files: " + ", ".join(entry.files), style="cyan"))
    if entry.status == "pending":
        parts.append(Text("Waiting for a human: press a to approve, x to reject.", "bold yellow"))
    for key, label in (("rationale", "Rationale"), ("reason", "Reason")):
        if d.get(key):
            parts += [Text(f"\n{label}", style="bold"), Markdown(str(d[key]))]
    if d.get("evidence") not in (None, "", [], {}):
        parts.append(Text("\nEvidence", style="bold"))
        parts.append(_evidence(d["evidence"]))
    numbers = {label: d[key] for key, label in NUMBERS if d.get(key) is not None}
    if numbers:
        parts.append(Text("\nMeasured", style="bold"))
        parts.append(_evidence(numbers))
    diff = d.get("diff")
    parts.append(Text("\nDiff", style="bold"))
    if isinstance(diff, str) and diff.strip():
        parts.append(diff_text(diff))
    else:
        parts.append(Text("(the event carries no diff)", style="dim"))
    return Group(*parts)


def _evidence(value: Any) -> RenderableType:
    """A dict as `key: value` lines (lists joined), anything else as compact JSON."""
    if isinstance(value, str):
        return Text(value)
    if not isinstance(value, dict):
        return Text(json.dumps(value, default=str))
    text = Text()
    for key, item in value.items():
        shown = ", ".join(map(str, item)) if isinstance(item, list) else str(item)
        text.append(f"{key}: ", style="dim")
        text.append(shown + "\n")
    text.rstrip()
    return text


class OrgHistory(Horizontal):
    """A table of the org's generations beside the highlighted one in full."""

    DEFAULT_CSS = """
    OrgHistory #history-table { width: 72; height: 1fr; }
    OrgHistory #history-detail { width: 1fr; height: 1fr; padding: 0 1; }
    """

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, self._cells, id="history-table")
        with VerticalScroll(id="history-detail"):
            yield Static(Text(EMPTY, style="dim"), id="history-text")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#history-table", KeyedTable)

    @property
    def selected(self) -> HistoryEntry | None:
        key = self.table.cursor_key
        return self.feed.history[int(key[1:])] if key else None

    def show(self, changed: Iterable[int]) -> None:
        """Add the rows of new entries and redraw those of changed ones."""
        self.table.add(f"h{i}" for i in changed)
        self._detail()

    def _cells(self, key: str) -> Cells:
        entry = self.feed.history[int(key[1:])]
        gen = entry.generation
        return (
            Text("" if gen is None else str(gen), justify="right"),
            Text(entry.status, style=HISTORY_STYLE.get(entry.status, "")),
            Text(_author(entry)),
            Text(clock(self.feed.since_start(entry.t)), style="dim"),
            Text(", ".join(entry.files)),
        )

    def _detail(self) -> None:
        entry = self.selected
        if entry is not None:
            self.query_one("#history-text", Static).update(entry_detail(self.feed, entry))

    def on_keyed_table_highlighted(self, event: KeyedTable.Highlighted) -> None:
        event.stop()
        self._detail()
