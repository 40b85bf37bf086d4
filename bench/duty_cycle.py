"""How busy the experiment slots are: orgloop's engine against a serial propose-then-train loop.

A brain that "thinks" for L seconds per turn (asyncio.sleep, then the offline policy decides) and
experiments that train for T seconds (train.py sleeps T, then prints a score from its knobs), run
through the real LocalExecutor: git worktrees, the sandbox, subprocesses. Two shapes:

- orgloop: the engine with the default roles (PI, engineer, critic, reviewer: four turns between a
  result and the next change), the engineer running ahead of the slots;
- serial: autoresearch's shape, one agent that thinks L, then trains T, and repeats.

Busy fraction = sum of experiment seconds / (slots x wall from the first experiment's start to the
last one's end). An experiment's seconds are the slot's: from the moment it is taken (worktree
checkout included) to the moment it is given back; "training" counts the command alone.
Goal: orgloop >= 0.98; serial ~ T / (T + L).

Why orgloop stays busy: the PI sends `parallel + runahead` directions at kick-off (its policy's
`runahead`, default 1), so experiments wait behind each running one, and every result starts four
turns (critic, reviewer, PI, engineer) that produce the next. That hides the thinking while 4L
stays under `runahead` experiments' time; past it (say L = 1, T = 2, runahead 1) the slot waits for
the engineer — `--runahead 2` covers it.

Run: python bench/duty_cycle.py [--think 0.5] [--train 2] [--experiments 8] [--parallel 1]
                               [--runahead 1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
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


def make_org(root: Path, train: float, experiments: int, parallel: int, runahead: int) -> Path:
    root.mkdir(parents=True)
    (root / "roles").mkdir()
    for role in default_roles_dir().glob("*.md"):
        text = role.read_text()
        if role.name == "pi.md":  # how many experiments the PI keeps in the pipeline
            text = text.replace("runahead: 1\n", f"runahead: {runahead}\n")
        (root / "roles" / role.name).write_text(text)
    (root / "ORG.md").write_text(
        "---\nname: duty\nentry: pi\nmetric: {name: val_bpb, goal: minimize}\n"
        "experiment: {command: python train.py, timeout: 60s, editable: [train.py],"
        f" protected: [prepare.py], parallel: {parallel}, baseline_runs: 1}}\n"
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
        await self.offline.turn(ctx)


def busy(spans: list[tuple[float, float, float]], slots: int) -> tuple[float, float, float]:
    """(slot-busy fraction, training fraction, wall) from (start, end, training seconds)."""
    wall = max(e for _, e, _ in spans) - min(s for s, _, _ in spans)
    held = sum(e - s for s, e, _ in spans)
    trained = sum(t for _, _, t in spans)
    return held / (slots * wall), trained / (slots * wall), wall


def orgloop(root: Path, think: float, parallel: int) -> tuple[float, float, float, int]:
    engine = Engine.start(root, brain=Thinking(think), executor=LocalExecutor(parallel))
    asyncio.run(engine.run())
    started: dict[str, float] = {}
    spans = []
    for ev in read_events(engine.run_dir / "events.jsonl"):
        if ev.kind == "experiment_started":
            started[ev.data["id"]] = ev.t
        elif ev.kind == "experiment_finished":
            spans.append((started[ev.data["id"]], ev.t, ev.data["seconds"]))
    return (*busy(spans, engine.executor.slots), len(spans))


async def serial(root: Path, think: float, experiments: int) -> tuple[float, float, float, int]:
    """Think, train, repeat: one experiment at a time, nothing prepared while it trains."""
    executor = LocalExecutor(1)
    git = Git(root)
    base = git.head()
    source = (root / "train.py").read_text()
    spans = []
    for i in range(experiments):
        await asyncio.sleep(think)
        files = {"train.py": source.replace("HIDDEN = 128", f"HIDDEN = {128 + i}")}
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
        result = await executor.run(spec, 0)
        spans.append((start, time.time(), result.seconds))
    return (*busy(spans, 1), len(spans))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--think", type=float, default=0.5, help="L: seconds per agent turn")
    parser.add_argument("--train", type=float, default=2.0, help="T: seconds per experiment")
    parser.add_argument("--experiments", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=1, help="orgloop's experiment slots")
    parser.add_argument("--runahead", type=int, default=1, help="the PI policy's runahead")
    args = parser.parse_args()
    L, T = args.think, args.train
    print(f"L = {L}s thinking per turn, T = {T}s training per experiment, real LocalExecutor")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_org(Path(tmp) / "org", T, args.experiments, args.parallel, args.runahead)
        held, trained, wall, n = orgloop(root, L, args.parallel)
        print(
            f"orgloop ({args.parallel} slot(s), runahead {args.runahead}, {n} experiments incl. "
            "1 baseline): "
            f"busy {held:.3f} (training {trained:.3f}) over {wall:.1f}s   goal >= 0.98"
        )
        held, trained, wall, n = asyncio.run(serial(root, L, args.experiments))
        print(
            f"serial loop (1 slot, {n} experiments): busy {held:.3f} (training {trained:.3f}) "
            f"over {wall:.1f}s   T/(T+L) = {T / (T + L):.3f}"
        )


if __name__ == "__main__":
    main()
