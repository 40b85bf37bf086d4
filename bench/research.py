"""Does the org rewriting itself help? The tinylm task, offline, over several seeds.

Three arms at the same experiment budget (one baseline run plus N candidate experiments each):

1. org + meta: the built-in org (`orgloop init`), OfflineBrain, with its meta role.
2. org, no meta: the same org with roles/meta.md removed.
3. random search: a plain loop that samples every knob of the engineer's `space` at random,
   writes train.py, runs `python train.py` and `python prepare.py --evaluate model.npz`.

For each arm it prints the mean ± SEM (over seeds) of the best val_bpb and of the share of the gap
between the baseline and the entropy bound that was closed. Training is budgeted in multiply-adds,
not seconds, so the figures do not depend on how busy the machine is; only the wall time does.

Knobs (environment): TINYLM_BUDGET (compute scale, default 0.2), BENCH_EXPERIMENTS (default 8),
BENCH_SEEDS (default 5), BENCH_META_EVERY (default: the built-in org's), BENCH_JOBS (parallel
runs, default 2).

Run: python bench/research.py
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from orgloop.org import builtin_org_dir, load_org
from orgloop.runtime.brains.offline import OfflineBrain, _format
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.scaffold import init_org

BUDGET = os.environ.setdefault("TINYLM_BUDGET", "0.2")
EXPERIMENTS = int(os.environ.get("BENCH_EXPERIMENTS", "8"))
SEEDS = int(os.environ.get("BENCH_SEEDS", "5"))
META_EVERY = os.environ.get("BENCH_META_EVERY", "")
JOBS = int(os.environ.get("BENCH_JOBS", "2"))
ARMS = ("org + meta", "org, no meta", "random search")


def set_frontmatter(path: Path, **changes: Any) -> None:
    text = path.read_text()
    _, fm, body = text.split("---\n", 2)
    data = yaml.safe_load(fm)
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)


def org_arm(root: Path, seed: int, meta: bool) -> dict[str, Any]:
    init_org(root)
    set_frontmatter(
        root / "ORG.md",
        budget={"experiments": EXPERIMENTS, "wall": "3h"},
        experiment={"baseline_runs": 1, "env": ["TINYLM_BUDGET"], "timeout": "20m"},
        **({"meta": {"every": int(META_EVERY)}} if META_EVERY else {}),
    )
    if not meta:
        (root / "roles" / "meta.md").unlink()
    Git(root).commit_all("bench settings")
    engine = Engine.start(root, brain=OfflineBrain(), seed=seed, durable=False)
    state = asyncio.run(engine.run())
    s = engine.summary()
    edits = [e for e in state.org_edits if e.get("author") == "meta"]
    return {
        "best": s["best"],
        "baseline": s["baseline"],
        "edits": len(edits),
        "reverted": sum(1 for e in edits if e["reverted"]),
    }


def sample(spec: dict[str, Any], rng: random.Random) -> Any:
    if "choice" in spec:
        return rng.choice(spec["choice"])
    if "log" in spec:
        lo, hi = (math.log(float(x)) for x in spec["log"])
        return float(f"{math.exp(rng.uniform(lo, hi)):.3g}")
    if "range" in spec:
        return float(f"{rng.uniform(*map(float, spec['range'])):.3g}")
    lo, hi = spec["int"]
    return rng.randint(int(lo), int(hi))


def evaluate(folder: Path, source: str) -> float | None:
    (folder / "train.py").write_text(source)
    env = {**os.environ, "TINYLM_BUDGET": BUDGET}
    for args in (["train.py"], ["prepare.py", "--evaluate", "model.npz"]):
        proc = subprocess.run(
            [sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            return None
    m = re.search(r"^val_bpb:\s*([0-9.]+)\s*$", proc.stdout, re.MULTILINE)
    return float(m.group(1)) if m else None


def random_arm(root: Path, seed: int) -> dict[str, Any]:
    root.mkdir(parents=True)
    for name in ("train.py", "prepare.py"):
        shutil.copyfile(builtin_org_dir() / name, root / name)
    space = load_org(_default_org(root.parent / "space")).roles["engineer"].policy.data["space"]
    rng = random.Random(seed)
    template = (root / "train.py").read_text()
    baseline = evaluate(root, template)
    results = []
    for _ in range(EXPERIMENTS):
        source = template
        for knob, spec in space.items():
            value = _format(sample(spec, rng))
            source = re.sub(rf"^{knob} = .+$", f"{knob} = {value}", source, flags=re.MULTILINE)
        results.append(evaluate(root, source))
    ok = [r for r in results if r is not None]
    return {"best": min([baseline, *ok]) if baseline else None, "baseline": baseline}


def _default_org(path: Path) -> Path:
    if not path.exists():
        init_org(path)
    return path


def job(arm: str, seed: int) -> tuple[str, int, dict[str, Any], float]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orgloop-bench-") as tmp:
        root = Path(tmp) / "org"
        if arm == "random search":
            out = random_arm(root, seed)
        else:
            out = org_arm(root, seed, meta=arm == "org + meta")
    return arm, seed, out, time.perf_counter() - start


def mean_sem(values: list[float]) -> str:
    if not values:
        return "n/a"
    sem = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {sem:.4f}"


def main() -> None:
    bound = float(load_org(_default_org(Path(tempfile.mkdtemp()) / "o")).program.metric.bound or 0)
    start = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {a: [] for a in ARMS}
    with ProcessPoolExecutor(JOBS) as pool:
        futures = [pool.submit(job, arm, seed) for seed in range(SEEDS) for arm in ARMS]
        for f in futures:
            arm, seed, out, seconds = f.result()
            results[arm].append(out)
            print(f"  {arm:<14} seed {seed}: best {out['best']}  ({seconds:.0f} s)", flush=True)
    wall = time.perf_counter() - start
    print(
        f"\ntinylm, TINYLM_BUDGET={BUDGET}, {EXPERIMENTS} experiments + 1 baseline per run, "
        f"{SEEDS} seeds, entropy bound {bound}"
    )
    print(f"{'arm':<15}{'best val_bpb':>22}{'gap closed':>22}   meta edits (reverted)")
    for arm in ARMS:
        rows = [r for r in results[arm] if r["best"] is not None and r["baseline"]]
        best = [r["best"] for r in rows]
        closed = [(r["baseline"] - r["best"]) / (r["baseline"] - bound) for r in rows]
        edits = (
            f"{statistics.fmean(r['edits'] for r in rows):.1f} "
            f"({statistics.fmean(r['reverted'] for r in rows):.1f})"
            if rows and "edits" in rows[0]
            else "-"
        )
        print(f"{arm:<15}{mean_sem(best):>22}{mean_sem(closed):>22}   {edits}")
    print(f"\nwall time {wall / 60:.1f} min with {JOBS} parallel runs")


if __name__ == "__main__":
    main()
