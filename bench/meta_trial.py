"""Does the paired trial keep what helps and only what helps? A helpful edit and a no-op edit,
each tried in many seeded runs of the built-in org.

Every run is the built-in org (TPE engineer) on a toy task: the InstantExecutor scores train.py's
knobs with `_orgs.toy_score` (an optimum every knob can move toward) plus seeded noise (sd
BENCH_NOISE, default 0.05) drawn per experiment. The meta role makes exactly one edit, at its first
window, and nothing after:

- helpful: the engineer's space narrowed to the region where the toy's wins are;
- no-op: one line of prose added to the engineer's role file (both arms then search alike).

The trial (meta.trial experiments per arm) keeps or reverts the edit. It prints each seed's
verdict, and for each edit the share kept with a 95% Wilson interval; the goals are "helpful kept
in most seeds" and "no-op kept no more often than chance" (1/2, what a coin would give).

Knobs (environment): BENCH_SEEDS (default 20), BENCH_EXPERIMENTS (default 16), BENCH_NOISE.
Run: python bench/meta_trial.py (about a minute per 10 seeds on 2 cores).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtime"))

from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors import ExperimentResult, ExperimentSpec
from orgloop.runtime.scaffold import init_org
from orgloop.runtime.testing import InstantExecutor

from _orgs import set_frontmatter, toy_score

SEEDS = int(os.environ.get("BENCH_SEEDS", "20"))
EXPERIMENTS = int(os.environ.get("BENCH_EXPERIMENTS", "16"))
NOISE = float(os.environ.get("BENCH_NOISE", "0.05"))
ENGINEER = "roles/engineer.md"
HELPFUL = """space:
  LR: {log: [0.005, 0.02]}
  HIDDEN: {choice: [256, 384, 512]}
  CONTEXT: {choice: [6, 8, 10]}
  EMBED: {choice: [8, 16, 24, 32]}
  BATCH: {choice: [32, 64]}
  ACT: {choice: [gelu, relu]}
  INIT_SCALE: {log: [0.3, 0.8]}
"""


def helpful(text: str) -> str:
    start = text.index("space:\n")
    end = text.index("```", start)
    return text[:start] + HELPFUL + text[end:]


def no_op(text: str) -> str:
    return text.replace("## Rules\n", "## Rules\n- Write the change down plainly.\n", 1)


class Noisy(InstantExecutor):
    """The toy score plus noise drawn from the run's seed and the experiment's files and seed."""

    def __init__(self, run_seed: int) -> None:
        super().__init__(toy_score)
        self.run_seed = run_seed

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        result = await super().run(spec, slot)
        key = f"{self.run_seed}:{spec.seed}:{spec.id}:{sorted(spec.files.items())}"
        noise = random.Random(zlib.crc32(key.encode())).gauss(0.0, NOISE)
        metric = (result.metric or 9.0) + noise
        return ExperimentResult("ok", metric, commit=result.commit, diff=result.diff)


class OneEdit(OfflineBrain):
    """The offline org, whose meta role makes `edit` once, at its first window."""

    def __init__(self, edit: str) -> None:
        self.edit = helpful if edit == "helpful" else no_op

    async def turn(self, ctx: TurnContext) -> None:
        if ctx.role.name != "meta":
            return await super().turn(ctx)
        if not ctx.state.org_edits:
            text = ctx.call("read_file", path=ENGINEER).value
            ctx.call("edit_file", path=ENGINEER, content=self.edit(text), rationale="bench")


def one_run(edit: str, seed: int, folder: Path) -> str:
    root = init_org(folder)
    set_frontmatter(
        root / "ORG.md",
        budget={"experiments": EXPERIMENTS, "wall": "1h"},
        experiment={"baseline_runs": 2, "confirm": 0},
        meta={"every": 4, "trial": 4},
    )
    Git(root).commit_all("bench settings")
    engine = Engine.start(root, brain=OneEdit(edit), executor=Noisy(seed), seed=seed, durable=False)
    asyncio.run(engine.run())
    trials = [e for e in read_events(engine.run_dir / "events.jsonl") if e.kind == "org_trial"]
    if not trials:
        return "untried"
    d = trials[0].data
    return f"{d['verdict']} (gain {d['gain']:+.4f}, margin {d['margin']:.4f}, {d['pairs']} pairs)"


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z, p = 1.96, k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def main() -> None:
    kept: dict[str, int] = {}
    tried: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="orgloop-meta-trial-") as tmp:
        for edit in ("helpful", "no-op"):
            for seed in range(SEEDS):
                verdict = one_run(edit, seed, Path(tmp) / f"{edit}-{seed}")
                print(f"  {edit:<8} seed {seed:>2}: {verdict}", flush=True)
                tried[edit] = tried.get(edit, 0) + (verdict != "untried")
                kept[edit] = kept.get(edit, 0) + verdict.startswith("kept")
    print(
        f"\ntoy task, noise sd {NOISE}, {EXPERIMENTS} experiments, meta.trial 4 per arm, "
        f"{SEEDS} seeds per edit"
    )
    for edit, goal in (("helpful", "goal: most seeds"), ("no-op", "goal: at most chance, 0.50")):
        k, n = kept.get(edit, 0), tried.get(edit, 0)
        lo, hi = wilson(k, n)
        share = k / n if n else float("nan")
        print(f"  {edit:<8} kept {k} of {n} trials: {share:.2f} (95% CI {lo:.2f}-{hi:.2f}); {goal}")


if __name__ == "__main__":
    main()
