"""An experiment in full: its record from the events (status, metric, Δ against the incumbent it
was judged against, decision and the reason for it, commits, seconds) and what the sandbox kept
in `experiments/<id>/` (the diff, coloured; the evaluation; the end of the log), when the run
folder has them. Steps through the experiments table's rows (`BrowseScreen`). It only reads
those files."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text

from ._browse import BrowseScreen
from ._diff import diff_text
from ._feed import Feed
from ._format import DECISION_STYLE, STATUS_STYLE, metric, signed

LOG_TAIL = 4000
"""Characters of log.txt shown: the end, where the error or the metric is."""


def _read(path: Path, tail: int | None = None) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[-tail:] if tail else text


def experiment_summary(feed: Feed, exp_id: str) -> Text:
    """The record in one block: `status ok · val_bpb 1.2538 · Δ -0.0280 · decision keep · …`."""
    e = feed.state.experiments[exp_id]
    inc = feed.incumbent_before.get(exp_id)
    delta = e.metric - inc if e.metric is not None and inc is not None and not e.baseline else None
    decision = "baseline" if e.baseline else e.decision or "undecided"
    text = Text()
    text.append(f"{e.id}: {e.description}\n", style="bold")
    rows: list[tuple[str, str, str]] = [
        ("status", e.status, STATUS_STYLE.get(e.status, "")),
        (feed.metric.get("name", "metric"), metric(e.metric), "bold"),
        ("incumbent then", metric(inc), ""),
        (
            "Δ",
            signed(delta) or "—",
            "" if delta is None else "green" if feed.better(delta) else "red",
        ),
        ("decision", decision, DECISION_STYLE.get(decision, "")),
        ("seconds", f"{e.seconds:.1f}", ""),
        ("slot", str(e.slot), ""),
        ("commit", e.commit[:12] or "—", ""),
        ("kept as", e.branch_commit[:12] or "—", ""),
    ]
    for i, (label, value, style) in enumerate(rows):
        text.append(" · " if i else "", style="dim")
        text.append(f"{label} ", style="dim")
        text.append(value, style=style)
    reason = e.reason or str(e.info.get("reason", ""))
    if reason:
        text.append("\nWhy: ", style="bold")
        text.append(reason)
    return text


def experiment_body(feed: Feed, exp_id: str) -> RenderableType:
    e = feed.state.experiments[exp_id]
    folder = feed.run_dir / "experiments" / exp_id
    parts: list[RenderableType] = [Text("Diff", style="bold")]
    diff = _read(folder / "diff.patch") or str(e.info.get("diff") or "")
    parts.append(diff_text(diff) if diff.strip() else Text("(no diff recorded)", style="dim"))
    evaluation = _read(folder / "eval.txt", LOG_TAIL)
    if evaluation and evaluation.strip():
        parts += [Text("\nEvaluation", style="bold"), Text(evaluation.rstrip())]
    log = _read(folder / "log.txt", LOG_TAIL) or str(e.info.get("log_tail", ""))
    parts.append(Text("\nLog (the end)", style="bold"))
    parts.append(Text(log.rstrip(), style="dim") if log.strip() else Text("(empty)", style="dim"))
    return Group(*parts)


class ExperimentScreen(BrowseScreen):
    """One experiment, read in full."""

    what = "experiment"

    def __init__(self, feed: Feed, keys: list[str], start: str) -> None:
        super().__init__(keys, start)
        self.feed = feed

    def head(self, key: str) -> RenderableType:
        return experiment_summary(self.feed, key)

    def body(self, key: str) -> RenderableType:
        return experiment_body(self.feed, key)
