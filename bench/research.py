"""Are the org's wins real and hard to beat? The tinylm task, offline, four arms at one budget.

Every arm runs through `orgloop batch` on the same sandbox (LocalExecutor), task, budget and
seeds — three baseline runs, BENCH_EXPERIMENTS candidates (default 20), then the confirmation
reruns every run makes before it ends (the best and the baseline on three fresh seeds):

1. org + meta: the built-in org (`orgloop init`: multivariate TPE engineer, paired meta trials);
2. org, no meta: the same org with roles/meta.md removed;
3. TPE: `--vs tpe`, Optuna's TPE sampler alone over the engineer's space;
4. random: `--vs random`, Optuna's random sampler over it.

It prints, per seed and as mean ± SEM over seeds, the share of the gap between the baseline and
the entropy bound closed as confirmed on fresh seeds (and as the search measured it), the paired
differences between arms, the goals, and the share of kept wins that replicate: every keep of
every run is rerun beside the incumbent it beat, on the same three fresh seeds, and counts as
replicated when its mean paired gain exceeds one standard error.

Training is budgeted in multiply-adds, so the figures do not depend on how busy the machine is;
only the wall time does. Knobs (environment): TINYLM_BUDGET (default 0.2), BENCH_EXPERIMENTS,
BENCH_SEEDS (default 5), BENCH_SLOTS (experiments at once, default 2).

Run: nice python bench/research.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from orgloop.org import load_org
from orgloop.runtime.batch import BatchResult, RunOutcome, SharedSlots, arun_batch
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.confirm import sem
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors import ExperimentSpec, LocalExecutor
from orgloop.runtime.scaffold import init_org

BUDGET = os.environ.setdefault("TINYLM_BUDGET", "0.2")
EXPERIMENTS = int(os.environ.get("BENCH_EXPERIMENTS", "20"))
SEEDS = int(os.environ.get("BENCH_SEEDS", "5"))
SLOTS = int(os.environ.get("BENCH_SLOTS", "2"))
ARMS = {"org-meta": "org + meta", "org-no-meta": "org, no meta", "tpe": "TPE", "random": "random"}


def set_frontmatter(path: Path, **changes: Any) -> None:
    text = path.read_text()
    _, fm, body = text.split("---\n", 2)
    data = yaml.safe_load(fm)
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)


def make_org(root: Path, meta: bool) -> Path:
    init_org(root)
    set_frontmatter(
        root / "ORG.md",
        budget={"experiments": EXPERIMENTS, "wall": "3h"},
        experiment={"env": ["TINYLM_BUDGET"], "timeout": "20m"},
    )
    if not meta:
        (root / "roles" / "meta.md").unlink()
    Git(root).commit_all("bench settings")
    return root


def mean_sem(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.fmean(values):.3f} ± {sem_of(values):.3f}"


def sem_of(values: list[float]) -> float:
    return sem(values) or 0.0


# ---- kept wins, rerun on fresh seeds
async def replications(
    runs: list[RunOutcome], executor: LocalExecutor, work: Path
) -> list[tuple[str, int, str, bool, float, float]]:
    """(arm, seed, experiment, replicates, mean gain, sem) for every keep of every run."""
    cache: dict[tuple[str, str, int], asyncio.Task[float | None]] = {}
    counter = 0

    async def measure(r: RunOutcome, commit: str, seed: int) -> float | None:
        nonlocal counter
        s = r.summary
        assert s is not None
        for e in s.state.experiments.values():  # the confirmation reruns measured these already
            msg = s.state.messages.get(e.message)
            same = msg is not None and (msg.data.get("seed"), msg.data.get("base")) == (
                seed,
                commit,
            )
            if e.confirm and same and e.status == "ok":
                return e.metric
        counter += 1
        org = load_org(r.folder)
        p = org.program
        spec = ExperimentSpec(
            id=f"r{counter}",
            repo=r.folder,
            base=commit,
            files={},
            command=p.experiment.command,
            metric=p.metric,
            timeout=p.experiment.timeout,
            workdir=work / f"r{counter}",
            evaluate=p.experiment.evaluate,
            protected=p.experiment.protected,
            limits=org.sandbox_roles()[0].limits,
            env=p.experiment.env,
            seed=seed,
        )
        result = await executor.run(spec, counter % executor.slots)
        return result.metric if result.status == "ok" else None

    def metric_at(r: RunOutcome, commit: str, seed: int) -> asyncio.Task[float | None]:
        key = (str(r.folder), commit, seed)
        if key not in cache:
            cache[key] = asyncio.ensure_future(measure(r, commit, seed))
        return cache[key]

    slots = asyncio.Semaphore(executor.slots)

    async def one(r: RunOutcome, exp: str, commit: str, before: str, seeds: list[int]) -> Any:
        async with slots:
            pairs = [(await metric_at(r, commit, s), await metric_at(r, before, s)) for s in seeds]
        gains = [b - a for a, b in pairs if a is not None and b is not None]  # val_bpb: lower wins
        mean = statistics.fmean(gains) if gains else float("nan")
        sem = sem_of(gains)
        ok = len(gains) >= 2 and mean > sem
        return (r.label, r.seed, exp, ok, mean, sem)

    jobs = []
    for r in runs:
        s = r.summary
        if s is None or s.confirmation is None:
            continue
        seeds = list(s.confirmation.seeds)
        before = str(s.state.config["base"])
        for e in s.kept:
            jobs.append(one(r, e.id, e.branch_commit, before, seeds))
            before = e.branch_commit
    return list(await asyncio.gather(*jobs))


async def bench(tmp: Path) -> tuple[BatchResult, BatchResult, list[Any], float]:
    start = time.perf_counter()
    meta = make_org(tmp / "org-meta", meta=True)
    no_meta = make_org(tmp / "org-no-meta", meta=False)
    executor = LocalExecutor(SLOTS)
    shared = SharedSlots(executor)  # one pool of slots for both batches
    seeds = list(range(SEEDS))

    def say(line: str) -> None:
        print(f"  {line}", flush=True)

    # two batches side by side: the org with its yardsticks, and the org without meta
    first, second = await asyncio.gather(
        arun_batch([meta], seeds, out=tmp / "a", brain_factory=OfflineBrain,
                   executor=shared, progress=say, vs=("tpe", "random")),
        arun_batch([no_meta], seeds, out=tmp / "b", brain_factory=OfflineBrain,
                   executor=shared, progress=say),
    )  # fmt: skip
    runs = [r for r in first.runs + second.runs if r.ok]
    reps = await replications(runs, executor, tmp / "reruns")
    return first, second, reps, time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="orgloop-research-") as folder:
        tmp = Path(folder)
        first, second, reps, wall = asyncio.run(bench(tmp))
        report(first, second, reps, wall, tmp)


def report(
    first: BatchResult, second: BatchResult, reps: list[Any], wall: float, tmp: Path
) -> None:
    runs = first.runs + second.runs
    bound = next(r.summary.metric.bound for r in runs if r.summary is not None)
    gaps: dict[str, dict[int, float]] = {}
    search: dict[str, dict[int, float]] = {}
    print(
        f"\ntinylm, TINYLM_BUDGET={BUDGET}, {EXPERIMENTS} experiments + 3 baseline runs + "
        f"confirmation (best and baseline on 3 fresh seeds) per run, seeds 0-{SEEDS - 1}, "
        f"entropy bound {bound}"
    )
    print("\nper seed: gap closed confirmed (as the search measured it); kept; confirmed Δ ± SEM")
    for label, name in ARMS.items():
        for r in sorted((r for r in runs if r.label == label), key=lambda r: r.seed):
            s = r.summary
            if s is None or not r.ok:
                print(f"  {name:<13} seed {r.seed}: failed: {r.error}")
                continue
            c = s.confirmation
            gap = s.gap_closed if s.gap_closed is not None else 0.0
            gaps.setdefault(label, {})[r.seed] = gap
            search.setdefault(label, {})[r.seed] = s.gap_closed_search or 0.0
            line = c.line() if c is not None else "nothing kept: no win to confirm"
            print(
                f"  {name:<13} seed {r.seed}: {gap:.3f} ({s.gap_closed_search or 0.0:.3f}); "
                f"{len(s.kept)} kept; {line}"
            )
    print("\nmean ± SEM over seeds: gap closed, confirmed (search)")
    for label, name in ARMS.items():
        g = list(gaps.get(label, {}).values())
        print(
            f"  {name:<13} {mean_sem(g):>15}   ({mean_sem(list(search.get(label, {}).values()))})"
        )

    def diff(a: str, b: str) -> tuple[float, float, int]:
        seeds = sorted(set(gaps.get(a, {})) & set(gaps.get(b, {})))
        d = [gaps[a][s] - gaps[b][s] for s in seeds]
        return (statistics.fmean(d) if d else float("nan")), sem_of(d), len(d)

    print("\npaired by seed (confirmed gap closed, first minus second):")
    for a, b in (("org-meta", "tpe"), ("org-meta", "random"), ("org-meta", "org-no-meta"),
                 ("tpe", "random")):  # fmt: skip
        m, e, n = diff(a, b)
        print(f"  {ARMS[a]} - {ARMS[b]}: {m:+.3f} ± {e:.3f} over {n} seeds")
    org = list(gaps.get("org-meta", {}).values())
    mean_org = statistics.fmean(org) if org else float("nan")
    vs_tpe, _, _ = diff("org-meta", "tpe")
    vs_random, sem_random, _ = diff("org-meta", "random")
    replicated = [x for x in reps if x[3]]
    org_reps = [x for x in reps if x[0] in ("org-meta", "org-no-meta")]
    print("\ngoals:")
    print(f"  org + meta at or above TPE: {'met' if vs_tpe >= 0 else 'NOT met'} ({vs_tpe:+.3f})")
    above = "met" if vs_random > sem_random else "NOT met"
    print(
        f"  org + meta above random by more than one SEM: {above} "
        f"({vs_random:+.3f} vs SEM {sem_random:.3f})"
    )
    half = "met" if mean_org >= 0.5 else "NOT met"
    print(f"  at least 0.50 of the gap closed: {half} ({mean_org:.3f})")
    share = len(replicated) / len(reps) if reps else float("nan")
    org_share = sum(1 for x in org_reps if x[3]) / len(org_reps) if org_reps else float("nan")
    print(
        f"  kept wins that replicate on fresh seeds, all arms: {len(replicated)} of {len(reps)} "
        f"= {share:.2f}; the org's: {org_share:.2f} (goal 0.90): "
        f"{'met' if share >= 0.9 else 'NOT met'}"
    )
    print("\nkept wins, rerun beside the incumbent they beat (arm, seed, experiment, gain ± SEM):")
    for arm, seed, exp, ok, mean, spread in reps:
        print(f"  {ARMS.get(arm, arm):<13} seed {seed} {exp:<4} {mean:+.4f} ± {spread:.4f} "
              f"{'replicates' if ok else 'does not replicate'}")  # fmt: skip
    edits = [
        e
        for r in runs
        if r.label == "org-meta" and r.summary is not None
        for e in r.summary.state.org_edits
        if e.get("author") == "meta"
    ]
    kept = sum(1 for e in edits if (e.get("trial") or {}).get("verdict") == "kept")
    reverted = sum(1 for e in edits if (e.get("trial") or {}).get("verdict") == "reverted")
    print(
        f"\nmeta edits over {SEEDS} seeds: {len(edits)} ({kept} kept and {reverted} reverted "
        f"by their trials, {len(edits) - kept - reverted} untried)"
    )
    print(f"wall time {wall / 60:.1f} min, {SLOTS} experiment slots per batch")
    del tmp


if __name__ == "__main__":
    main()
