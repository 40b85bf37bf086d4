"""How busy the experiment slots are: orgloop's engine against a serial propose-then-train loop,
over think/train ratios and slot counts, in one run.

A brain that "thinks" for L seconds per turn (asyncio.sleep, then the offline policy decides) and
experiments that train for T seconds (train.py sleeps T, then prints a score from its knobs), run
through the real LocalExecutor: git worktrees, the sandbox, subprocesses. For each cell
(L/T, slots S), with a budget of `waves` x S candidates and one baseline run per slot (the
first wave measures the noise while the org thinks of its first changes):

- orgloop: the engine with the default roles (PI, engineer, critic, reviewer: four turns between
  a result and the next change), every agent role `replicas: auto`, the run-ahead adaptive;
- orgloop, one instance per role (`replicas: 1`): what the same org does when no role may think
  in parallel;
- serial: autoresearch's shape, an agent that thinks L, then trains T, and repeats; one such loop
  per slot, each on its own slot, the same number of experiments in all.

Busy = slot-seconds held / (S x the window), the window running from the first candidate's start
to the last experiment's end (spans clipped to it). An experiment holds its slot from the moment
it is taken (worktree checkout included) to the moment it is given back. Before the first
candidate no loop can have one: orgloop's PI and engineer, or the serial agent, think first; that
start-up (`first` column, seconds from the run's start) is printed, not counted.

Goals: orgloop (replicas auto) >= 0.95 in every cell, and never below the serial loop. The
`replicas 1` column is the reference without parallel thinking. Experiments per hour count
candidates over the whole run, orgloop's baseline wave included (the serial loop runs none).

Run: python bench/duty_cycle.py [--train 1.0] [--waves 3] [--ratios 0.25 1 2] [--slots 1 2 4]
                               [--no-single]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orgloop.org import Metric, default_roles_dir
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors.local import ExperimentSpec, LocalExecutor

TRAIN = """import time
LR = 0.003
HIDDEN = 128
CONTEXT = 4
EMBED = 16
BATCH = 128
ACT = "tanh"
INIT_SCALE = 1.0
time.sleep({train})
print("---")
print(f"val_bpb: {{2 + abs(LR - 0.01) + abs(HIDDEN - 256) / 1000 + abs(CONTEXT - 8) / 10:.6f}}")
"""


def make_org(root: Path, train: float, experiments: int, parallel: int, replicas: str) -> Path:
    root.mkdir(parents=True)
    (root / "roles").mkdir()
    for role in default_roles_dir().glob("*.md"):
        text = role.read_text()
        if role.name not in ("trainer.md", "meta.md"):
            text = text.replace("model: inherit\n", f"model: inherit\nreplicas: {replicas}\n", 1)
        if role.name == "engineer.md":  # one knob a change: no optuna work on the event loop
            text = text.replace("kind: tpe\n", "kind: mutate\n", 1)
        (root / "roles" / role.name).write_text(text)
    (root / "ORG.md").write_text(
        "---\nname: duty\nentry: pi\nmetric: {name: val_bpb, goal: minimize}\n"
        "experiment: {command: python train.py, timeout: 60s, editable: [train.py],"
        f" protected: [prepare.py], parallel: {parallel}, baseline_runs: {parallel}, confirm: 0}}\n"
        f"budget: {{experiments: {experiments}}}\nmeta: {{every: 1000}}\n---\n"
        "# Objective\nLower val_bpb.\n"
    )
    (root / "prepare.py").write_text("# the protected half of the task\n")
    (root / "train.py").write_text(TRAIN.format(train=train))
    git = Git(root)
    git.init()
    git.commit_all("duty-cycle org")
    return root


class Thinking:
    """The offline policies, after `think` seconds of pretend deliberation per turn."""

    name = "thinking"

    def __init__(self, think: float) -> None:
        self.think = think
        self.offline = OfflineBrain()

    async def turn(self, ctx: TurnContext) -> None:
        await asyncio.sleep(self.think)
        # a model call that took L, as a model brain records it (no tokens, no cost)
        ctx.record_usage(model="simulated", step=1, seconds=self.think, stop_reason="end_turn")
        await self.offline.turn(ctx)


@dataclass(frozen=True)
class Cell:
    busy: float
    experiments: int
    first: float
    """Seconds from the start to the first candidate's start."""
    peak: int
    """The most experiments at once."""
    per_hour: float
    thinkers: int = 0
    """The most agent turns at once (orgloop)."""


def measure(spans: list[tuple[float, float, bool]], slots: int, t0: float) -> Cell:
    """From (start, end, candidate) spans: busy over the window from the first candidate."""
    start = min(s for s, _, cand in spans if cand)
    end = max(e for _, e, _ in spans)
    held = sum(max(0.0, min(e, end) - max(s, start)) for s, e, _ in spans)
    edges = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    n = sum(1 for *_, cand in spans if cand)
    return Cell(held / (slots * (end - start)), n, start - t0, peak, 3600 * n / (end - t0))


def orgloop(root: Path, think: float, slots: int) -> Cell:
    t0 = time.time()
    engine = Engine.start(root, brain=Thinking(think), executor=LocalExecutor(slots))
    asyncio.run(engine.run())
    started: dict[str, tuple[float, bool]] = {}
    spans = []
    agents = peak = 0
    for ev in read_events(engine.run_dir / "events.jsonl"):
        if ev.kind == "experiment_started":
            started[ev.data["id"]] = (ev.t, not ev.data.get("baseline"))
        elif ev.kind == "experiment_finished":
            s, cand = started[ev.data["id"]]
            spans.append((s, ev.t, cand))
        elif ev.kind in ("turn_started", "turn_completed") and ev.data["role"] != "trainer":
            agents += 1 if ev.kind == "turn_started" else -1
            peak = max(peak, agents)
    cell = measure(spans, slots, t0)
    return Cell(cell.busy, cell.experiments, cell.first, cell.peak, cell.per_hour, peak)


async def serial(root: Path, think: float, slots: int, experiments: int) -> Cell:
    """Think, train, repeat: one loop per slot, nothing prepared while it trains."""
    executor = LocalExecutor(slots)
    base = Git(root).head()
    source = (root / "train.py").read_text()
    spans: list[tuple[float, float, bool]] = []

    async def loop(slot: int) -> None:
        for i in range(slot, experiments, slots):
            await asyncio.sleep(think)
            files = {"train.py": re.sub(r"HIDDEN = \d+", f"HIDDEN = {129 + i}", source)}
            spec = ExperimentSpec(
                id=f"s{i}",
                repo=root,
                base=base,
                files=files,
                command="python train.py",
                metric=Metric("val_bpb"),
                timeout=60,
                workdir=root / ".orgloop" / "serial" / f"s{i}",
                protected=("prepare.py",),
            )
            start = time.time()
            await executor.run(spec, slot)
            spans.append((start, time.time(), True))

    t0 = time.time()
    await asyncio.gather(*(loop(s) for s in range(slots)))
    return measure(spans, slots, t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=float, default=1.0, help="T: seconds per experiment")
    parser.add_argument("--waves", type=int, default=3, help="candidates per slot (budget)")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.25, 1.0, 2.0])
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--no-single", action="store_true", help="skip `replicas: 1`")
    args = parser.parse_args()
    T = args.train
    print(
        f"T = {T}s training per experiment, L = ratio x T thinking per turn, {args.waves} "
        "candidates and 1 baseline run per slot, real LocalExecutor"
    )
    head = (
        "| L/T | slots | orgloop busy | replicas 1 busy | serial busy | orgloop exp/h "
        "| serial exp/h | first (s) | peak exps | peak turns |"
    )
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    worst, below, single = 1.0, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for ratio in args.ratios:
            for slots in args.slots:
                L, n = ratio * T, args.waves * slots
                where = Path(tmp) / f"{ratio}-{slots}"
                auto = orgloop(make_org(where / "auto", T, n, slots, "auto"), L, slots)
                one = (
                    None
                    if args.no_single
                    else orgloop(make_org(where / "one", T, n, slots, "1"), L, slots)
                )
                loop = asyncio.run(
                    serial(make_org(where / "serial", T, n, slots, "1"), L, slots, n)
                )
                worst = min(worst, auto.busy)
                if auto.busy < loop.busy:
                    below.append(f"{ratio:g}/{slots}")
                if one is not None and one.busy < loop.busy:
                    single.append(f"{ratio:g}/{slots}")
                print(
                    f"| {ratio:g} | {slots} | {auto.busy:.3f} | "
                    f"{'—' if one is None else f'{one.busy:.3f}'} | {loop.busy:.3f} | "
                    f"{auto.per_hour:.0f} | {loop.per_hour:.0f} | {auto.first:.2f} | "
                    f"{auto.peak} | {auto.thinkers} |",
                    flush=True,
                )
    print(f"orgloop (replicas auto) busy: worst cell {worst:.3f}   goal >= 0.95")
    print(
        "cells (L/T/slots) where orgloop is below the serial loop: "
        + (", ".join(below) if below else "none")
        + "   goal: none"
    )
    if not args.no_single:
        print(
            "for reference, replicas 1 below the serial loop: "
            + (", ".join(single) if single else "none")
            + " (one engineer thinking L per change cannot feed several slots; S serial loops"
            " think S at a time)"
        )


if __name__ == "__main__":
    main()
