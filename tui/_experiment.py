"""An experiment in full, in a modal: its record from the events (status, metric, decision and the
reason for it, commits, seconds) and what the sandbox kept in `experiments/<id>/` (the diff, the
evaluation and the end of the log), when the run folder has them. Escape closes. It only reads
those files."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from ._feed import Feed
from ._format import fence, metric, signed

LOG_TAIL = 4000
"""Characters of log.txt shown: the end, where the error or the metric is."""


def _read(path: Path, tail: int | None = None) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[-tail:] if tail else text


def experiment_markdown(feed: Feed, exp_id: str) -> str:
    e = feed.state.experiments[exp_id]
    inc = feed.incumbent_before.get(exp_id)
    delta = e.metric - inc if e.metric is not None and inc is not None else None
    name = feed.metric.get("name", "metric")
    rows = [
        ("status", e.status),
        (name, metric(e.metric)),
        ("incumbent then", metric(inc)),
        ("Δ", signed(delta) or "—"),
        ("decision", "baseline" if e.baseline else e.decision or "undecided"),
        ("seconds", f"{e.seconds:.1f}"),
        ("slot", str(e.slot)),
        ("commit", e.commit[:12] or "—"),
        ("kept as", e.branch_commit[:12] or "—"),
    ]
    parts = [f"# {e.id}: {e.description}", " · ".join(f"**{k}** {v}" for k, v in rows)]
    reason = e.reason or str(e.info.get("reason", ""))
    if reason:
        parts.append(f"**Why:** {reason}")
    folder = feed.run_dir / "experiments" / exp_id
    diff = _read(folder / "diff.patch")
    parts.append("## Diff\n\n" + (fence(diff, "diff") if diff else "*(no diff recorded)*"))
    evaluation = _read(folder / "eval.txt", LOG_TAIL)
    if evaluation and evaluation.strip():
        parts.append("## Evaluation\n\n" + fence(evaluation))
    log = _read(folder / "log.txt", LOG_TAIL) or str(e.info.get("log_tail", ""))
    parts.append("## Log (the end)\n\n" + (fence(log) if log.strip() else "*(empty)*"))
    return "\n\n".join(parts)


class ExperimentScreen(ModalScreen[None]):
    """One experiment, read in full."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    ExperimentScreen { align: center middle; }
    ExperimentScreen > VerticalScroll {
        width: 90%; height: 90%; border: thick $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, feed: Feed, experiment: str) -> None:
        super().__init__()
        self.text = experiment_markdown(feed, experiment)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.text, id="experiment-body")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
