"""The orgloop app: watch a run folder live, or browse a finished one.

It tails `events.jsonl` (every `POLL` seconds while following), folds each new event into a
`RunState` and the viewer's extras (`Feed`), and hands each widget only what changed: new message
rows, experiment rows by id, history rows by index, one redraw of the graph, roles, gauges and
plot. Whether an engine runs the run comes from the engine's lock (`Liveness`), and while one
does, times that grow (a role thinking, an experiment running, the wall budget) are counted
against the clock and redrawn once a second; otherwise they stop at the last event, so a finished
run, or one whose engine died, reads the same forever. Keys write one command a line to
`control.jsonl`; the engine reads that file between turns and answers with `control` events,
which come back here through the log like everything else.

What the log does not say (every declared role and edge, the experiment timeout, the role
prompts) comes from the org snapshot in the run folder, loaded in a worker thread; GPU memory
comes from nvidia-smi, asked in a worker thread every few seconds while experiments run.

The layout reflows at the terminal's size (Textual's breakpoints: `-narrow`, `-medium`, `-wide`
across, `-short`, `-tall`, `-taller` down; see app.tcss). It never imports the engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input, TabbedContent, TabPane

from . import _gpu
from ._budgets import BudgetLine, Budgets
from ._caption import Caption
from ._control import control_lines, send_control
from ._experiment import ExperimentScreen
from ._experiments import ExperimentsTable
from ._feed import HUMAN, Changes, Feed
from ._graph import OrgGraph, legend
from ._help import HelpScreen
from ._history import OrgHistory
from ._inject import InjectScreen
from ._live import Liveness
from ._message import MessageScreen
from ._org import OrgView, load_view
from ._plot import MetricPlot
from ._role import RoleScreen
from ._roles import RolesTable
from ._running import RunningPanel
from ._status import StatusBar
from ._stream import MessageStream
from ._table import KeyedTable
from ._verdict import VerdictScreen

FOCUS = {
    "org": "#roles",
    "messages": "#stream-table",
    "experiments": "#experiments-table",
    "history": "#history-table",
}
"""The table each tab key focuses."""
GPU_EVERY = 3.0
"""Seconds between asks of nvidia-smi while experiments run."""
RELOAD_AFTER, RELOADS = 2.0, 5
"""When the org snapshot did not load after an edit: seconds before it is read again, and how
many times."""
CONTROL_ACTIONS = frozenset({"control", "inject", "verdict"})
TABS = Binding.Group("tabs", compact=True)


class OrgloopApp(App[None]):
    """The TUI over one run folder; `follow=False` reads it once and stops. `clock` gives the
    time (tests and pictures pass a fixed one)."""

    TITLE = "orgloop"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    """Absolute, so a subclass defined elsewhere still finds it."""
    POLL = 0.25
    """Seconds between looks at events.jsonl while following."""
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 - App declares it as a plain attribute
        (0, "-narrow"),
        (100, "-medium"),
        (140, "-wide"),
    ]
    VERTICAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-short"),
        (30, "-tall"),
        (36, "-taller"),
    ]

    ENABLE_COMMAND_PALETTE = False
    """Every command has a key (`?` lists them); the palette's corner of the footer is better
    spent on them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tab('org')", "Org", group=TABS),
        Binding("2", "tab('messages')", "Messages", group=TABS),
        Binding("3", "tab('experiments')", "Experiments", group=TABS),
        Binding("4", "tab('history')", "History", group=TABS),
        Binding("p", "control('pause')", "Pause"),
        Binding("r", "control('resume')", "Resume"),
        Binding("s", "control('step')", "Step"),
        Binding("m", "inject", "Message"),
        Binding("a", "verdict('approve')", "Approve"),
        Binding("x", "verdict('reject')", "Reject"),
        Binding("slash", "search", "Search", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self, run_dir: Path, *, follow: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.follow = follow
        self.clock = clock
        self.feed = Feed(self.run_dir)
        self.liveness = Liveness(self.run_dir)
        self._controls: tuple[int, int] = (-1, 0)
        """(size of control.jsonl, its line count) when last counted."""
        self._shown: tuple[object, ...] = ()
        """What the clock-driven widgets were last drawn for."""
        self._gpu_at = -GPU_EVERY
        self._acting: tuple[bool, bool, bool] = (False, False, False)
        """(finished, an edit waits, paused) when the footer's keys were last chosen."""
        self._reloads = 0
        self._expect_paused: bool | None = None
        """What the last pause or resume sent will make of the run, until the log says so."""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with TabbedContent(initial="org", id="tabs"):
            with TabPane("Org [1]", id="org"):
                with Horizontal(id="org-top"):
                    with Vertical(id="graph-pane"):
                        yield OrgGraph(self.feed, id="graph")
                        yield Caption(legend(), id="graph-legend")
                    yield Budgets(id="budgets")
                yield BudgetLine(id="budget-line")
                yield RolesTable(self.feed, id="roles")
                yield RunningPanel(self.feed, id="running")
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
        self.query_one("#graph-pane").border_title = "org"
        self.query_one("#running").border_title = "running"
        self.refresh_feed(initial=True)
        self.load_org()
        if self.follow:
            self.set_interval(self.POLL, self.refresh_feed)

    # ---- the org snapshot
    def load_org(self) -> None:
        """Read the org snapshot in a worker thread; the graph and roles redraw when it is in."""
        run_dir = self.run_dir

        def load() -> None:
            view = load_view(run_dir)
            self.call_from_thread(self._set_view, view)

        self.run_worker(load, thread=True, exclusive=True, group="org")

    def _set_view(self, view: OrgView) -> None:
        if view.org is None and self.feed.view.org is not None:
            # The engine rewrites the snapshot after an edit; caught halfway, it does not load.
            # Keep the last good one and look again in a moment (a few times at most).
            self._reloads += 1
            if self._reloads <= RELOADS:
                self.set_timer(RELOAD_AFTER, self.load_org)
            return
        self._reloads = 0
        self.feed.set_view(view)
        self._update(Changes(roles=True))
        self._show_now(force=True)

    # ---- following the log
    @property
    def alive(self) -> bool:
        """Whether an engine runs the run now."""
        return not self.feed.state.finished and self.liveness.alive

    def now(self) -> float:
        """The time growing figures are counted to: the clock while an engine runs the run, the
        last event's time otherwise."""
        return self.clock() if self.alive else self.feed.state.last_t

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
            for severity, text in changes.alerts[-5:]:
                self.notify(text, severity=severity, timeout=10)
            if changes.alerts:
                self.bell()
        if changes.org and not initial:
            self.load_org()
        self._show_now(force=bool(changes) or initial)
        return changes

    def _update(self, ch: Changes) -> None:
        if ch.messages or ch.roles:
            self.query_one(MessageStream).show(ch.messages)
        if ch.experiments:
            self.query_one(ExperimentsTable).sync(ch.experiments)
            for plot in self.query(MetricPlot):
                plot.show(ch.experiments)
        if ch.history:
            self.query_one(OrgHistory).show(ch.history)
            for plot in self.query(MetricPlot):
                plot.redraw()
        if self._expect_paused == self.feed.state.paused:
            self._expect_paused = None
        acting = (self.feed.state.finished, self.feed.pending_generation() is not None, self.paused)
        if acting != self._acting:
            self._acting = acting
            self.refresh_bindings()

    def _show_now(self, force: bool = False) -> None:
        """Redraw what depends on the clock: at most once a second while an engine runs the run,
        and whenever something happened."""
        alive, now = self.alive, self.now()
        key = (alive, int(now))
        if not force and key == self._shown:
            return
        self._shown = key
        feed = self.feed
        self.query_one(OrgGraph).show(alive=alive, clock=now)
        self.query_one(RolesTable).show(alive=alive, clock=now)
        self.query_one(RunningPanel).show(alive=alive, clock=now)
        gauge_now = now if alive else None
        self.query_one(Budgets).show(feed, gauge_now)
        self.query_one(BudgetLine).show(feed, gauge_now)
        self._show_status(alive, now)
        if alive and feed.activity.running and _gpu.available():
            self._ask_gpus()

    def _ask_gpus(self) -> None:
        at = time.monotonic()
        if at - self._gpu_at < GPU_EVERY:
            return
        self._gpu_at = at
        panel = self.query_one(RunningPanel)

        def ask() -> None:
            gpus = _gpu.query()
            self.call_from_thread(setattr, panel, "gpus", gpus)

        self.run_worker(ask, thread=True, exclusive=True, group="gpu")

    def _rebuild(self) -> None:
        """The log was replaced: empty every table and show the new log from its start."""
        self.query_one(ExperimentsTable).clear()
        self.query_one(MessageStream).table.clear()
        self.query_one(OrgHistory).table.clear()
        self.query_one(RolesTable).clear()
        for plot in self.query(MetricPlot):
            plot.reset()
        feed = self.feed
        everything = Changes(
            messages=list(feed.order),
            experiments=dict.fromkeys(feed.state.experiments),
            history=dict.fromkeys(range(len(feed.history))),
            roles=True,
        )
        self._update(everything)
        self.notify("events.jsonl was replaced; showing it from the start", severity="warning")

    def _show_status(self, alive: bool, now: float) -> None:
        unread = 0
        if not self.feed.state.finished:
            path = self.run_dir / "control.jsonl"
            size = path.stat().st_size if path.exists() else 0
            if size != self._controls[0]:
                self._controls = (size, control_lines(self.run_dir))
            unread = max(0, self._controls[1] - self.feed.state.control_lines)
        # The status says how long ago a dead engine last wrote: against the clock, always.
        self.query_one(StatusBar).show(
            self.feed, alive=alive, follow=self.follow, unread_controls=unread, now=self.clock()
        )

    # ---- opening things
    def on_message_stream_opened(self, event: MessageStream.Opened) -> None:
        table = self.query_one(MessageStream).table
        self.push_screen(MessageScreen(self.feed, table.keys, event.message), self._back(table))

    def on_experiments_table_opened(self, event: ExperimentsTable.Opened) -> None:
        table = self.query_one(ExperimentsTable)
        self.push_screen(
            ExperimentScreen(self.feed, table.keys, event.experiment), self._back(table)
        )

    def on_metric_plot_opened(self, event: MetricPlot.Opened) -> None:
        self.push_screen(ExperimentScreen(self.feed, event.experiments, event.experiment))

    def on_roles_table_opened(self, event: RolesTable.Opened) -> None:
        self._open_role(event.role)

    def on_org_graph_opened(self, event: OrgGraph.Opened) -> None:
        self._open_role(event.role)

    def _open_role(self, role: str) -> None:
        table = self.query_one(RolesTable)
        screen = RoleScreen(self.feed, table.keys, role, alive=self.alive, clock=self.now())
        self.push_screen(screen, self._back(table))

    @staticmethod
    def _back(table: KeyedTable) -> Callable[[str | None], None]:
        """Put the table's cursor on the row the modal showed last."""

        def done(key: str | None) -> None:
            if key is not None and key in table:
                table.move_to(key)

        return done

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table = FOCUS.get(tab)
        if table is not None:  # so the arrows move through the rows at once
            self.query_one(table, KeyedTable).focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_search(self) -> None:
        self.query_one(TabbedContent).active = "messages"
        self.query_one("#search", Input).focus()

    # ---- controls
    @property
    def paused(self) -> bool:
        """Paused, or about to be: a pause was sent and the engine has not answered yet."""
        if self._expect_paused is not None:
            return self._expect_paused
        return self.feed.state.paused

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that cannot act are hidden from the footer and do nothing: every command on a
        finished run (nothing reads its control.jsonl), pause on a paused run, resume and step
        on one that is not, approve and reject when no edit waits."""
        if action in CONTROL_ACTIONS and self.feed.state.finished:
            return False
        if action == "control" and parameters:
            return (parameters[0] == "pause") != self.paused
        return not (action == "verdict" and self.feed.pending_generation() is None)

    def send(self, cmd: dict[str, Any]) -> bool:
        """Append one command to control.jsonl; False (and a notice) when it could not."""
        try:
            send_control(self.run_dir, cmd)
        except OSError as e:
            self.notify(f"Could not write control.jsonl: {e}", severity="error")
            return False
        self.notify(f"sent {cmd['cmd']}" + (f" to {cmd['to']}" if "to" in cmd else ""))
        self._show_status(self.alive, self.now())
        return True

    def action_control(self, cmd: str) -> None:
        if self.send({"cmd": cmd}) and cmd in ("pause", "resume"):
            self._expect_paused = cmd == "pause"
            self.refresh_bindings()

    def action_inject(self) -> None:
        roles = [r for r in self.feed.roles if r != HUMAN]

        def done(form: dict[str, Any] | None) -> None:
            if form is not None:
                self.send({"cmd": "inject", **form})

        self.push_screen(InjectScreen(roles, self._entry_role()), done)

    def _entry_role(self) -> str | None:
        """The role the kick-off went to: the natural default for a human's message."""
        if self.feed.view.entry:
            return self.feed.view.entry
        for mid in self.feed.order:
            msg = self.feed.state.messages[mid]
            if msg.sender == HUMAN and msg.kind == "kickoff":
                return str(msg.receiver)
        return None

    def action_verdict(self, verdict: str) -> None:
        generation = self.feed.pending_generation()

        def done(gen: int | None) -> None:
            if gen is not None:
                self.send({"cmd": verdict, "generation": gen})

        self.push_screen(VerdictScreen(verdict, generation), done)
