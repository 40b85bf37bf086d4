"""`orgloop report RUN`: what a run leaves behind, as report.md and progress.png in its folder.

`write_report(run_dir)` reads the run's events.jsonl, folds it, and writes two files atomically:
report.md (the goal, the best result and the commit on the run branch that holds it, the share of
the gap to the task's bound closed — confirmed on fresh seeds when the run reran its best and the
baseline, with the gain ± its standard error and whether it replicates — the kept changes with
their deltas, org edits and their effect, crashes and suspect results, cost, the baseline and its
noise) and progress.png (the metric over experiments in the manner of autoresearch's: kept points
highlighted, discarded ones grey, reruns on fresh seeds as diamonds, the best-so-far step line,
the bound dashed). `load_run(run_dir)` gives the same numbers as a
`RunSummary`, which `batch.py` compares across runs.

It reads what is there. A torn last line, a run that was killed (no run_finished), events from
another orgloop version (unknown kinds, missing fields, events the fold cannot apply) are noted in
`RunSummary.missing` and the report says so; a run that an engine still holds (`lock.holder`) is
reported as in progress, as far as it has logged, without waiting for or disturbing the engine.
Only a folder with no readable orgloop events is a `ReportError`. It never touches git, never runs
the org, and never rewrites events.jsonl.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..org import Metric, load_org
from .core.confirm import Confirmation, confirmation
from .core.events import KINDS, Event
from .core.ledger import best_commit, by_role
from .core.lock import holder
from .core.state import FAILED, OK, ExperimentRecord, RunState
from .core.text import clip

REPORT = "report.md"
PROGRESS = "progress.png"
ORG_KINDS = ("org_proposed", "org_edited", "org_rejected", "org_reverted")
"""The events that change, or try to change, the org's own Markdown."""


class ReportError(Exception):
    """The folder cannot be reported on (no events.jsonl, unreadable, not an orgloop log)."""


@dataclass
class OrgEvent:
    """An event of ORG_KINDS, with the incumbent metric at it and at the end of the window after
    it (the next such event, or the end of the log)."""

    kind: str
    data: dict[str, Any]
    before: float | None
    after: float | None = None


@dataclass
class RunSummary:
    """A run's numbers as the report states them; every field comes from events.jsonl."""

    run_dir: Path
    state: RunState
    metric: Metric
    missing: list[str] = field(default_factory=list)
    baseline: float | None = None
    best: float | None = None
    best_experiment: str = ""
    """The experiment whose kept result is the incumbent; '' when the best is the baseline."""
    gap_closed: float | None = None
    """The confirmed figure when the run confirmed its best (`core/confirm.py`), else the
    search's."""
    gap_closed_search: float | None = None
    """The share of the gap the best closed as the search measured it (on the candidates' seed,
    picked as best)."""
    confirmation: Confirmation | None = None
    experiments_to_best: int = 0
    """Candidate experiments started up to and including the best one (0: nothing was kept)."""
    started: float | None = None
    """The time of the first event (unix seconds)."""
    experiment_seconds: float = 0.0
    duty_cycle: float | None = None
    org_events: list[OrgEvent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """`error` and `paused` events, as text."""

    @property
    def org_name(self) -> str:
        return str(
            self.state.config.get("org_name") or Path(self.state.config.get("org", "?")).name
        )

    @property
    def kept(self) -> list[ExperimentRecord]:
        """The kept candidates in the order they were kept, each beating the one before it. That
        is not always their id order: with experiments in flight, a later one can be decided
        first."""
        keeps = [e for e in self.state.candidates() if e.decision == "keep"]
        return sorted(keeps, key=lambda e: e.decided_seq)

    @property
    def records(self) -> list[ExperimentRecord]:
        """The keeps that beat every keep of an earlier experiment, in experiment order: the steps
        of a best-so-far line (a keep decided before an earlier one's can be the worse)."""
        out: list[ExperimentRecord] = []
        best = self.baseline
        for e in self.state.candidates():
            if e.decision != "keep" or e.metric is None:
                continue
            if best is None or self.metric.gain(e.metric, best) > 0:
                out.append(e)
                best = e.metric
        return out


@dataclass(frozen=True)
class ReportResult:
    paths: list[Path]
    missing: list[str]
    summary: RunSummary


# ---- reading


def _events_path(run_dir: Path) -> Path:
    if run_dir.is_file() and run_dir.name == "events.jsonl":
        return run_dir
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run folder")
    path = run_dir / "events.jsonl"
    if not path.is_file():
        raise ReportError(f"{run_dir} is not an orgloop run folder: it has no events.jsonl")
    return path


def read_lenient(path: Path, missing: list[str]) -> list[Event]:
    """Every line that is an orgloop event; what was skipped and why goes into `missing`."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ReportError(f"cannot read {path}: {e.strerror or e}") from None
    lines = raw.split(b"\n")
    if lines.pop():  # text after the last newline: a write cut short by a crash
        missing.append("the last line of events.jsonl is torn (cut off mid-write); left out")
    events: list[Event] = []
    bad: list[int] = []
    unknown: Counter[str] = Counter()
    repeated: tuple[int, int] | None = None  # (line, seq) of the first seq written again
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(lineno)
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict):
            bad.append(lineno)
        elif obj.get("kind") not in KINDS:
            unknown[str(obj.get("kind"))] += 1
        else:
            seq = obj["seq"] if isinstance(obj.get("seq"), int) else len(events)
            t = float(obj["t"]) if isinstance(obj.get("t"), int | float) else 0.0
            if repeated is None and events and seq <= events[-1].seq:
                repeated = (lineno, seq)
            events.append(Event(seq, t, obj["kind"], obj["data"]))
    if not events:
        raise ReportError(f"{path} holds no orgloop events; is this an orgloop run folder?")
    if repeated is not None:
        missing.append(
            f"two engines wrote events.jsonl at once (seq {repeated[1]} again at line "
            f"{repeated[0]}; an orgloop older than its run lock allowed that): the numbers below "
            "mix what both did"
        )
    if bad:
        missing.append(f"{len(bad)} line(s) of events.jsonl are not events (first: line {bad[0]})")
    if unknown:
        kinds = ", ".join(sorted(unknown))
        missing.append(
            f"{sum(unknown.values())} event(s) of kinds this orgloop does not know were skipped "
            f"({kinds}); written by another version?"
        )
    return events


def _fold_lenient(
    events: list[Event], missing: list[str]
) -> tuple[RunState, list[OrgEvent], list[str]]:
    """The fold, one event at a time (an event it cannot apply is noted, not fatal), with what
    the state forgets: each org event with the incumbent metric at it and at the end of the
    window after it, and the error and paused events as text."""
    state = RunState()
    org: list[OrgEvent] = []
    errors: list[str] = []
    failed: list[str] = []
    for ev in events:
        d = ev.data
        if ev.kind in ORG_KINDS:
            if org:
                org[-1].after = state.incumbent_metric
            org.append(OrgEvent(ev.kind, d, state.incumbent_metric))
        elif ev.kind == "error":
            errors.append(f"error in {d.get('role', '?')}: {d.get('error', '')}")
        elif ev.kind == "paused":
            errors.append(f"paused: {d.get('reason', '')}")
        try:
            state.apply(ev)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            failed.append(f"{ev.kind} #{ev.seq} ({type(e).__name__}: {e})")
            if ev.kind == "run_started" and not state.config:
                state.config = dict(d)  # an older run_started: keep what it does say
                state.run_id, state.branch = str(d.get("run_id", "")), str(d.get("branch", ""))
                state.session_start = ev.t
    if org:
        org[-1].after = state.incumbent_metric
    if failed:
        missing.append(
            f"{len(failed)} event(s) could not be applied (older format?): " + "; ".join(failed[:3])
        )
    return state, org, errors


def _metric(state: RunState, run_dir: Path, missing: list[str]) -> Metric:
    m = state.config.get("metric")
    if isinstance(m, dict) and isinstance(m.get("name"), str):
        goal: Literal["minimize", "maximize"] = (
            "maximize" if m.get("goal") == "maximize" else "minimize"
        )
        bound = m.get("bound")
        if not (isinstance(bound, int | float) and math.isfinite(bound)):
            bound = None
        return Metric(m["name"], goal, None if bound is None else float(bound))
    try:  # an older run_started without the metric: the run's org snapshot has it
        metric = load_org(run_dir / "org").program.metric
        missing.append("the metric is not in run_started; read from the run's org snapshot")
        return metric
    except Exception:
        missing.append("the metric is not recorded; assumed `metric`, minimize, no bound")
        return Metric("metric", "minimize", None)


def load_run(run_dir: Path | str) -> RunSummary:
    """Read and fold a run folder leniently; raises ReportError only when nothing is readable."""
    run_dir = Path(run_dir)
    path = _events_path(run_dir)
    run_dir = path.parent
    missing: list[str] = []
    events = read_lenient(path, missing)
    state, org_events, errors = _fold_lenient(events, missing)
    if events[0].kind != "run_started":
        missing.append("no run_started: the start of the log is missing")
    summary = RunSummary(run_dir, state, _metric(state, run_dir, missing), missing)
    summary.started, summary.org_events, summary.errors = events[0].t, org_events, errors
    _numbers(summary)
    _notes(summary)
    return summary


# ---- the numbers


def _numbers(s: RunSummary) -> None:
    st, metric = s.state, s.metric
    if st.baselines:
        s.baseline = sum(st.baselines) / len(st.baselines)
    s.best = st.incumbent_metric
    s.best_experiment = st.incumbent_exp if s.kept else ""
    cands = st.candidates()
    if s.best_experiment:
        s.experiments_to_best = 1 + next(
            (i for i, e in enumerate(cands) if e.id == s.best_experiment), len(cands)
        )
    if s.baseline is not None and s.best is not None and metric.bound is not None:
        gap = metric.gain(metric.bound, s.baseline)
        s.gap_closed = metric.gain(s.best, s.baseline) / gap if gap > 0 else None
    s.gap_closed_search = s.gap_closed
    s.confirmation = confirmation(st, metric)
    confirmed = s.confirmation.gap_closed() if s.confirmation is not None else None
    if confirmed is not None:
        s.gap_closed = confirmed
    s.experiment_seconds = sum(e.seconds for e in st.experiments.values() if e.finished)
    slots = st.config.get("slots")
    wall = st.wall_seconds()
    if isinstance(slots, int) and slots > 0 and wall > 0:
        s.duty_cycle = s.experiment_seconds / (slots * wall)


def _notes(s: RunSummary) -> None:
    st = s.state
    if st.paused and not st.finished:
        s.missing.insert(0, "run did not finish: it is paused; `orgloop resume` continues it")
    elif not st.finished:
        live = holder(s.run_dir)
        s.missing.insert(
            0,
            f"run is in progress (its engine is {live}): this is what it has logged so far"
            if live is not None
            else "run did not finish (no run_finished) and no engine holds it: it was killed; "
            "`orgloop resume` continues it",
        )
    if s.baseline is None:
        s.missing.append("no baseline: no baseline run finished ok")
    elif st.noise is None:
        s.missing.append("no noise estimate: fewer than two baseline runs finished ok")
    if s.metric.bound is None:
        s.missing.append("no bound: the task states no limit, so no gap closed")
    running = [e.id for e in st.experiments.values() if not e.finished]
    if running:
        s.missing.append(f"experiment(s) with no result in the log: {', '.join(running)}")


# ---- report.md


def _f(value: float | None, digits: int = 6) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _when(t: float | None) -> str:
    if not t:
        return "?"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_markdown(s: RunSummary) -> str:
    st, m, cfg = s.state, s.metric, s.state.config
    out = [f"# Run {st.run_id or s.run_dir.name}: {s.org_name}", ""]
    if s.missing:
        out += ["> **Missing or incomplete:**", *(f"> - {n}" for n in s.missing), ""]
    status = (
        f"finished: {st.finish_reason or 'no reason given'}"
        if st.finished
        else ("paused" if st.paused else "not finished")
    )
    out += [
        "## Goal",
        "",
        f"- Org: {s.org_name} (`{cfg.get('org', '?')}`), brain {cfg.get('brain', '?')}, "
        f"seed {cfg.get('seed', '?')}, {cfg.get('slots', '?')} experiment slot(s)",
        f"- Metric: {m.name}, {m.goal}; bound: {_f(m.bound)}",
        f"- Status: {status}; started {_when(s.started)}",
        "",
        "## Result",
        "",
        f"- Baseline: {_f(s.baseline)} (mean of {len(st.baselines)} run(s))",
        f"- Best: {_f(s.best)} ({s.best_experiment or 'the baseline'}) at commit "
        f"`{best_commit(st)[:12] or '?'}` on branch `{st.branch or '?'}`",
        f"- Gap closed: {_pct(s.gap_closed)} of the gap from the baseline to the bound"
        + (
            f" (confirmed on fresh seeds; the search measured {_pct(s.gap_closed_search)})"
            if s.confirmation is not None and s.confirmation.gap_closed() is not None
            else ""
        ),
        f"- Confirmation: {_confirmed(s)}",
        f"- Kept: {len(s.kept)} of {len(st.decided())} decided experiments "
        f"({len(st.candidates())} candidates run)",
        f"- Experiments to reach the best: {s.experiments_to_best}",
        "",
        f"![{m.name} over experiments]({PROGRESS})",
        "",
    ]
    sections = _confirm_md(s) + _baseline_md(s) + _kept_md(s) + _org_md(s) + _failed_md(s)
    sections += _turns_md(s)
    return "\n".join(out + sections + _cost_md(s))


def _confirmed(s: RunSummary) -> str:
    c = s.confirmation
    if c is None:
        return "none (nothing kept, confirmation off, or the run stopped before it)"
    return f"{c.experiment} against the baseline, paired by seed: {c.line()}"


def _confirm_md(s: RunSummary) -> list[str]:
    c = s.confirmation
    if c is None:
        return []
    out = [
        "## Confirmation on fresh seeds",
        "",
        f"The best ({c.experiment}) and the baseline, rerun on seeds no experiment had used:",
        "",
        f"| seed | {s.metric.name} of {c.experiment} | baseline | gain |",
        "|---|---|---|---|",
    ]
    for seed, best, base in zip(c.seeds, c.best, c.baseline, strict=True):
        gain = s.metric.gain(best, base) if best is not None and base is not None else None
        out.append(f"| {seed} | {_f(best)} | {_f(base)} | {_f(gain)} |")
    out += ["", f"{c.line()} (replicates: the mean gain exceeds one standard error).", ""]
    return out


def _baseline_md(s: RunSummary) -> list[str]:
    runs = [
        f"{e.id} {_f(e.metric) if e.status == OK else e.status}"
        for e in s.state.experiments.values()
        if e.baseline
    ]
    noise = s.state.noise
    return [
        "## Baseline and noise",
        "",
        f"- Runs: {', '.join(runs) or 'none'}",
        f"- Mean {_f(s.baseline)}, noise sigma {_f(noise)}",
        "",
    ]


def _kept_md(s: RunSummary) -> list[str]:
    out = ["## Kept changes, in order", ""]
    if not s.kept:
        return [*out, "None.", ""]
    out += [f"| experiment | change | {s.metric.name} | delta | commit |", "|---|---|---|---|---|"]
    prev = s.baseline
    for e in s.kept:
        gain = s.metric.gain(e.metric, prev) if e.metric is not None and prev is not None else None
        desc = e.description.replace("|", "\\|")
        out.append(f"| {e.id} | {desc} | {_f(e.metric)} | {_f(gain)} | `{e.branch_commit[:7]}` |")
        prev = e.metric
    return [*out, "", "Delta: improvement over the incumbent before it (positive is better).", ""]


def _org_md(s: RunSummary) -> list[str]:
    out = ["## Org edits", ""]
    if not s.org_events:
        return [*out, "None.", ""]
    out += [
        f"| event | gen | file | by | why | {s.metric.name} at it | after its window |",
        "|---|---|---|---|---|---|---|",
    ]
    for oe in s.org_events:
        d = oe.data
        files = d.get("file") or ", ".join(map(str, d.get("files", []))) or "?"
        why = str(d.get("rationale") or d.get("reason") or "")
        why = clip(why, 120).replace("|", "\\|")
        out.append(
            f"| {oe.kind} | {d.get('generation', '')} | {files} | {d.get('author', '')} | {why} "
            f"| {_f(oe.before)} | {_f(oe.after)} |"
        )
    return [*out, ""]


def _failed_md(s: RunSummary) -> list[str]:
    out = ["## Crashes and suspect results", ""]
    bad = [e for e in s.state.experiments.values() if e.status in FAILED]
    if not bad and not s.errors:
        return [*out, "None.", ""]
    for e in bad:
        reason = clip(str(e.info.get("reason", "")), 200)
        out.append(f"- {e.id} ({e.description}): {e.status}" + (f": {reason}" if reason else ""))
    out += [f"- {clip(err, 300)}" for err in s.errors]
    return [*out, ""]


def _cost_md(s: RunSummary) -> list[str]:
    st = s.state
    gpus = any(e.info.get("gpus") for e in st.experiments.values())
    return [
        "## Cost",
        "",
        f"- Tokens: {st.tokens} over {st.llm_calls} LLM call(s), ${st.usd:.4f}",
        f"- Experiment seconds: {s.experiment_seconds:.1f}; GPU-seconds: {st.gpu_seconds:.1f}"
        + ("" if gpus else " (no GPU: these are CPU slot-seconds)"),
        f"- Wall: {st.wall_seconds():.1f} s; duty cycle: {_pct(s.duty_cycle)} "
        "(experiment seconds / (slots x wall))",
        "",
        *_roles_md(st),
        *_throughput_md(st),
    ]


def _throughput_md(st: RunState) -> list[str]:
    """How busy the slots were, how fast experiments came, and where the time went: each agent
    role's thinking against the slots' training."""
    per_hour = st.per_hour()
    out = [
        "## Throughput",
        "",
        f"- Slots busy: {_pct(st.slots_busy())} of {st.config.get('slots', '?')} slot(s)' time "
        "from the first experiment's start to the last one's end",
        f"- Experiments per hour: {'?' if per_hour is None else f'{per_hour:.1f}'}",
        "",
        "| role | turns | seconds | mean per turn | time spent |",
        "|---|---|---|---|---|",
    ]
    rows = [(role, t, "thinking") for role, t in st.thinking().items()]
    rows.append(("(slots)", st.training(), "training"))
    for role, t, what in rows:
        mean = f"{t.mean:.2f} s" if t.mean is not None else "?"
        out.append(f"| {role} | {t.turns} | {t.seconds:.1f} | {mean} | {what} |")
    return [*out, ""]


def _roles_md(st: RunState) -> list[str]:
    """Cost per role, and the share of its prompt tokens read from the cache."""
    rows = by_role(st)
    if not rows:
        return []
    out = ["| role | calls | tokens | dollars | read from cache |", "|---|---|---|---|---|"]
    for role, r in rows.items():
        share = _pct(r["cache_share"])
        out.append(f"| {role} | {r['calls']} | {r['tokens']:,} | ${r['usd']:.4f} | {share} |")
    return [*out, ""]


def _turns_md(s: RunSummary) -> list[str]:
    """Turns that ended without the role doing its duty, and replies cut off or refused."""
    st = s.state
    out = ["## Turns undone", ""]
    if not st.undone and not st.replies_cut and not st.refusals:
        return [*out, "None.", ""]
    for u in st.undone:
        out.append(f"- {u.get('role')} on `{u.get('kind')}` {u.get('message')}: {u.get('reason')}")
    out.append(
        f"- Replies cut off at their token limit: {st.replies_cut} (none of their tool calls "
        f"ran); refusals: {st.refusals}"
    )
    return [*out, ""]


# ---- progress.png


def draw_progress(s: RunSummary, path: Path) -> None:
    """The metric over experiments, autoresearch-style, written to `path` as PNG."""
    # The object API with an explicit Agg canvas draws headless without pyplot's global backend
    # switch, so a host program that uses pyplot itself is left as it was.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 5.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    exps = list(s.state.experiments.values())
    x_of = {e.id: i for i, e in enumerate(exps, start=1)}

    measured = [e for e in exps if e.metric is not None]
    groups: list[tuple[list[ExperimentRecord], dict[str, Any]]] = [
        ([e for e in measured if e.baseline], {"c": "tab:blue", "s": 30, "label": "baseline"}),
        (
            [
                e
                for e in measured
                if not e.baseline and not e.confirm and e.status == OK and e.decision != "keep"
            ],
            {"c": "#bbbbbb", "s": 22, "label": "discarded", "zorder": 2},
        ),
        (
            [e for e in measured if e.confirm == "best"],
            {"c": "tab:purple", "marker": "D", "s": 26, "label": "best, rerun on a fresh seed"},
        ),
        (
            [e for e in measured if e.confirm == "baseline"],
            {"c": "tab:cyan", "marker": "D", "s": 26, "label": "baseline, rerun on a fresh seed"},
        ),
        (
            [e for e in measured if e.status == "suspect"],
            {"c": "tab:orange", "marker": "^", "label": "suspect (beyond the bound)"},
        ),
        (s.kept, {"c": "tab:green", "s": 60, "edgecolors": "black", "label": "kept", "zorder": 4}),
    ]
    for sel, style in groups:
        if sel:
            ys = [e.metric or 0.0 for e in sel]
            ax.scatter([x_of[e.id] for e in sel], ys, **{"zorder": 3, **style})
    for e in s.kept:
        ax.annotate(clip(e.description, 40), (x_of[e.id], e.metric or 0.0), fontsize=7,
                    xytext=(4, 6), textcoords="offset points", rotation=20)  # fmt: skip
    failed = [x_of[e.id] for e in exps if e.metric is None and e.finished]
    if failed:  # no metric to place them by: along the bottom edge
        ax.scatter(failed, [0.02] * len(failed), transform=ax.get_xaxis_transform(),
                   marker="x", c="tab:red", label="crash / timeout / void", zorder=3)  # fmt: skip
    _best_line(s, ax, x_of, len(exps))
    if s.metric.bound is not None:
        ax.axhline(s.metric.bound, ls="--", c="black", lw=1, label=f"bound {s.metric.bound:g}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("experiment #")
    ax.set_ylabel(
        f"{s.metric.name} ({'lower' if s.metric.goal == 'minimize' else 'higher'} is better)"
    )
    ax.set_title(
        f"{s.org_name}: {len(s.state.candidates())} experiments, {len(s.kept)} kept, "
        f"gap closed {_pct(s.gap_closed)}"
    )
    if not measured and s.metric.bound is None:
        ax.text(0.5, 0.5, "no measured experiments", ha="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png")


def _best_line(s: RunSummary, ax: Any, x_of: dict[str, int], last: int) -> None:
    if s.baseline is None:
        return
    first = min((x_of[e.id] for e in s.state.candidates()), default=last)
    xs, ys = [float(first) - 0.5], [s.baseline]
    for e in s.records:
        xs.append(x_of[e.id])
        ys.append(e.metric or 0.0)
    xs.append(last + 0.5)
    ys.append(ys[-1])
    ax.step(xs, ys, where="post", c="tab:green", lw=1.5, alpha=0.8, label="best so far")


# ---- writing


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write {path}: {e.strerror or e}") from None


def write_report(run_dir: Path | str) -> ReportResult:
    """Write report.md and progress.png into the run folder; return what was written and what
    the log lacked. Raises ReportError when the folder holds no readable orgloop events."""
    s = load_run(run_dir)
    md, png = s.run_dir / REPORT, s.run_dir / PROGRESS
    _atomic(png, lambda p: draw_progress(s, p))
    text = render_markdown(s)
    _atomic(md, lambda p: p.write_text(text, encoding="utf-8"))
    return ReportResult([md, png], list(s.missing), s)


__all__ = [
    "OrgEvent",
    "ReportError",
    "ReportResult",
    "RunSummary",
    "draw_progress",
    "load_run",
    "render_markdown",
    "write_report",
]
