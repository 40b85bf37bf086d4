"""`orgloop run` and `orgloop resume` as library calls: pick the org and the brain, step the
engine, print progress, and leave a closing summary that says where every file is.

Before anything is made, the brain flags and the org are checked: bad flags or an org with errors
raise (the CLI reports them, exit 2) and the org's warnings are printed on stderr (with `strict`,
they are errors too). Banners come after that, so they never stand above an unrelated error; a note
says when orgloop makes the org folder a git repository or makes its first commit.

Output survives its reader: when stdout is closed (a pipe into `head`, a closed terminal, a lost
ssh session, SIGHUP), the run goes on recording to its folder and ends as it would have, with the
same exit code; stderr says where the run is.

Exit codes: 0 the run finished; 1 it ended in error (no baseline measured, or the org stopped
before any experiment ran), or stopped because the disk refused a write
(full, read-only: the message says what, and `orgloop resume` goes on once it is fixed); 3 it
paused (resume it later); 130 it was interrupted. Bad input (an org that does not load or lint,
an unreadable run folder, a run another engine holds) raises for the CLI to report (2).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO, cast

from ..org import Finding, builtin_org_dir, load_org
from ._output import Output, ignore_hangup
from ._preflight import preflight, repo_note
from ._show import display_path, oserror_text
from .brains import default_brain_name, make_brain
from .core.errors import RunStopped
from .core.events import Event, read_events
from .core.ledger import best_commit
from .core.rules import STALLED
from .core.text import clip
from .engine import NO_BASELINE, Engine
from .executors import ExecutorChoice, make_executor
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


def _streams(out: TextIO | None, err: TextIO | None) -> tuple[Output, Output]:
    def wrap(stream: TextIO) -> Output:
        return stream if isinstance(stream, Output) else Output(stream)

    return wrap(out or sys.stdout), wrap(err or sys.stderr)


def _say_findings(findings: list[Finding], err: Output, command: str) -> None:
    if not findings:
        return
    for f in findings:
        err.write(f"{display_path(f.path)}:{f.line}: {f.severity}: {f.message}")
        err.write(f" (hint: {f.hint})\n" if f.hint else "\n")
    n = len(findings)
    err.write(
        f"orgloop {command}: {n} warning{'' if n == 1 else 's'}; the run goes on "
        "(orgloop check lists them, --strict makes them errors)\n"
    )
    err.flush()


def _brain_banner(name: str | None, progress: Progress) -> None:
    if name is None and default_brain_name() == "offline":
        progress.say(
            "[dim]no ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN or ANTHROPIC_BASE_URL set: the "
            "offline brain thinks for every role (deterministic policies from the roles' policy "
            "blocks)[/]"
        )


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
    strict: bool = False,
    tag: str | None = None,
    executor: ExecutorChoice | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    stdout, stderr = _streams(out, err)
    progress = Progress(json_lines=json_lines, file=cast(TextIO, stdout))
    with _hangup(stdout, stderr, tui):
        chosen = make_brain(brain, model=model, record=record, cassette=cassette)  # nothing made
        root = None if org is None else Path(org)
        if root is not None and root.is_file() and root.name in ("ORG.md", "program.md"):
            root = root.parent
        source = builtin_org_dir() if root is None else root
        warnings = preflight(source, strict=strict)
        _say_findings(warnings, stderr, "run")
        # Built (a cluster joined) before anything is made: a bad choice leaves no run behind.
        experiment = load_org(source).program.experiment
        built = make_executor(experiment, executor)
        where = (executor or ExecutorChoice()).for_record(experiment)
        extra = {} if where == {"name": "local"} else {"executor": where}
        note = "" if root is None else repo_note(root)
        _brain_banner(brain, progress)
        if root is None:
            root = init_org(fresh_folder((dest or Path.cwd()) / "orgloop-tinylm"))
            progress.say(
                f"the built-in tinylm org, in a fresh folder (a new git repository): {root}"
            )
        engine = Engine.start(root, brain=chosen, seed=seed, tag=tag, executor=built, extra=extra)
        if note:
            stderr.write(f"note: {note}\n")
            stderr.flush()
        return _drive(engine, progress, tui, stdout, stderr)


def resume(
    run_dir: Path,
    *,
    brain: str | None = None,
    model: str | None = None,
    record: Path | None = None,
    cassette: Path | None = None,
    json_lines: bool = False,
    tui: bool = False,
    executor: ExecutorChoice | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    stdout, stderr = _streams(out, err)
    progress = Progress(json_lines=json_lines, file=cast(TextIO, stdout))
    with _hangup(stdout, stderr, tui):
        chosen = make_brain(brain, model=model, record=record, cassette=cassette)
        engine = Engine.resume(run_dir, brain=chosen, executor=executor or ExecutorChoice())
        _brain_banner(brain, progress)
        return _drive(engine, progress, tui, stdout, stderr)


@contextlib.contextmanager
def _hangup(stdout: Output, stderr: Output, tui: bool) -> Iterator[None]:
    """Headless, a hangup (the terminal went away) loses the output, not the run."""
    if tui:  # the TUI owns the terminal, and what a hangup means to it
        yield
        return
    restore = ignore_hangup(stdout, stderr)
    try:
        yield
    finally:
        restore()


def _drive(engine: Engine, progress: Progress, tui: bool, stdout: Output, stderr: Output) -> int:
    rel = _shown(engine.run_dir)

    def lost() -> None:
        stderr.write(
            f"orgloop: stdout was closed; the run goes on, recording to {rel} "
            f"(follow it with: orgloop watch {rel})\n"
        )
        stderr.flush()

    stdout.on_lost = lost
    try:  # from here on a Ctrl-C, wherever it lands, says how to go on
        progress.know(engine.state)
        if not tui:  # the TUI owns the terminal until it quits; nothing else may write to it
            progress.say(f"watch it: orgloop watch {rel}")
            _listen(engine, progress)
        if tui:
            asyncio.run(_with_tui(engine, progress))
        else:
            asyncio.run(engine.run())
    except KeyboardInterrupt:  # said on stderr: with --json, stdout is for events only
        stderr.write(f"interrupted; continue with: orgloop resume {rel}\n")
        stderr.flush()
        return EXIT_INTERRUPTED
    except RunStopped as e:  # the disk refused a write: say what, and how to go on
        stderr.write(f"orgloop: {e}\n")
        stderr.flush()
        return EXIT_ERROR
    return _closing(engine, progress)


def _shown(path: Path) -> str:
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def _listen(engine: Engine, progress: Progress) -> None:
    """Print this session's events so far, then every new one as it happens."""
    for ev in _replayable(engine):
        progress(ev)
    engine.listeners.append(progress)


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
    # Back on the normal screen: from here the run prints as a headless one does.
    if task.done():
        ends = [e for e in _replayable(engine) if e.kind in ("run_finished", "paused")]
        for ev in ends[-1:]:
            progress(ev)  # how it ended, which the TUI showed and the screen has forgotten
    else:
        progress.say("the TUI closed; the run goes on here (Ctrl-C stops it, resume continues)")
        engine.listeners.append(progress)
    await task


def _closing(engine: Engine, progress: Progress) -> int:
    state, run_dir = engine.state, engine.run_dir
    report_line = ""
    if state.finished:
        try:
            from .report import write_report

            result = write_report(run_dir)
            report_line = "  report:   " + ", ".join(str(p) for p in result.paths)
        except OSError as e:  # the run's facts are safe in events.jsonl either way
            report_line = f"  report:   not written ({oserror_text(e)})"
        except Exception as e:
            report_line = f"  report:   not written ({type(e).__name__}: {clip(str(e), 200)})"
    rel = _shown(run_dir)
    lines = [
        f"  run:      {rel}",
        f"  events:   {rel}/events.jsonl   (controls: {rel}/control.jsonl)",
        f"  results:  {rel}/results.tsv"
        + (
            f" (autoresearch's: {engine.org.root / engine.org.program.results})"
            if engine.org.autoresearch and engine.org.program.results
            else ""
        ),
        f"  diffs:    {rel}/experiments/<id>/diff.patch and log.txt",
        f"  best:     branch {state.branch} at {best_commit(state)[:7]} "
        f"(git -C {engine.org.root} show {best_commit(state)[:7]}:"
        f"{engine.org.program.experiment.editable[0]})",
    ]
    if report_line:
        lines.append(report_line)
    if state.paused and not state.finished:
        lines.append(f"  paused:   continue with: orgloop resume {rel}")
    if not progress.json_lines:
        progress.console.print("\n".join(lines), markup=False)
    if state.finished:
        failed = state.finish_reason.startswith((NO_BASELINE, STALLED))
        return EXIT_ERROR if failed else EXIT_OK
    return EXIT_PAUSED if state.paused else EXIT_ERROR


__all__ = ["fresh_folder", "resume", "run"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(None))
