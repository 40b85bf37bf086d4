"""`orgloop run` and `orgloop resume` as library calls: pick the org and the brain, step the
engine, print progress, and leave a closing summary that says where every file is.

Exit codes: 0 the run finished; 1 it ended in error; 3 it paused (resume it later). Bad input
(an org that does not load or lint, an unreadable run folder) raises for the CLI to report (2).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TextIO

from .brains import Brain, default_brain_name, make_brain
from .core.events import Event, read_events
from .engine import NO_BASELINE, Engine
from .progress import Progress
from .scaffold import init_org

EXIT_OK, EXIT_ERROR, EXIT_PAUSED, EXIT_INTERRUPTED = 0, 1, 3, 130


def fresh_folder(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`, … — the first that does not exist yet."""
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def choose_brain(
    name: str | None,
    model: str | None,
    record: Path | None,
    cassette: Path | None,
    progress: Progress,
) -> Brain:
    if name is None and default_brain_name() == "offline":
        progress.say(
            "[dim]no ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN set: the offline brain thinks "
            "for every role (deterministic policies from the roles' policy blocks)[/]"
        )
    return make_brain(name, model=model, record=record, cassette=cassette)


def run(
    org: Path | None,
    *,
    brain: str | None = None,
    model: str | None = None,
    record: Path | None = None,
    cassette: Path | None = None,
    seed: int | None = None,
    json_lines: bool = False,
    tui: bool = False,
    dest: Path | None = None,
    out: TextIO | None = None,
) -> int:
    progress = Progress(json_lines=json_lines, file=out)
    chosen = choose_brain(brain, model, record, cassette, progress)  # bad flags: nothing made yet
    if org is None:
        org = init_org(fresh_folder((dest or Path.cwd()) / "orgloop-tinylm"))
        progress.say(f"the built-in tinylm org, in a fresh folder: {org}")
    engine = Engine.start(org, brain=chosen, seed=seed)
    return _drive(engine, progress, tui)


def resume(
    run_dir: Path,
    *,
    brain: str | None = None,
    model: str | None = None,
    record: Path | None = None,
    cassette: Path | None = None,
    json_lines: bool = False,
    tui: bool = False,
    out: TextIO | None = None,
) -> int:
    progress = Progress(json_lines=json_lines, file=out)
    chosen = choose_brain(brain, model, record, cassette, progress)
    engine = Engine.resume(run_dir, brain=chosen)
    return _drive(engine, progress, tui)


def _drive(engine: Engine, progress: Progress, tui: bool) -> int:
    engine.listeners.append(progress)
    for ev in _replayable(engine):
        progress(ev)
    try:
        if tui:
            asyncio.run(_with_tui(engine, progress))
        else:
            asyncio.run(engine.run())
    except KeyboardInterrupt:
        progress.say(f"interrupted; continue with: orgloop resume {engine.run_dir}")
        return EXIT_INTERRUPTED
    return _closing(engine, progress)


def _replayable(engine: Engine) -> list[Event]:
    """What this session logged before the printer listened: from run_started or run_resumed."""
    engine.log.commit()
    events = read_events(engine.run_dir / "events.jsonl")
    starts = [i for i, e in enumerate(events) if e.kind in ("run_started", "run_resumed")]
    return events[starts[-1] :] if starts else []


async def _with_tui(engine: Engine, progress: Progress) -> None:
    from ..tui import OrgloopApp

    task = asyncio.ensure_future(engine.run())
    await OrgloopApp(engine.run_dir, follow=True).run_async()
    if not task.done():
        progress.say("the TUI closed; the run goes on here (Ctrl-C stops it, resume continues)")
    await task


def _closing(engine: Engine, progress: Progress) -> int:
    state, run_dir = engine.state, engine.run_dir
    report_line = ""
    if state.finished:
        try:
            from .report import write_report

            result = write_report(run_dir)
            report_line = "  report:   " + ", ".join(str(p) for p in result.paths)
        except Exception as e:  # the run's facts are safe in events.jsonl either way
            report_line = f"  report:   not written ({type(e).__name__}: {e})"
    rel = os.path.relpath(run_dir) if not os.path.relpath(run_dir).startswith("..") else run_dir
    lines = [
        f"  run:      {rel}",
        f"  events:   {rel}/events.jsonl   (controls: {rel}/control.jsonl)",
        f"  results:  {rel}/results.tsv",
        f"  diffs:    {rel}/experiments/<id>/diff.patch and log.txt",
        f"  best:     branch {state.branch} at {state.incumbent[:7]} "
        f"(git -C {engine.org.root} show {state.branch}:"
        f"{engine.org.program.experiment.editable[0]})",
    ]
    if report_line:
        lines.append(report_line)
    if state.paused and not state.finished:
        lines.append(f"  paused:   continue with: orgloop resume {rel}")
    if not progress.json_lines:
        progress.console.print("\n".join(lines), markup=False)
    if state.finished:
        return EXIT_ERROR if state.finish_reason.startswith(NO_BASELINE) else EXIT_OK
    return EXIT_PAUSED if state.paused else EXIT_ERROR


__all__ = ["fresh_folder", "resume", "run"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(None))
