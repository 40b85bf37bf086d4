"""`orgloop batch`: several orgs, or one org over several seeds, run headless side by side.

`run_batch(orgs, seeds, out=..., brain_factory=...)` first checks every org where it is, so an org
that cannot run stops the batch before anything is copied, with findings against the user's own
files (OrgError); their warnings are said through `progress`. Then it copies each org into
`out/<name>-seed<k>` (the built-in org through `init_org`, any other folder as it is, its .git
included, its .orgloop left behind), optionally sets the copy's experiment budget (an edit of that
one value: the file's comments and layout stay), and runs every copy's engine in one
asyncio loop. The engines share the experiment slots: each engine sees the executor's slot count,
and `SharedSlots` lets no more than that many experiments run at once across all of them. When
all are done it writes each run's report.md and progress.png, and in `out` a comparison —
batch.md (per org: mean ± SEM of the best metric and of the gap closed, confirmed where the runs
reran their best on fresh seeds, how many wins replicated, experiments to reach the best, cost;
then one row per run) with batch.csv (per org), runs.csv (per run) and batch.png (best so far,
mean ± SEM per arm, and paired by seed).

`vs=("tpe", "random")` (`--vs`) adds yardsticks: for each seed, a copy of the first org rewritten
into a classic search over its task (`yardstick.py`: Optuna's TPE or random sampler, run
offline; the orgs of one batch are taken to share a task), through the same executor, on the
same seeds and budget; batch.md then pairs each org with each yardstick by seed.

A run that fails — its copy cannot be made, an engine raises, its brain fails and the run
pauses — is reported as failed with the reason; the others finish. It does not
resume a batch, run engines in separate processes (one brain that blocks the loop blocks all), or
say which org is better: it gives means, SEMs and n, and leaves the judging to the reader.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..org import Finding, OrgError, builtin_org_dir, load_org
from ._batch_plot import draw_batch
from ._preflight import preflight
from ._show import display_path, oserror_text
from .brains import Brain
from .brains.offline import OfflineBrain
from .core.confirm import sem
from .core.text import clip
from .engine import Engine
from .executors import (
    Executor,
    ExecutorChoice,
    ExperimentResult,
    ExperimentSpec,
    LocalExecutor,
    make_executor,
)
from .report import ReportError, RunSummary, write_report
from .scaffold import init_org
from .yardstick import KINDS, Paired, make_yardstick, paired

Progress = Callable[[str], None]
"""Where run_batch says that a run finished or failed, one line each (the CLI passes print)."""


class BatchError(Exception):
    """The batch as a whole cannot start (bad arguments, `out` already holds these runs)."""


class SharedSlots:
    """An executor that lends `inner`'s slots to several engines: each engine may start
    `slots` experiments, and an experiment waits here until one of the real slots is free."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.slots = inner.slots
        self._free: asyncio.Queue[int] | None = None

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        if self._free is None:  # made inside the running loop, on first use
            self._free = asyncio.Queue()
            for n in range(self.inner.slots):
                self._free.put_nowait(n)
        # The engine's slot number is its own; the device comes from whichever real slot is free,
        # so two engines never share a GPU while another one idles.
        real = await self._free.get()
        try:
            return await self.inner.run(spec, real)
        finally:
            self._free.put_nowait(real)


@dataclass
class RunOutcome:
    label: str
    org: Path
    seed: int
    folder: Path
    run_dir: Path | None = None
    error: str = ""
    summary: RunSummary | None = None
    vs: str = ""
    """The yardstick this run is (`tpe`, `random`), or '' for an org as written."""

    @property
    def ok(self) -> bool:
        return not self.error and self.summary is not None


@dataclass
class BatchResult:
    out: Path
    runs: list[RunOutcome]
    wall_seconds: float = 0.0
    paths: list[Path] = field(default_factory=list)

    def labels(self) -> list[str]:
        return list(dict.fromkeys(r.label for r in self.runs))

    def org_rows(self) -> list[dict[str, Any]]:
        """One row per org: aggregates over its successful runs."""
        rows = []
        for label in self.labels():
            runs = [r for r in self.runs if r.label == label]
            good = [r.summary for r in runs if r.ok and r.summary is not None]
            bests = [s.best for s in good if s.best is not None]
            m = good[0].metric if good else None
            rows.append(
                {
                    "org": label,
                    "metric": m.name if m else "",
                    "goal": m.goal if m else "",
                    "runs": len(runs),
                    "failed": len(runs) - len(good),
                    "best_mean": _mean(bests),
                    "best_sem": sem(bests),
                    "gap_closed_mean": _mean([s.gap_closed for s in good]),
                    "gap_closed_sem": sem([s.gap_closed for s in good]),
                    "confirmed": sum(1 for s in good if _confirmed(s)),
                    "replicated": sum(1 for s in good if _confirmed(s) and _replicates(s)),
                    "experiments_to_best_mean": _mean([s.experiments_to_best for s in good]),
                    "tokens_mean": _mean([s.state.tokens for s in good]),
                    "usd_mean": _mean([s.state.usd for s in good]),
                    "wall_seconds_mean": _mean([s.state.wall_seconds() for s in good]),
                }
            )
        return rows

    def run_rows(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.runs:
            s = r.summary
            rows.append(
                {
                    "org": r.label,
                    "seed": r.seed,
                    "status": "ok" if r.ok else "failed",
                    "error": r.error,
                    "best": s.best if s else None,
                    "gap_closed": s.gap_closed if s else None,
                    "gap_closed_search": s.gap_closed_search if s else None,
                    "confirmed_delta": s.confirmation.delta if s and s.confirmation else None,
                    "confirmed_sem": s.confirmation.sem if s and s.confirmation else None,
                    "replicates": s.confirmation.replicates if s and s.confirmation else None,
                    "experiments_to_best": s.experiments_to_best if s else None,
                    "kept": len(s.kept) if s else None,
                    "experiments": len(s.state.candidates()) if s else None,
                    "tokens": s.state.tokens if s else None,
                    "usd": round(s.state.usd, 4) if s else None,
                    "wall_seconds": round(s.state.wall_seconds(), 1) if s else None,
                    "run_dir": str(r.run_dir or ""),
                }
            )
        return rows

    def format_table(self) -> str:
        """The comparison as Markdown: per org, then per run, then the failures."""
        out = [
            "| org | metric | runs | failed | best (mean ± SEM) | gap closed (mean ± SEM) "
            "| wins replicate | exps to best | tokens | usd | wall s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in self.org_rows():
            best = f"{_f(row['best_mean'])} ± {_f(row['best_sem'])}"
            gap = f"{_pct(row['gap_closed_mean'])} ± {_pct(row['gap_closed_sem'])}"
            metric = f"{row['metric']} ({row['goal']})" if row["metric"] else "n/a"
            out.append(
                f"| {row['org']} | {metric} | {row['runs']} "
                f"| {row['failed']} | {best} | {gap} | {row['replicated']} of {row['confirmed']} "
                f"| {_f(row['experiments_to_best_mean'], 1)} | {_f(row['tokens_mean'], 0)} "
                f"| {_f(row['usd_mean'], 4)} | {_f(row['wall_seconds_mean'], 1)} |"
            )
        out += self._paired_md()
        out += [
            "",
            "| org | seed | status | best | gap closed | confirmed Δ ± SEM | exps to best "
            "| kept / run | run folder |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in self.run_rows():
            kept = "n/a" if row["kept"] is None else f"{row['kept']} / {row['experiments']}"
            delta = "n/a"
            if row["confirmed_delta"] is not None:
                delta = f"{row['confirmed_delta']:+.6f} ± {_f(row['confirmed_sem'])}" + (
                    " (replicates)" if row["replicates"] else " (does not replicate)"
                )
            out.append(
                f"| {row['org']} | {row['seed']} | {row['status']} | {_f(row['best'])} "
                f"| {_pct(row['gap_closed'])} | {delta} | {_f(row['experiments_to_best'], 0)} "
                f"| {kept} | {row['run_dir']} |"
            )
        failed = [r for r in self.runs if not r.ok]
        if failed:
            out += ["", "Failed runs:"]
            out += [f"- {r.label} seed {r.seed}: {r.error or 'no result'}" for r in failed]
        out += [
            "",
            f"Batch wall time: {self.wall_seconds:.1f} s. SEM over the runs that finished. Gap "
            "closed is the confirmed figure where a run reran its best and the baseline on "
            "fresh seeds; a win replicates when its mean gain there exceeds one SEM.",
        ]
        return "\n".join(out) + "\n"

    def gap_by_seed(self) -> dict[str, dict[int, float | None]]:
        """label -> seed -> the run's gap closed (confirmed where it was), for finished runs."""
        out: dict[str, dict[int, float | None]] = {}
        for r in self.runs:
            if r.ok and r.summary is not None:
                out.setdefault(r.label, {})[r.seed] = r.summary.gap_closed
        return out

    def comparisons(self) -> list[Paired]:
        """Every org against every yardstick, paired by seed."""
        figures = self.gap_by_seed()
        orgs = [label for label in self.labels() if not self._is_vs(label)]
        sticks = [label for label in self.labels() if self._is_vs(label)]
        return [paired(figures, a, b) for a in orgs for b in sticks]

    def _is_vs(self, label: str) -> bool:
        return any(r.vs for r in self.runs if r.label == label)

    def _paired_md(self) -> list[str]:
        pairs = self.comparisons()
        if not pairs:
            return []
        out = [
            "",
            "Paired by seed (the org's gap closed minus the yardstick's, on the same seeds):",
            "",
            "| org | vs | seeds | mean difference ± SEM | org ahead in |",
            "|---|---|---|---|---|",
        ]
        for p in pairs:
            diff = f"{_pct(p.mean)} ± {_pct(p.sem)}"
            out.append(f"| {p.a} | {p.b} | {len(p.seeds)} | {diff} | {p.wins} of {len(p.seeds)} |")
        return out


# ---- helpers


def _confirmed(s: RunSummary) -> bool:
    return s.confirmation is not None and s.confirmation.delta is not None


def _replicates(s: RunSummary) -> bool:
    return s.confirmation is not None and s.confirmation.replicates


def _mean(values: Iterable[float | None]) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def _f(value: float | None, digits: int = 6) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _labels(orgs: list[Path]) -> list[str]:
    """A folder-safe name per org, from its folder's name, made unique."""
    out: list[str] = []
    for org in orgs:
        root = org.parent if org.name in ("ORG.md", "program.md") else org
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-.") or "org"
        name, n = base, 2
        while name in out:
            name, n = f"{base}-{n}", n + 1
        out.append(name)
    return out


def copy_org(src: Path, dest: Path, out: Path) -> None:
    """Copy an org for one run: the built-in one is scaffolded, any other folder copied whole."""
    if src.name in ("ORG.md", "program.md"):
        src = src.parent
    if src.resolve() == builtin_org_dir().resolve():
        init_org(dest)
        return
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such org folder")
    skip = out.resolve()

    def ignore(folder: str, names: list[str]) -> list[str]:
        # Runs of the original stay behind; so does `out`, should it sit inside the org; and a
        # .git that is a file (a worktree's, a submodule's) would point the copy at the
        # original's repository, so the copy gets a fresh one instead.
        return [
            n
            for n in names
            if n == ".orgloop"
            or (Path(folder) / n).resolve() == skip
            or (n == ".git" and (Path(folder) / n).is_file())
        ]

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)


_FRONT = re.compile(r"---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(\r?\n|$)", re.DOTALL)
_TOP_BUDGET = re.compile(r"^budget[ \t]*:(?P<rest>[^\r\n]*)$", re.MULTILINE)
_EXPERIMENTS = re.compile(r"(?P<key>\bexperiments[ \t]*:[ \t]*)(?P<value>[^,}\s#]*)")


def set_experiment_budget(root: Path, experiments: int) -> None:
    """Set `budget.experiments` in `root/ORG.md`, editing that one value in the text so the
    file's comments, order and layout stay as they were. Raises ValueError when the frontmatter
    is not a shape this edit understands (the file is then left as it was)."""
    path = root / "ORG.md"
    if not path.is_file():
        raise ValueError(f"cannot set the experiment budget: {root} has no ORG.md")
    text = path.read_text(encoding="utf-8")
    m = _FRONT.match(text)
    before = yaml.safe_load(m.group(1) or "") if m else None
    if not m or not isinstance(before, dict):
        raise ValueError(f"cannot set the experiment budget: {path} has no YAML frontmatter")
    front = _with_experiments(m.group(1) or "", experiments)
    after = yaml.safe_load(front)
    budget: dict[str, Any] = before["budget"] if isinstance(before.get("budget"), dict) else {}
    want = {**before, "budget": {**budget, "experiments": experiments}}
    if after != want:
        raise ValueError(
            f"cannot set the experiment budget in {path}: write `budget: {{experiments: N}}` "
            "in its frontmatter and try again"
        )
    path.write_text(text[: m.start(1)] + front + text[m.end(1) :], encoding="utf-8")


def _with_experiments(front: str, n: int) -> str:
    """The frontmatter text with budget.experiments set to `n`, everything else as it was."""
    if front and not front.endswith("\n"):
        front += "\n"
    top = _TOP_BUDGET.search(front)
    if top is None:
        return front + f"budget: {{experiments: {n}}}\n"
    rest = top.group("rest")
    value, hash_, comment = rest.partition(" #")
    if value.strip().startswith("{"):  # budget: {experiments: 12, wall: 30m}
        if _EXPERIMENTS.search(value):
            value = _EXPERIMENTS.sub(lambda k: f"{k.group('key')}{n}", value, count=1)
        else:
            brace = value.index("{")
            sep = "" if value[brace + 1 :].strip().startswith("}") else ", "
            value = f"{value[: brace + 1]}experiments: {n}{sep}{value[brace + 1 :].lstrip()}"
        line = f"budget:{value}{hash_}{comment}"
        return front[: top.start()] + line + front[top.end() :]
    if value.strip():  # budget: null, or something else that is not a mapping
        return (
            front[: top.start()]
            + f"budget: {{experiments: {n}}}{hash_}{comment}"
            + front[top.end() :]
        )
    # a block mapping: its lines are the indented ones after `budget:`
    after = front[top.end() + 1 :]
    block = re.match(r"(?:[ \t]+[^\n]*\n|[ \t]*\n)*", after)
    body = block.group(0) if block else ""
    child = _EXPERIMENTS.search(body)
    if child and re.match(r"[ \t]+$", body[body.rfind("\n", 0, child.start()) + 1 : child.start()]):
        body = body[: child.start("value")] + str(n) + body[child.end("value") :]
    else:
        indent = re.match(r"[ \t]+", body)
        body = f"{indent.group(0) if indent else '  '}experiments: {n}\n" + body
    return front[: top.end() + 1] + body + after[len(block.group(0) if block else "") :]


def _default_executor(folders: list[Path], choice: ExecutorChoice | None = None) -> Executor:
    """As wide as the widest org's `parallel`, of the kind `choice` or the first org names."""
    experiments = []
    for folder in folders:
        try:
            experiments.append(load_org(folder).program.experiment)
        except Exception:  # that run fails on its own, with the reason, when it starts
            continue
    if not experiments:
        return LocalExecutor(1)
    widest = max(e.parallel for e in experiments)
    return make_executor(replace(experiments[0], parallel=widest), choice)


def _reason(e: BaseException) -> str:
    if isinstance(e, OrgError) and e.findings:
        more = f" (and {len(e.findings) - 1} more)" if len(e.findings) > 1 else ""
        return f"{e.findings[0]}{more}"
    if isinstance(e, OSError):
        return oserror_text(e)
    return f"{type(e).__name__}: {clip(str(e) or 'no message', 300)}"


def check_orgs(
    orgs: list[Path], *, strict: bool = False, budget_experiments: int | None = None
) -> list[Finding]:
    """Check every org where it is, before anything is copied: the warnings of them all, or
    OrgError with the errors of them all (findings name the user's files, not a copy's)."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    unreadable = False
    for org in dict.fromkeys(o.parent if o.name in ("ORG.md", "program.md") else o for o in orgs):
        try:
            warnings += preflight(org, strict=strict)
        except OrgError as e:
            errors += e.findings
            unreadable = unreadable or e.unreadable
            continue
        builtin = org.resolve() == builtin_org_dir().resolve()
        if budget_experiments is not None and not builtin and not (org / "ORG.md").is_file():
            raise BatchError(
                f"--experiments sets budget.experiments in ORG.md, and {org} has none (an "
                "autoresearch folder runs with the default budget); leave --experiments out"
            )
    if errors:
        raise OrgError(errors, unreadable=unreadable)
    return warnings


# ---- running


def _start(
    o: RunOutcome, brain_factory: Callable[[], Brain], executor: Executor, progress: Progress
) -> Engine | None:
    """Start one run, in the loop's own thread before any engine runs: starting parses the org
    with `ast`, and CPython 3.11's parser fails ("AST constructor recursion depth mismatch") when
    two threads parse at once."""
    try:
        brain = OfflineBrain() if o.vs else brain_factory()  # a yardstick needs no model
        engine = Engine.start(o.folder, brain=brain, executor=executor, seed=o.seed)
    except Exception as e:
        o.error = f"did not start: {_reason(e)}"
        progress(f"{o.label} seed {o.seed}: failed ({o.error})")
        return None
    o.run_dir = engine.run_dir
    return engine


async def _run_one(o: RunOutcome, engine: Engine | None, progress: Progress) -> None:
    if engine is None:
        return
    try:
        paused = await _run_headless(engine)
        if paused:
            o.error = f"paused: {clip(paused, 300)} (resume with `orgloop resume {o.run_dir}`)"
    except Exception as e:
        o.error = _reason(e)
    try:
        o.summary = write_report(engine.run_dir).summary
    except (ReportError, OSError, ValueError) as e:
        o.error = o.error or f"no report: {_reason(e)}"
    s = o.summary
    status = f"failed ({o.error})" if o.error else "done"
    best = f", best {s.metric.name} {_f(s.best)}, {len(s.kept)} kept" if s else ""
    progress(f"{o.label} seed {o.seed}: {status}{best}")


async def _run_headless(engine: Engine) -> str:
    """Run the engine to its end: '' when it finished, else why it stopped short.

    A brain that fails pauses its run, and the engine then returns with the run unfinished and
    resumable (`orgloop resume`); headless, nobody will resume it now, so it counts as failed."""
    reasons: list[str] = []
    engine.listeners.append(
        lambda ev: reasons.append(str(ev.data.get("reason", ""))) if ev.kind == "paused" else None
    )
    state = await engine.run()
    if state.finished:
        return ""
    return reasons[-1] if reasons else "the engine stopped before the run finished"


def _prepare(o: RunOutcome, out: Path, budget_experiments: int | None) -> None:
    try:
        copy_org(o.org, o.folder, out)
    except Exception as e:
        o.error = f"could not copy the org: {_reason(e)}"
        return
    try:  # the org's own findings (file:line) say more than a failed budget edit would
        load_org(o.folder)
        if budget_experiments is not None:
            set_experiment_budget(o.folder, budget_experiments)
    except Exception as e:
        o.error = f"org does not load: {_reason(e)}"
        return
    if o.vs:
        try:
            make_yardstick(o.folder, o.vs)
        except Exception as e:
            o.error = f"could not make the {o.vs} yardstick: {_reason(e)}"


async def arun_batch(
    orgs: list[Path],
    seeds: list[int],
    *,
    out: Path,
    brain_factory: Callable[[], Brain],
    budget_experiments: int | None = None,
    executor: Executor | ExecutorChoice | None = None,
    progress: Progress | None = None,
    strict: bool = False,
    vs: tuple[str, ...] = (),
) -> BatchResult:
    """`run_batch` inside a running event loop."""
    if not seeds:
        raise BatchError("no seeds: give at least one")
    unknown = [v for v in vs if v not in KINDS]
    if unknown:
        raise BatchError(f"no yardstick {unknown[0]!r}: --vs takes {' or '.join(KINDS)}")
    if budget_experiments is not None and budget_experiments < 1:
        raise BatchError("the experiment budget must be at least 1")
    orgs = [Path(o) for o in orgs] or [builtin_org_dir()]
    say = progress or (lambda line: None)
    for f in check_orgs(orgs, strict=strict, budget_experiments=budget_experiments):
        say(str(replace(f, path=display_path(f.path))))
    out = Path(out).absolute()
    labels = _labels(orgs)
    runs = [
        RunOutcome(label, org, seed, out / f"{label}-seed{seed}")
        for org, label in zip(orgs, labels, strict=True)
        for seed in seeds
    ]
    for kind in dict.fromkeys(vs):  # over the first org's task: the orgs compared share one
        name = kind if kind not in labels else f"{kind}-yardstick"
        runs += [RunOutcome(name, orgs[0], s, out / f"{name}-seed{s}", vs=kind) for s in seeds]
    taken = [str(r.folder) for r in runs if r.folder.exists()]
    if taken:
        raise BatchError(f"{out} already holds runs of this batch ({taken[0]}); choose a new out")
    if executor is None or isinstance(executor, ExecutorChoice):  # before anything is made
        executor = _default_executor(orgs, executor)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for o in runs:
        await asyncio.to_thread(_prepare, o, out, budget_experiments)
        if o.error:
            say(f"{o.label} seed {o.seed}: failed ({o.error})")
    live = [o for o in runs if not o.error]
    shared = SharedSlots(executor)
    engines = [_start(o, brain_factory, shared, say) for o in live]
    done = await asyncio.gather(
        *(_run_one(o, e, say) for o, e in zip(live, engines, strict=True)), return_exceptions=True
    )
    for o, outcome in zip(live, done, strict=True):
        if isinstance(outcome, Exception) and not o.error:  # a bug here must not sink the rest
            o.error = _reason(outcome)
    result = BatchResult(out, runs, time.monotonic() - started)
    result.paths = _write_tables(result)
    return result


def run_batch(
    orgs: list[Path],
    seeds: list[int],
    *,
    out: Path,
    brain_factory: Callable[[], Brain],
    budget_experiments: int | None = None,
    executor: Executor | ExecutorChoice | None = None,
    progress: Progress | None = None,
    strict: bool = False,
    vs: tuple[str, ...] = (),
) -> BatchResult:
    """Run every org (none: the built-in one) once per seed, concurrently, sharing `executor`'s
    slots (default: the first org's `experiment.executor`, or the one an `ExecutorChoice` names,
    as wide as the widest org's `parallel`); write batch.md,
    batch.csv and runs.csv into `out`. Raises OrgError (an org cannot run; with `strict`, one
    has warnings) or BatchError (bad arguments) before anything is made; nothing else."""
    return asyncio.run(
        arun_batch(
            orgs,
            seeds,
            out=out,
            brain_factory=brain_factory,
            budget_experiments=budget_experiments,
            executor=executor,
            progress=progress,
            strict=strict,
            vs=vs,
        )
    )


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return round(value, 6) if isinstance(value, float) else value


def _write_tables(result: BatchResult) -> list[Path]:
    files = {
        "batch.md": "# Batch\n\n" + result.format_table(),
        "batch.csv": _csv(result.org_rows()),
        "runs.csv": _csv(result.run_rows()),
    }
    paths = []
    for name, text in files.items():
        path = result.out / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    arms: dict[str, dict[int, RunSummary]] = {}
    for r in result.runs:
        if r.ok and r.summary is not None:
            arms.setdefault(r.label, {})[r.seed] = r.summary
    if arms:
        metric = next(iter(next(iter(arms.values())).values())).metric
        png = result.out / "batch.png"
        tmp = png.with_name(".batch.png.tmp")
        draw_batch(arms, metric, tmp, title=f"{metric.name}: every arm, the same seeds and budget")
        tmp.replace(png)
        paths.append(png)
    return paths


__all__ = [
    "BatchError",
    "BatchResult",
    "RunOutcome",
    "SharedSlots",
    "arun_batch",
    "check_orgs",
    "copy_org",
    "run_batch",
    "sem",
    "set_experiment_budget",
]
