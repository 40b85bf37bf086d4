"""The orgloop app: watch a run folder live, or browse a finished one.

It tails `events.jsonl` (every `POLL` seconds while following), folds each new event into a
`RunState` and the viewer's extras (`Feed`), and hands each widget only what changed: new message
rows, experiment rows by id, history rows by index, one redraw of the graph, gauges and plot.
Keys write one command a line to `control.jsonl`; the engine reads that file between turns and
answers with `control` events, which come back here through the log like everything else.

It never imports the engine and needs no process of its own beside the one that runs the org: a
headless run on another terminal (or another machine sharing the folder) is watched the same way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, TabbedContent, TabPane

from ._budgets import Budgets
from ._control import control_lines, send_control
from ._experiment import ExperimentScreen
from ._experiments import ExperimentsTable
from ._feed import HUMAN, Changes, Feed
from ._graph import OrgGraph
from ._history import OrgHistory
from ._inject import InjectScreen
from ._message import MessageScreen
from ._plot import MetricPlot
from ._status import StatusBar
from ._stream import MessageStream
from ._table import KeyedTable
from ._verdict import VerdictScreen

FOCUS = {
    "messages": "#stream-table",
    "experiments": "#experiments-table",
    "history": "#history-table",
}
"""The table each tab key focuses."""


class OrgloopApp(App[None]):
    """The TUI over one run folder; `follow=False` reads it once and stops."""

    TITLE = "orgloop"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    """Absolute, so a subclass defined elsewhere still finds it."""
    POLL = 0.25
    """Seconds between looks at events.jsonl while following."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "control('pause')", "Pause"),
        Binding("r", "control('resume')", "Resume"),
        Binding("s", "control('step')", "Step"),
        Binding("m", "inject", "Message"),
        Binding("a", "verdict('approve')", "Approve"),
        Binding("x", "verdict('reject')", "Reject"),
        Binding("1", "tab('org')", "Org", show=False),
        Binding("2", "tab('messages')", "Messages", show=False),
        Binding("3", "tab('experiments')", "Experiments", show=False),
        Binding("4", "tab('history')", "History", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, run_dir: Path, *, follow: bool = True) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.follow = follow
        self.feed = Feed(self.run_dir)
        self._controls: tuple[int, int] = (-1, 0)
        """(size of control.jsonl, its line count) when last counted."""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with TabbedContent(initial="org", id="tabs"):
            with TabPane("Org [1]", id="org"):
                with Horizontal(id="org-top"):
                    yield OrgGraph(id="graph")
                    with Vertical(id="org-side"):
                        yield Budgets(id="budgets")
                yield MetricPlot(self.feed, id="org-plot")
            with TabPane("Messages [2]", id="messages"):
                yield MessageStream(self.feed, id="stream")
            with TabPane("Experiments [3]", id="experiments"):
                yield ExperimentsTable(self.feed, id="experiments-table")
                yield MetricPlot(self.feed, id="experiments-plot")
            with TabPane("History [4]", id="history"):
                yield OrgHistory(self.feed, id="org-history")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_feed(initial=True)
        if self.follow:
            self.set_interval(self.POLL, self.refresh_feed)

    # ---- following the log
    def refresh_feed(self, initial: bool = False) -> Changes:
        """Read what was appended and update the widgets it touched."""
        changes = self.feed.poll()
        if changes.reset:
            self._rebuild()
        elif changes or initial:
            self._update(changes)
        if not initial:
            for severity, text in changes.notices[-5:]:
                self.notify(text, severity=severity)
        self._show_status()
        return changes

    def _update(self, ch: Changes) -> None:
        feed = self.feed
        if ch.messages or ch.roles:
            self.query_one(MessageStream).show(ch.messages)
        if ch.experiments:
            self.query_one(ExperimentsTable).sync(ch.experiments)
            for plot in self.query(MetricPlot):
                plot.show(ch.experiments)
        if ch.history:
            self.query_one(OrgHistory).show(ch.history)
        if ch.roles:
            self.query_one(OrgGraph).show(feed)
        if ch.budgets or ch.status:
            self.query_one(Budgets).show(feed)

    def _rebuild(self) -> None:
        """The log was replaced: empty every table and show the new log from its start."""
        self.query_one(ExperimentsTable).clear()
        self.query_one(MessageStream).table.clear()
        self.query_one(OrgHistory).table.clear()
        for plot in self.query(MetricPlot):
            plot.reset()
        feed = self.feed
        everything = Changes(
            messages=list(feed.order),
            experiments=dict.fromkeys(feed.state.experiments),
            history=dict.fromkeys(range(len(feed.history))),
            roles=True,
            budgets=True,
            status=True,
        )
        self._update(everything)
        self.notify("events.jsonl was replaced; showing it from the start", severity="warning")

    def _show_status(self) -> None:
        unread = 0
        if not self.feed.state.finished:
            path = self.run_dir / "control.jsonl"
            size = path.stat().st_size if path.exists() else 0
            if size != self._controls[0]:
                self._controls = (size, control_lines(self.run_dir))
            unread = max(0, self._controls[1] - self.feed.state.control_lines)
        live = self.follow and not self.feed.state.finished
        self.query_one(StatusBar).show(
            self.feed, follow=self.follow, unread_controls=unread, now=time.time() if live else None
        )

    # ---- opening things
    def on_message_stream_opened(self, event: MessageStream.Opened) -> None:
        msg = self.feed.state.messages[event.message]
        since = self.feed.since_start(self.feed.sent_at.get(msg.id, 0.0))
        self.push_screen(MessageScreen(msg, since))

    def on_experiments_table_opened(self, event: ExperimentsTable.Opened) -> None:
        self.push_screen(ExperimentScreen(self.feed, event.experiment))

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table = FOCUS.get(tab)
        if table is not None:  # so the arrows move through the rows at once
            self.query_one(table, KeyedTable).focus()

    # ---- controls
    def send(self, cmd: dict[str, Any]) -> bool:
        """Append one command to control.jsonl; False (and a notice) when nobody will read it."""
        if self.feed.state.finished:
            self.notify(
                "This run has finished; nothing reads its control.jsonl.", severity="warning"
            )
            return False
        try:
            send_control(self.run_dir, cmd)
        except OSError as e:
            self.notify(f"Could not write control.jsonl: {e}", severity="error")
            return False
        self.notify(f"sent {cmd['cmd']}" + (f" to {cmd['to']}" if "to" in cmd else ""))
        self._show_status()
        return True

    def action_control(self, cmd: str) -> None:
        self.send({"cmd": cmd})

    def action_inject(self) -> None:
        roles = [r for r in self.feed.roles if r != HUMAN]

        def done(form: dict[str, Any] | None) -> None:
            if form is not None:
                self.send({"cmd": "inject", **form})

        self.push_screen(InjectScreen(roles, self._entry_role()), done)

    def _entry_role(self) -> str | None:
        """The role the kick-off went to: the natural default for a human's message."""
        for mid in self.feed.order:
            msg = self.feed.state.messages[mid]
            if msg.sender == HUMAN and msg.kind == "kickoff":
                return str(msg.receiver)
        return None

    def action_verdict(self, verdict: str) -> None:
        generation = self.feed.pending_generation()
        if generation is None and self.query_one(TabbedContent).active == "history":
            entry = self.query_one(OrgHistory).selected
            generation = entry.generation if entry is not None else None

        def done(gen: int | None) -> None:
            if gen is not None:
                self.send({"cmd": verdict, "generation": gen})

        self.push_screen(VerdictScreen(verdict, generation), done)
