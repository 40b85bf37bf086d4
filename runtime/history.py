"""`orgloop history [ORG]`: the org's generations — every edit to its Markdown and what it did.

Read from the runs' event logs (`ORG/.orgloop/runs/*/events.jsonl`), oldest run first, because the
events carry what git cannot: the evidence an edit was made on, its paired trial (the experiments
of the edited and the previous version, the paired gain and the margin it had to beat), and whether
it was kept or reverted. Logs from before trials measured an edit by the window after it; those
rows show the windows' improvements. Each accepted edit
(`org_edited`, by the meta role or by a human during a run) is one `Generation`.

It only reads. Edits proposed and refused (`org_rejected`) are not generations and are not listed;
a run whose log is unreadable is skipped rather than failing the whole history, and said so in
`skipped` when the caller passes a list. Finding the org a bare `orgloop history` means is
`find.find_org`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .core.events import LogError, read_events

RUNS = Path(".orgloop") / "runs"


@dataclass(frozen=True)
class Generation:
    run_id: str
    generation: int
    author: str
    """`meta`, or the name of the human who edited the file."""
    role: str
    file: str
    commit: str
    rationale: str
    diff: str
    evidence: tuple[str, ...] = ()
    metric_before: float | None = None
    window: int | None = None
    """The window whose evidence the edit was made on; the next window measures it."""
    before: float | None = None
    """Improvement of the window before the edit (best-of-window gain over its start)."""
    after: float | None = None
    """Improvement of the window that measured the edit."""
    status: str = "unmeasured"
    """kept, reverted, unmeasured (its trial has not closed), or human (never measured)."""
    reason: str = ""
    trial: dict[str, Any] | None = None
    """The `org_trial` that judged it: the two arms, the paired gain and the margin."""

    @property
    def effect(self) -> float | None:
        """How much more the measuring window improved than the one before; None if unmeasured."""
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


def history(org_path: Path, *, skipped: list[str] | None = None) -> list[Generation]:
    """Every generation of the org at `org_path`, run by run, in order; a run whose log cannot
    be read is left out, with why appended to `skipped`."""
    runs = Path(org_path) / RUNS
    out: list[Generation] = []
    logs = sorted(runs.glob("*/events.jsonl")) if runs.is_dir() else []
    for log in logs:
        try:
            events = read_events(log)
        except (LogError, OSError) as e:
            if skipped is not None:
                why = e if isinstance(e, LogError) else getattr(e, "strerror", e)
                skipped.append(f"run {log.parent.name} left out: {why}")
            continue
        out += _run_generations(log.parent.name, [(e.kind, e.data) for e in events])
    return out


def _run_generations(run_id: str, events: list[tuple[str, dict[str, Any]]]) -> list[Generation]:
    gens: dict[int, Generation] = {}
    for kind, d in events:
        if kind == "run_started":
            run_id = str(d.get("run_id", run_id))
        elif kind == "org_edited" and isinstance(d.get("generation"), int):
            human = d.get("author") != "meta"
            evidence = d.get("evidence") or {}
            gens[d["generation"]] = Generation(
                run_id=run_id,
                generation=d["generation"],
                author=str(d.get("who") or "human") if human else "meta",
                role=str(d.get("role", "")),
                file=str(d.get("file", "")),
                commit=str(d.get("commit", "")),
                rationale=str(d.get("rationale", "")),
                diff=str(d.get("diff", "")),
                evidence=tuple(evidence.get("experiments") or ()),
                metric_before=d.get("metric_before"),
                window=d.get("window"),
                status="human" if human else "unmeasured",
            )
        elif kind == "org_reverted" and d.get("generation") in gens:
            g = gens[d["generation"]]
            gens[g.generation] = replace(
                g,
                status="reverted",
                reason=str(d.get("reason", "")),
                before=d.get("before", g.before),
                after=d.get("after", g.after),
            )
        elif kind == "org_trial" and d.get("generation") in gens:
            g = gens[d["generation"]]
            gens[g.generation] = replace(
                g, status=str(d.get("verdict", g.status)), reason=str(d.get("reason", "")), trial=d
            )
        elif kind == "message_sent" and d.get("kind") == "window":
            for m in (d.get("data") or {}).get("measured") or []:
                measured = gens.get(m.get("generation"))
                if measured is None or measured.status == "reverted" or measured.trial:
                    continue  # a trial's verdict is its own event; older logs measured windows
                verdict = str(m.get("verdict", "kept"))
                gens[measured.generation] = replace(
                    measured,
                    before=m.get("before"),
                    after=m.get("after"),
                    status="kept" if verdict.startswith("kept") else verdict,
                    reason=verdict.partition(": ")[2],
                )
    return [gens[k] for k in sorted(gens)]


def short_diff(diff: str, lines: int = 6, width: int = 96) -> list[str]:
    """The changed lines of a unified diff, at most `lines` of them, clipped to `width`."""
    changed = [d for d in diff.splitlines() if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    out = [d if len(d) <= width else d[: width - 1] + "…" for d in changed[:lines]]
    if len(changed) > lines:
        out.append(f"… {len(changed) - lines} more changed lines")
    return out


def trial_line(t: dict[str, Any]) -> str:
    """An edit's paired trial in one row: the two arms, the paired gain ± its standard error,
    the margin it had to beat, and the verdict."""

    def arm(a: Any) -> str:
        a = a if isinstance(a, dict) else {}
        ids = ", ".join(map(str, a.get("experiments") or [])) or "none"
        mean = a.get("mean")
        return ids + (f" (mean {mean:.6f})" if isinstance(mean, int | float) else "")

    gain, sem = t.get("gain"), t.get("sem")
    paired = "n/a" if not isinstance(gain, int | float) else f"{gain:+.6f}"
    if isinstance(sem, int | float):
        paired += f" ± {sem:.6f}"
    margin = t.get("margin")
    margin_text = f"{margin:.6f}" if isinstance(margin, int | float) else "n/a"
    return (
        f"trial: edited {arm(t.get('edited'))} vs previous {arm(t.get('previous'))}; "
        f"paired gain {paired} over {t.get('pairs', 0)} pairs, margin {margin_text}: "
        f"{t.get('verdict', '?')}"
    )


def format_history(generations: list[Generation]) -> str:
    """The history as text: per run, each generation with its diff in short and its effect."""
    if not generations:
        return "no org edits yet: the org is still at generation 0\n"
    out: list[str] = []
    run = ""
    for g in generations:
        if g.run_id != run:
            run = g.run_id
            out.append(f"run {run}")
        effect = ""
        if g.effect is not None and g.trial is None:
            effect = (
                f"  window {g.window}: {g.before:+.6f} -> window {(g.window or 0) + 1}: "
                f"{g.after:+.6f} ({g.effect:+.6f})"
            )
        before = "" if g.metric_before is None else f"  metric before {g.metric_before:.6f}"
        out.append(
            f"  gen {g.generation:<3} {g.author:<8} {g.file:<22} {g.commit[:7]}  "
            f"{g.status:<10}{effect}{before}"
        )
        if g.rationale:
            out.append(f"      {g.rationale}")
        out += [f"      {line}" for line in short_diff(g.diff)]
        if g.trial is not None:
            out.append(f"      {trial_line(g.trial)}")
        elif g.status == "reverted" and g.reason:
            out.append(f"      reverted: {g.reason}")
    return "\n".join(out) + "\n"


__all__ = ["Generation", "format_history", "history", "short_diff", "trial_line"]
