"""What running experiments on a Ray cluster costs, against the local executor, in one run.

A real local Ray cluster of two nodes (`ray.cluster_utils.Cluster`, two CPUs each: four slots),
or the cluster at `--address`; simulated experiments whose train.py sleeps T seconds and prints a
metric, made, shipped and judged exactly as the engine's are (`ExperimentSpec` -> `executor.run`:
the commit made from git objects, the snapshot shipped through the object store, materialized on
a node, run in the sandbox, the logs brought back).

- Overhead per experiment: one slot, experiments one after another; the wall time of each
  `executor.run` minus T. For the local executor that is the commit, the private tree and the
  sandbox's start; the Ray executor adds shipping the files, placing the task, materializing on
  the node and returning the result. Goal: the Ray executor's under 1 s.
- Slot duty cycle: four slots kept full (a new experiment the moment a slot is given back, as the
  engine does when the roles have work queued), `--waves` experiments per slot; duty =
  experiment-seconds (T each) / (slots x the wall time from the first start to the last result).
  Goal: at least 0.95 with 4 slots on 2 nodes.

- The same duty cycle through the engine: an org with the default roles (the offline brain,
  every agent role `replicas: auto`, `parallel: 4`, `--waves` x 4 candidates and one baseline),
  busy = slot-seconds held / (4 x the window from the first candidate's start to the last
  experiment's end), from the run's events. Here the roles must have the next experiment ready
  when a slot frees (the engine's run-ahead; bench/duty_cycle.py studies that part with the
  local executor over think/train ratios).

Run: python bench/cluster.py [--train 10] [--runs 5] [--waves 3] [--address HOST:PORT]
                             [--no-engine]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

from orgloop.org import Metric, default_roles_dir
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors import Executor, ExperimentSpec, LocalExecutor
from orgloop.runtime.executors.ray import RayExecutor

SLOTS = 4
TRAIN = """import time
VALUE = {value}
time.sleep({train})
print("---")
print(f"val_bpb: {{VALUE}}")
"""


def make_repo(root: Path, train: float) -> str:
    root.mkdir(parents=True)
    (root / "train.py").write_text(TRAIN.format(value=1.0, train=train))
    (root / "prepare.py").write_text("# protected\n")
    git = Git(root)
    git.init()
    return git.commit_all("base")


def spec(root: Path, base: str, train: float, n: int, tag: str) -> ExperimentSpec:
    exp = f"{tag}{n}"
    return ExperimentSpec(
        id=exp,
        repo=root,
        base=base,
        files={"train.py": TRAIN.format(value=1.0 + n / 1000, train=train)},
        command="python train.py",
        metric=Metric("val_bpb", "minimize"),
        timeout=train + 60,
        workdir=root.parent / "runs" / exp,
        protected=("prepare.py",),
        commit_date="1700000000 +0000",
        ref=f"refs/orgloop/bench/{exp}",
    )


async def overhead(
    executor: Executor, root: Path, base: str, train: float, runs: int, tag: str
) -> list[float]:
    out = []
    for n in range(runs):
        started = time.monotonic()
        result = await executor.run(spec(root, base, train, n, tag), 0)
        assert result.status == "ok", result.reason
        out.append(time.monotonic() - started - train)
    return out


async def duty(
    executor: Executor, root: Path, base: str, train: float, waves: int, tag: str
) -> tuple[float, float, set[str]]:
    todo = list(range(SLOTS * waves))
    spans: list[tuple[float, float]] = []
    hardware: set[str] = set()

    async def slot(i: int) -> None:
        while todo:
            n = todo.pop(0)
            started = time.monotonic()
            result = await executor.run(spec(root, base, train, n, tag), i)
            assert result.status == "ok", result.reason
            spans.append((started, time.monotonic()))
            hardware.add(result.hardware.rpartition("node ")[2] or result.hardware)

    await asyncio.gather(*(slot(i) for i in range(SLOTS)))
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    return SLOTS * waves * train / (SLOTS * wall), wall, hardware


def measure(name: str, executor: Executor, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    root = work / name / "org"
    base = make_repo(root, args.train)
    # Every slot's worker started (and orgloop imported in it) before anything is timed: a
    # long-lived cluster pays that once, not per experiment.
    asyncio.run(duty(executor, root, base, 0.5, 2, f"w{name}"))
    over = asyncio.run(overhead(executor, root, base, args.train, args.runs, f"o{name}"))
    busy, wall, nodes = asyncio.run(duty(executor, root, base, args.train, args.waves, f"d{name}"))
    return {"over": over, "duty": busy, "wall": wall, "nodes": nodes}


def make_org(root: Path, train: float, experiments: int) -> Path:
    root.mkdir(parents=True)
    (root / "roles").mkdir()
    for role in default_roles_dir().glob("*.md"):
        text = role.read_text()
        if role.name not in ("trainer.md", "meta.md"):
            text = text.replace("model: inherit\n", "model: inherit\nreplicas: auto\n", 1)
        (root / "roles" / role.name).write_text(text)
    (root / "ORG.md").write_text(
        "---\nname: cluster\nentry: pi\nmetric: {name: val_bpb, goal: minimize}\n"
        "experiment: {command: python train.py, timeout: 60s, editable: [train.py],"
        f" protected: [prepare.py], parallel: {SLOTS}, baseline_runs: 1, confirm: 0}}\n"
        f"budget: {{experiments: {experiments}}}\nmeta: {{every: 1000}}\n---\n"
        "# Objective\nLower val_bpb.\n"
    )
    (root / "prepare.py").write_text("# protected\n")
    knobs = "LR = 0.003\nHIDDEN = 128\nCONTEXT = 4\nEMBED = 16\nBATCH = 128\n"
    score = "2 + abs(LR - 0.01) + abs(HIDDEN - 256) / 1000 + abs(CONTEXT - 8) / 10"
    (root / "train.py").write_text(
        f"import time\n{knobs}time.sleep({train})\nprint('---')\n"
        f"print(f'val_bpb: {{{score}:.6f}}')\n"
    )
    git = Git(root)
    git.init()
    git.commit_all("cluster bench org")
    return root


def engine_duty(executor: Executor, root: Path) -> tuple[float, int]:
    engine = Engine.start(root, brain=OfflineBrain(), executor=executor)
    asyncio.run(engine.run())
    started: dict[str, tuple[float, bool]] = {}
    spans = []
    for ev in read_events(engine.run_dir / "events.jsonl"):
        if ev.kind == "experiment_started":
            started[ev.data["id"]] = (ev.t, not ev.data.get("baseline"))
        elif ev.kind == "experiment_finished":
            s, candidate = started[ev.data["id"]]
            spans.append((s, ev.t, candidate))
    start = min(s for s, _, candidate in spans if candidate)
    end = max(e for _, e, _ in spans)
    held = sum(max(0.0, min(e, end) - max(s, start)) for s, e, _ in spans)
    return held / (SLOTS * (end - start)), sum(1 for *_, c in spans if c)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=float, default=10.0, help="T: seconds each experiment sleeps")
    p.add_argument("--runs", type=int, default=5, help="experiments for the overhead figure")
    p.add_argument("--waves", type=int, default=3, help="experiments per slot for duty cycle")
    p.add_argument("--address", default=None, help="an existing cluster (default: start one)")
    p.add_argument("--no-engine", action="store_true", help="skip the duty cycle of a run")
    args = p.parse_args()
    cluster = None
    if args.address is None:
        from ray.cluster_utils import Cluster

        cluster = Cluster(
            initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
        )
        cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
    address = args.address or cluster.address
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    nodes = len([n for n in ray.nodes() if n["Alive"]])
    print(
        f"cluster: {nodes} nodes, {ray.cluster_resources().get('CPU', 0):g} CPUs; "
        f"T = {args.train:g}s, {args.runs} runs for overhead, {SLOTS} slots x {args.waves} "
        "waves for duty"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            figures = {
                "local": measure("local", LocalExecutor(SLOTS), work, args),
                "ray": measure("ray", RayExecutor(SLOTS), work, args),
            }
            if not args.no_engine:
                n = SLOTS * args.waves
                for name, executor in (
                    ("local", LocalExecutor(SLOTS)),
                    ("ray", RayExecutor(SLOTS)),
                ):
                    org = make_org(work / name / "engine", args.train, n)
                    figures[name]["engine"] = engine_duty(executor, org)
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    print(
        f"{'executor':<10}{'overhead/exp (mean, max)':>28}{'duty, 4 slots':>16}"
        f"{'wall':>9}  nodes used"
    )
    for name, f in figures.items():
        over = f["over"]
        print(
            f"{name:<10}{statistics.mean(over):>19.3f}s, {max(over):.3f}s"
            f"{f['duty']:>16.3f}{f['wall']:>8.1f}s  {len(f['nodes'])}"
        )
    extra = statistics.mean(figures["ray"]["over"]) - statistics.mean(figures["local"]["over"])
    ray_over = statistics.mean(figures["ray"]["over"])
    print(
        f"ray overhead {ray_over:.3f}s per experiment ({extra:+.3f}s vs local; goal < 1 s): "
        f"{'met' if ray_over < 1 else 'NOT met'}"
    )
    print(
        f"ray duty cycle {figures['ray']['duty']:.3f} with 4 slots on {nodes} nodes "
        f"(goal >= 0.95): {'met' if figures['ray']['duty'] >= 0.95 else 'NOT met'}"
    )
    if not args.no_engine:
        for name, f in figures.items():
            busy, n = f["engine"]
            print(
                f"a run of the org on {name} (offline brain, replicas auto, 4 slots): "
                f"busy {busy:.3f} over {n} candidates"
            )


if __name__ == "__main__":
    main()
