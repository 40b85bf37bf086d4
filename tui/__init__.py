"""Watch an org work: the Textual app over a run folder (`orgloop watch RUN`).

    >>> from orgloop.tui import run_watch
    >>> run_watch(Path("my-org/.orgloop/runs/20260101-120000-ab12"))   # blocks until q

The app reads the run's `events.jsonl` and writes its `control.jsonl`, nothing else: it never
imports the engine, so it watches a headless run in another process exactly as it watches one in
its own. Widgets live one per private module and are re-exported here for tests and embedding.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._activity import Activity, Turn
from ._app import OrgloopApp
from ._browse import BrowseScreen
from ._budgets import BudgetLine, Budgets
from ._caption import Caption
from ._control import send_control
from ._experiment import ExperimentScreen
from ._experiments import ExperimentsTable
from ._feed import Changes, Feed, HistoryEntry
from ._graph import OrgGraph
from ._help import KEYS, HelpScreen
from ._history import OrgHistory
from ._inject import InjectScreen
from ._layout import Layout, fit, layout
from ._live import Liveness
from ._message import MessageScreen
from ._org import OrgView, load_view
from ._plot import MetricPlot
from ._role import RoleScreen
from ._roles import RolesTable, role_now
from ._running import RunningPanel
from ._status import StatusBar
from ._stream import MessageStream
from ._table import Column, KeyedTable
from ._tail import LogReplaced, LogTail
from ._verdict import VerdictScreen


def run_watch(run_dir: Path, *, follow: bool = True) -> int:
    """Run the app on a run folder (or its events.jsonl) until the user quits; the exit code."""
    run_dir = Path(run_dir)
    if run_dir.name == "events.jsonl":
        run_dir = run_dir.parent
    if not run_dir.is_dir():
        print(f"orgloop watch: {run_dir} is not a run folder", file=sys.stderr)
        return 2
    OrgloopApp(run_dir, follow=follow).run()
    return 0


__all__ = [
    "KEYS",
    "Activity",
    "BrowseScreen",
    "BudgetLine",
    "Budgets",
    "Caption",
    "Changes",
    "Column",
    "ExperimentScreen",
    "ExperimentsTable",
    "Feed",
    "HelpScreen",
    "HistoryEntry",
    "InjectScreen",
    "KeyedTable",
    "Layout",
    "Liveness",
    "LogReplaced",
    "LogTail",
    "MessageScreen",
    "MessageStream",
    "MetricPlot",
    "OrgGraph",
    "OrgHistory",
    "OrgView",
    "OrgloopApp",
    "RoleScreen",
    "RolesTable",
    "RunningPanel",
    "StatusBar",
    "Turn",
    "VerdictScreen",
    "fit",
    "layout",
    "load_view",
    "role_now",
    "run_watch",
    "send_control",
]
