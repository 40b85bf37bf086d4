"""The ledger: what the org has learned, in two forms.

`summarize` gives the roles a bounded view of the run — baseline and noise, the incumbent, the best
few kept changes, the last few experiments, the dead ends — the same size at experiment 1,000 as at
experiment 50. `results_tsv` writes autoresearch's five columns (commit, metric, memory_gb, status,
description) from the state, so the file always agrees with the run branch; confirmation reruns
are rows with status `confirm`, and the confirmed best's description says whether it replicated.
`run_summary`'s headline gap closed is the confirmed one when the run confirmed its best.
"""

from __future__ import annotations

from typing import Any

from ...org import Org
from .confirm import confirmation
from .state import OK, ExperimentRecord, RunState

RECENT = 6
TOP = 5
DEAD_ENDS = 8


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def _budgeted(n: int | None) -> str:
    return "no limit (the run goes on until it is stopped)" if n is None else f"{n} budgeted"


def _row(e: ExperimentRecord) -> dict[str, Any]:
    return {
        "id": e.id,
        "status": e.status,
        "metric": e.metric,
        "decision": e.decision,
        "description": e.description,
    }


def summarize(state: RunState, org: Org) -> dict[str, Any]:
    """The `ledger` a role's prompt is rendered with (keys: orgloop.org.LEDGER_KEYS)."""
    metric = org.program.metric
    cands = state.candidates()
    kept = [e for e in cands if e.decision == "keep" and e.metric is not None]
    finished = [e for e in cands if e.finished]
    baseline = state.baselines
    base_mean = sum(baseline) / len(baseline) if baseline else None
    noise = state.noise
    top = sorted(kept, key=lambda e: (e.metric or 0.0) * (1 if metric.goal == "minimize" else -1))
    dead: list[str] = []
    for e in reversed(finished):
        if (e.decision == "discard" or e.status != OK) and e.description not in dead:
            dead.append(e.description)
        if len(dead) >= DEAD_ENDS:
            break
    recent = finished[-RECENT:]
    lines = [
        f"Metric: {metric.name} ({metric.goal})"
        + (f", bound {metric.bound}" if metric.bound is not None else ""),
        f"Baseline: {_fmt(base_mean)} over {len(baseline)} run(s), noise sigma {_fmt(noise)}",
        f"Incumbent: {_fmt(state.incumbent_metric)} ({state.incumbent_exp or 'baseline'}, "
        f"commit {state.incumbent[:7]})",
        f"Experiments: {len(finished)} finished of {_budgeted(org.program.budget.experiments)}, "
        f"{len(kept)} kept",
    ]
    if top:
        lines.append("Best kept changes:")
        lines += [f"- {e.id}: {_fmt(e.metric)} {e.description}" for e in top[:TOP]]
    if recent:
        lines.append("Recent:")
        lines += [
            f"- {e.id}: {e.status} {_fmt(e.metric)} {e.decision or 'undecided'} — {e.description}"
            for e in recent
        ]
    if dead:
        lines.append("Dead ends: " + "; ".join(dead))
    return {
        "summary": "\n".join(lines),
        "best": _row(top[0]) if top else None,
        "baseline": base_mean,
        "noise": noise,
        "experiments": len(finished),
        "recent": [_row(e) for e in recent],
        "top": [_row(e) for e in top[:TOP]],
        "dead_ends": dead,
    }


HEADER = ("commit", "metric", "memory_gb", "status", "description")


def results_tsv(state: RunState, org: Org) -> str:
    """autoresearch's results.tsv: baselines, then every finished candidate that has an outcome."""
    rows = ["\t".join((*HEADER[:1], org.program.metric.name, *HEADER[2:]))]
    confirmed = confirmation(state, org.program.metric)
    for e in state.experiments.values():
        if not e.finished:
            continue
        note = ""
        if e.confirm:
            status = "confirm"  # its description names what it reran, and on which seed
        elif e.baseline:
            status = "baseline" if e.status == OK else e.status
        elif e.status != OK:
            status = e.status
        elif e.decision:
            status = e.decision
        else:
            continue  # measured, not yet decided
        if confirmed is not None and e.id == confirmed.experiment and not e.confirm:
            note = f" [confirmed: {confirmed.line()}]"  # the five columns stay five
        commit = (e.branch_commit or e.commit)[:7]
        metric = f"{e.metric:.6f}" if e.metric is not None else "0.000000"
        desc = " ".join(f"{e.id}{note} {e.description}".split())
        rows.append("\t".join((commit, metric, f"{e.memory_gb:.1f}", status, desc)))
    return "\n".join(rows) + "\n"


def best_commit(state: RunState) -> str:
    """The commit on the run branch that holds the best result: the keep commit of the incumbent
    experiment, or the run's base when nothing was kept. Not the branch head, which a later org
    edit moves past it."""
    e = state.experiments.get(state.incumbent_exp)
    if e is not None and not e.baseline and e.branch_commit:
        return e.branch_commit
    return str(state.config.get("base") or state.incumbent)


def run_summary(state: RunState, org: Org) -> dict[str, Any]:
    """The closing figures: baseline, best, its commit, the share of the gap to the bound closed."""
    s, metric = state, org.program.metric
    baseline = s.baselines
    base = sum(baseline) / len(baseline) if baseline else None
    best = s.incumbent_metric
    closed = None
    if base is not None and best is not None and metric.bound is not None:
        gap = metric.gain(metric.bound, base)
        closed = metric.gain(best, base) / gap if gap > 0 else None
    confirmed = confirmation(s, metric)
    headline = confirmed.gap_closed() if confirmed is not None else None
    return {
        "baseline": base,
        "best": best,
        "best_experiment": s.incumbent_exp,
        "best_commit": best_commit(s),
        "gap_closed": headline if headline is not None else closed,
        "gap_closed_search": closed,
        "confirmed": confirmed.to_dict() if confirmed is not None else None,
        "experiments": len(s.candidates()),
        "kept": sum(1 for e in s.candidates() if e.decision == "keep"),
        "tokens": s.tokens,
        "usd": round(s.usd, 4),
        "wall_seconds": round(s.wall_seconds(), 1),
        "by_role": by_role(s),
        "turns_undone": len(s.undone),
        "replies_cut": s.replies_cut,
        "refusals": s.refusals,
    }


def by_role(state: RunState) -> dict[str, dict[str, Any]]:
    """What each role's model calls cost: calls, tokens, dollars and the share of its prompt
    tokens read from the cache, dearest first."""
    rows = sorted(state.by_role.items(), key=lambda kv: -kv[1].usd)
    return {
        role: {
            "calls": u.calls,
            "tokens": u.tokens,
            "usd": round(u.usd, 4),
            "cache_share": None if u.cache_share is None else round(u.cache_share, 4),
        }
        for role, u in rows
    }
