"""The `orgloop` command line: a thin argparse layer over the library.

Each command is two small functions: `_add_NAME(sub)` declares the subcommand and its flags, and
`cmd_NAME(args)` does the work by calling the library and returns the exit code. A new command is
one more pair and one more entry in `COMMANDS`; nothing else here changes.

Exit codes: 0 done (or clean), 1 findings (`check`) or a run that ended in error, 2 bad input or
usage, 3 a run that paused (`orgloop resume` continues it), 130 interrupted (Ctrl-C). Bad input —
an org that does not load, a path that is not what the command needs, a run another engine holds, a
folder `init` refuses — is a message on stderr that says what was found and what to give, never a
traceback or raw errno text. A reader that goes away (`orgloop … | head`) never turns into an error:
stdout and stderr are wrapped so that writing to a closed pipe is dropped, not raised.
Configuration lives in the org's files, not in flags; this module validates nothing itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeAlias, cast

from orgloop import __version__

from ..org import (
    EXECUTORS,
    OrgError,
    build_graph,
    builtin_org_dir,
    check,
    format_graph,
    load_org,
)
from ._output import wrap_std
from ._show import display_path, oserror_text, print_findings
from .brains import NAMES, BrainChoiceError
from .core.errors import RunError, RunStopped
from .core.git import GitError
from .core.lock import RunLocked
from .find import FindError, find_org, find_run, is_org, is_run, list_runs
from .scaffold import ScaffoldError, Task, init_from_agents, init_from_task, init_org

if TYPE_CHECKING:
    from .executors import ExecutorChoice

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What each `_add_NAME` receives: the `orgloop` parser's subcommand table."""

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


# ---- output helpers


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _seed(text: str) -> int:
    """A run seed: a whole number from 0 (it picks the run's ORGLOOP_SEEDs, which start there)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number, e.g. --seed 3") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0; seeds start at 0, e.g. --seed 3")
    return value


def _add_org_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "org",
        nargs="?",
        type=Path,
        metavar="ORG",
        help="org folder (or its ORG.md); default: the built-in tinylm org",
    )


def _org_root(args: argparse.Namespace) -> Path:
    root: Path | None = args.org
    return root if root is not None else builtin_org_dir()


# ---- orgloop check


def _add_check(sub: Subparsers) -> None:
    p = sub.add_parser(
        "check",
        help="lint an org: every finding with file:line",
        description="Load and lint an org. Exit 0 when clean, 1 with findings, 2 when unreadable.",
    )
    _add_org_argument(p)
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    root = _org_root(args)
    findings, code = check(root)
    if code == EXIT_OK:
        org = load_org(root)
        edges = build_graph(org).number_of_edges()
        roles = _plural(len(org.roles), "role")
        print(f"{display_path(root)}: ok ({roles}, {_plural(edges, 'edge')})")
        return EXIT_OK
    print_findings(findings, sys.stdout)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    summary = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    print(f"{display_path(root)}: {summary}")
    return int(code)


# ---- orgloop graph


def _add_graph(sub: Subparsers) -> None:
    p = sub.add_parser(
        "graph",
        help="print an org's message graph",
        description="Print the message graph: one edge per (sender, receiver, message kind).",
    )
    _add_org_argument(p)
    p.add_argument(
        "--format",
        choices=("text", "mermaid", "dot"),
        default="text",
        help="text (one edge a line), mermaid, or graphviz dot (default: text)",
    )
    p.set_defaults(func=cmd_graph)


def cmd_graph(args: argparse.Namespace) -> int:
    org = load_org(_org_root(args))  # OrgError: main reports it with exit 2
    sys.stdout.write(format_graph(build_graph(org), args.format))
    return EXIT_OK


# ---- orgloop init


def _add_init(sub: Subparsers) -> None:
    p = sub.add_parser(
        "init",
        help="make a new org: the tinylm task, the default roles, a git repository",
        description="Scaffold an org folder from the built-in tinylm task and the default roles; "
        "with --from, build it around a Claude Code project's agents (.claude/agents), which "
        "stay where they are.",
    )
    p.add_argument(
        "dir",
        nargs="?",
        type=Path,
        metavar="DIR",
        help="the folder to create (must be empty); with --from, default: the agents' project",
    )
    p.add_argument(
        "--from",
        dest="agents",
        type=Path,
        default=None,
        metavar="AGENTS",
        help="a .claude/agents folder (or the project holding one) to build the org around",
    )
    p.add_argument(
        "--task",
        type=Path,
        default=None,
        metavar="SCRIPT",
        help="your own script that trains and prints a metric (train.py): the org is made for "
        "it (default DIR: the script's folder)",
    )
    p.add_argument(
        "--metric",
        default=None,
        help="with --task: the metric it prints (default: the one name it prints as `name: value`)",
    )
    p.add_argument(
        "--goal",
        choices=("minimize", "maximize"),
        default=None,
        help="with --task: which way is better (default: from the metric's name)",
    )
    p.add_argument("--force", action="store_true", help="write over files that are in the way")
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    task = Task(args.task, args.metric, args.goal) if args.task is not None else None
    if task is None and (args.metric or args.goal):
        print("orgloop init: --metric and --goal go with --task SCRIPT", file=sys.stderr)
        return EXIT_INPUT
    if args.agents is not None or task is not None:
        if args.agents is not None:
            made = init_from_agents(args.agents, args.dir, force=args.force, task=task)
        else:
            assert task is not None
            made = init_from_task(task, args.dir, force=args.force)
        shown = display_path(made.root)
        print(f"made {shown}: {', '.join(made.written)} (one git commit)")
        if args.agents is not None:
            agents = ", ".join(made.agents) or "none (see orgloop check)"
            print(f"agents placed in the graph (they read each result, advise the PI): {agents}")
        if task is not None:
            org = load_org(made.root)
            m = org.program.metric
            space = org.role("engineer").policy.data.get("space") or {}
            print(f"metric: {m.name} ({m.goal}); the engineer searches {', '.join(space)}")
    elif args.dir is None:
        print(
            "orgloop init: give a folder (orgloop init DIR), --task SCRIPT or --from AGENTS",
            file=sys.stderr,
        )
        return EXIT_INPUT
    else:
        shown = display_path(init_org(args.dir, force=args.force))
        print(f"made {shown}: ORG.md, roles/, train.py, prepare.py (one git commit)")
    print(f"next: orgloop check {shown}")
    return EXIT_OK


# ---- orgloop run / resume


def _add_brain_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("brain")
    g.add_argument(
        "--brain",
        choices=NAMES,
        default=None,
        help="who thinks for the roles (default: anthropic when ANTHROPIC_API_KEY, "
        "ANTHROPIC_AUTH_TOKEN or ANTHROPIC_BASE_URL is set, else offline)",
    )
    g.add_argument(
        "--model",
        default=None,
        help="model for roles whose model is `inherit` (with ANTHROPIC_BASE_URL on a local "
        "server: its model's name, e.g. qwen3-coder:30b)",
    )
    g.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE",
        help="write every API request and response to a cassette",
    )
    g.add_argument(
        "--cassette",
        type=Path,
        default=None,
        metavar="FILE",
        help="the cassette the replay brain reads",
    )
    _add_executor_flags(p)
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="every event as a JSON line on stdout")
    o.add_argument("--tui", action="store_true", help="watch the run in the terminal UI")


def _add_executor_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("executor")
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="where experiments run (default: the org's experiment.executor, else local; "
        "resume: where the run ran)",
    )
    g.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="the Ray cluster: auto (default: the one `ray start` made, or RAY_ADDRESS), "
        "HOST:PORT, ray://HOST:PORT, or local to start a one-machine cluster for this run",
    )


def _executor(args: argparse.Namespace) -> ExecutorChoice:
    from .executors import ExecutorChoice  # the sandbox's modules load only for a run

    return ExecutorChoice(args.executor, args.ray_address)


def _add_run(sub: Subparsers) -> None:
    p = sub.add_parser(
        "run",
        help="run an org until its budget is spent",
        description="Run an org headless (or with --tui). With no ORG, the built-in tinylm org "
        "runs in a fresh folder ./orgloop-tinylm. The org's lint warnings are printed first. "
        "Exit 0 finished, 1 error, 2 bad input, 3 paused (continue with orgloop resume), "
        "130 interrupted.",
    )
    p.add_argument(
        "org",
        nargs="?",
        type=Path,
        metavar="ORG",
        help="org folder; default: the built-in tinylm org in a fresh folder",
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=None,
        help="the run's seed: the offline policies' draws and the experiments' ORGLOOP_SEEDs",
    )
    p.add_argument(
        "--tag",
        default=None,
        help="name the run's branch: autoresearch/TAG in an autoresearch folder (default: "
        "today's, e.g. mar5), else orgloop/TAG (default: the run id); it must not exist yet",
    )
    p.add_argument(
        "--strict", action="store_true", help="refuse to start on any lint warning, not only errors"
    )
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the fresh built-in org folder goes (default: here)",
    )
    _add_brain_flags(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from . import runner

    return runner.run(
        args.org,
        brain=args.brain,
        model=args.model,
        record=args.record,
        cassette=args.cassette,
        seed=args.seed,
        json_lines=args.json,
        tui=args.tui,
        dest=args.dir,
        strict=args.strict,
        tag=args.tag,
        executor=_executor(args),
    )


def _add_resume(sub: Subparsers) -> None:
    p = sub.add_parser(
        "resume",
        help="continue a run that was killed or paused",
        description="Replay a run folder's events.jsonl and go on from where it stopped. With no "
        "RUN, the newest run here or in ./orgloop-*. A run another engine holds is refused.",
    )
    p.add_argument(
        "run",
        nargs="?",
        type=Path,
        metavar="RUN",
        help="the run folder (ORG/.orgloop/runs/ID); default: the newest run here",
    )
    _add_brain_flags(p)
    p.set_defaults(func=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    from . import runner

    arg: Path | None = args.run
    if arg is not None and not is_run(arg) and arg.is_dir() and is_org(arg):
        # which run to go on with is the user's choice: an org may hold several unfinished ones
        raise FindError(f"{arg} is an org folder; resume one of its runs.\n{list_runs(arg)}")
    return runner.resume(
        find_run(arg),
        brain=args.brain,
        model=args.model,
        record=args.record,
        cassette=args.cassette,
        json_lines=args.json,
        tui=args.tui,
        executor=_executor(args),
    )


# ---- orgloop watch / history


def _add_watch(sub: Subparsers) -> None:
    p = sub.add_parser(
        "watch",
        help="watch a run in the terminal UI (live or finished)",
        description="Open the Textual app on a run: it tails events.jsonl and sends "
        "pause/resume/step/inject/approve through control.jsonl, so it works on a headless run "
        "in another process too. With no RUN, the newest run here (or under ./orgloop-*); an org "
        "folder means its newest run, and one with no runs yet waits for its first.",
    )
    p.add_argument(
        "run",
        nargs="?",
        type=Path,
        metavar="RUN",
        help="a run folder (ORG/.orgloop/runs/ID) or an org folder; default: the newest run here",
    )
    p.set_defaults(func=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    from .find import runs_of

    path: Path | None = args.run
    target = path if path is not None else Path.cwd()
    try:
        run = find_run(path)
    except FindError as e:
        if is_org(target) and not runs_of(target):
            run = _first_run(target)
        elif path is not None and _starting(path):
            run = path  # the engine made the folder and has not written its first event yet
        else:
            print(f"orgloop watch: {e}", file=sys.stderr)
            return EXIT_INPUT
    from ..tui import run_watch

    return run_watch(run)


def _starting(path: Path) -> bool:
    """A run folder the engine has made but not written to yet: it holds the engine's lock file
    or the org snapshot, or it sits among an org's runs."""
    if not path.is_dir():
        return False
    inside = path.resolve().parent.parts[-2:] == (".orgloop", "runs")
    return (path / "engine.lock").exists() or (path / "org").is_dir() or inside


def _first_run(org: Path, poll: float = 0.25) -> Path:
    """The org's newest run folder, once there is one (Ctrl-C gives up waiting)."""
    from .find import RUNS

    said = False
    while True:
        runs = sorted(p for p in (org / RUNS).glob("*") if p.is_dir())
        if runs:
            return runs[-1]
        if not said:
            shown = display_path(org)
            print(
                f"orgloop watch: {shown} has no runs yet; waiting for the first "
                f"(start one: orgloop run {shown}; Ctrl-C stops)",
                file=sys.stderr,
            )
            said = True
        time.sleep(poll)


def _add_history(sub: Subparsers) -> None:
    p = sub.add_parser(
        "history",
        help="the org's generations: each edit, its diff and its measured effect",
        description="List the edits meta and humans made to the org's Markdown during runs: "
        "generation, role file, diff in short, the metric before and after, kept or reverted.",
    )
    p.add_argument(
        "org",
        nargs="?",
        type=Path,
        metavar="ORG",
        help="org folder (default: here, else the newest ./orgloop-* that `orgloop run` made)",
    )
    p.set_defaults(func=cmd_history)


def cmd_history(args: argparse.Namespace) -> int:
    from .find import runs_of
    from .history import format_history, history

    root = find_org(args.org)
    skipped: list[str] = []
    generations = history(root, skipped=skipped)
    runs = len(runs_of(root))
    if generations:
        print(format_history(generations), end="")
    else:
        print(
            f"{display_path(root)}: no org edits in {_plural(runs, 'run')}: "
            "the org is still at generation 0"
        )
    for note in skipped:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


# ---- orgloop report / batch


def _add_report(sub: Subparsers) -> None:
    p = sub.add_parser(
        "report",
        help="write report.md and progress.png for a run",
        description="Write RUN/report.md and RUN/progress.png from the run's events (also done "
        "at the end of every run). A half-written run gets a report of what is there.",
    )
    p.add_argument(
        "run",
        nargs="?",
        type=Path,
        metavar="RUN",
        help="the run folder, or an org folder for its newest run (default: the newest run here)",
    )
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import ReportError, write_report

    arg: Path | None = args.run
    run = find_run(arg)
    if arg is None or not is_run(arg):
        print(f"the newest run: {display_path(run)}", file=sys.stderr)
    try:
        result = write_report(run)
    except ReportError as e:
        print(f"orgloop report: {e}", file=sys.stderr)
        return EXIT_INPUT
    for path in result.paths:
        print(display_path(path))
    for note in result.missing:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def _add_batch(sub: Subparsers) -> None:
    p = sub.add_parser(
        "batch",
        help="run orgs over seeds, headless, and compare them",
        description="Run each ORG (default: the built-in org) once per seed, sharing the "
        "experiment slots, then print and save a comparison table (mean ± SEM of the best).",
    )
    p.add_argument("orgs", nargs="*", type=Path, metavar="ORG")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 for every org (default 3)")
    p.add_argument("--experiments", type=int, default=None, help="override budget.experiments")
    p.add_argument("--out", type=Path, default=None, help="folder for the runs and the tables")
    p.add_argument("--brain", choices=NAMES, default=None)
    p.add_argument("--strict", action="store_true", help="refuse orgs with lint warnings too")
    p.add_argument(
        "--vs",
        action="append",
        choices=("tpe", "random"),
        default=[],
        help="also run a classic search (Optuna TPE, random) over the same task, budget and "
        "seeds, as a yardstick (repeat for both)",
    )
    _add_executor_flags(p)
    p.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    import time

    from .batch import BatchError, run_batch
    from .brains import make_brain

    make_brain(args.brain)  # flags checked before anything runs
    out = args.out or Path(time.strftime("orgloop-batch-%Y%m%d-%H%M%S"))
    try:
        result = run_batch(
            args.orgs,
            list(range(args.seeds)),
            out=out,
            brain_factory=lambda: make_brain(args.brain),
            budget_experiments=args.experiments,
            progress=print,
            strict=args.strict,
            vs=tuple(args.vs),
            executor=_executor(args),
        )
    except BatchError as e:
        print(f"orgloop batch: {e}", file=sys.stderr)
        return EXIT_INPUT
    print(result.format_table())
    print(f"tables and runs in {display_path(out)}")
    return EXIT_OK if all(r.ok for r in result.runs) else EXIT_FINDINGS


# ---- the parser and the entry point

COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    _add_run,
    _add_resume,
    _add_watch,
    _add_history,
    _add_report,
    _add_batch,
    _add_check,
    _add_graph,
    _add_init,
)
"""Every subcommand, in the order `orgloop --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orgloop", description="Run an autonomous research organization written in Markdown."
    )
    parser.add_argument("--version", action="version", version=f"orgloop {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `orgloop` command; return its exit code (argparse's own exits included)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else EXIT_OK if e.code is None else EXIT_INPUT
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        print("orgloop: error: give a command (orgloop --help lists them)", file=sys.stderr)
        return EXIT_INPUT
    name = "orgloop"
    saved = sys.stdout, sys.stderr
    wrap_std()  # a reader that goes away is dropped, never an error
    try:
        return func(args)
    except OrgError as e:
        errors = sum(f.severity == "error" for f in e.findings)
        print(f"{name}: {_plural(errors, 'error')} in the org:", file=sys.stderr)
        print_findings(e.findings, sys.stderr)
    except RunStopped as e:  # raised outside a run's own loop: the same words, the same code
        print(f"{name}: {e}", file=sys.stderr)
        return EXIT_FINDINGS
    except RunLocked as e:
        print(f"{name}: {e}", file=sys.stderr)
        print("  (orgloop watch follows a held run without disturbing it)", file=sys.stderr)
    except OSError as e:
        print(f"{name}: {oserror_text(e)}", file=sys.stderr)
    except (ScaffoldError, GitError, RunError, BrainChoiceError, FindError) as e:
        print(f"{name}: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout.flush()
        sys.stdout, sys.stderr = cast(tuple[TextIO, TextIO], saved)
    return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
