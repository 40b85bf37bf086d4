"""The experiments table, live: one row per experiment, added when it starts and redrawn in place
(by its id) when it finishes and when it is decided; the table is never rebuilt.

Δ is the metric minus the incumbent the experiment was judged against (the decision's own
`incumbent_metric`, else the incumbent when it finished), green when it is an improvement.
Enter opens the experiment (`ExperimentsTable.Opened`).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.message import Message

from ._feed import Feed
from ._format import DECISION_STYLE, STATUS_STYLE, metric, one_line, signed
from ._table import Cells, Column, KeyedTable

COLUMNS = (
    Column("id", 6),
    Column("status", 8, keep=6),
    Column("metric", 8, keep=8),
    Column("Δ incumbent", 11, keep=7),
    Column("decision", 8, keep=5),
    Column("secs", 6, keep=3),
    Column("description", 20, flex=True),
)


def experiment_cells(feed: Feed, exp_id: str) -> Cells:
    e = feed.state.experiments[exp_id]
    delta = None
    inc = feed.incumbent_before.get(e.id)
    if e.metric is not None and inc is not None and not e.baseline:
        delta = e.metric - inc
    delta_style = "" if delta is None else "green" if feed.better(delta) else "red"
    decision = "baseline" if e.baseline else e.decision
    return (
        Text(e.id),
        Text(e.status, style=STATUS_STYLE.get(e.status, "")),
        Text(metric(e.metric) if e.finished else "", justify="right"),
        Text(signed(delta), style=delta_style, justify="right"),
        Text(decision, style=DECISION_STYLE.get(decision, "")),
        Text(f"{e.seconds:.1f}" if e.finished else "", justify="right"),
        Text(one_line(e.description, 300)),
    )


class ExperimentsTable(KeyedTable):
    """Every experiment of the run, in start order."""

    class Opened(Message):
        """The user asked to see one experiment in full."""

        def __init__(self, experiment: str) -> None:
            super().__init__()
            self.experiment = experiment

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, lambda key: experiment_cells(feed, key), id=id)

    def sync(self, ids: Iterable[str]) -> None:
        """Add the rows of new experiments and redraw those of changed ones."""
        self.add(ids)

    def on_keyed_table_selected(self, event: KeyedTable.Selected) -> None:
        event.stop()
        self.post_message(self.Opened(event.key))
