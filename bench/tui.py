"""TUI speed and memory on long runs: open run folders of 100,000 and 300,000 events, follow
1,000 new events, and say how much memory the app holds once a log is open.

The run folders are synthetic and shaped like the tinylm org's logs: per experiment a PI turn
(with its decision on the last result), an engineer turn (reads train.py, edits it, sends the whole
file with the experiment), the sandbox turn, a critic and a reviewer turn, with llm_call and
tool_call events between, a meta window every 25 experiments — about 30 events and 20 KB per
experiment — and the built-in org's Markdown as the org snapshot, as the engine keeps it.

1. Seconds to open it: the app mounted headless (run_test, 120×40) with every event folded, the
   org snapshot loaded (the app's worker thread) and the widgets showing the final state. Goals:
   2 s for 100,000 events, 4 s for 300,000.
2. Seconds to take 1,000 appended events while following: one poll (tail, fold, widget updates)
   and the repaint after it. Goal: 0.1 s. The poll interval (OrgloopApp.POLL, 0.25 s) comes on
   top of this when the app finds the events by itself; the bench calls the poll directly.
3. Memory held: the process's resident memory once the log is open (after a full collection),
   less what it was before the app was made. No goal; printed so it can be watched.
4. Idle CPU: the share of a core the app uses over `IDLE` seconds following a live run (its lock
   held, as an engine holds it) to which nothing is appended: the quarter-second polls and the
   once-a-second redraw of what grows with the clock. No goal; printed.

Run: python bench/tui.py [EVENTS ...]   (default: 100000 300000)
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orgloop.runtime.core.events import Event
from orgloop.runtime.core.lock import RunLock
from orgloop.runtime.scaffold import init_org
from orgloop.tui import OrgloopApp

TRAIN_PY = (
    "".join(
        f"# line {i}: the tinylm training script, sent whole with every experiment\n"
        for i in range(110)
    )
    + "LR = 0.003\nHIDDEN = 256\nCONTEXT = 4\n"
)
KNOBS = ("LR", "HIDDEN", "CONTEXT", "BATCH", "INIT_SCALE", "ACT")
T0 = 1_767_268_800.0
REPEATS = {100_000: 3}
"""Times each size is opened (once for sizes not named)."""
POLLS = 8
GOALS = {100_000: 2.0, 300_000: 4.0}
IDLE = 10.0


class SyntheticRun:
    """An endless, deterministic stream of events of one org; `take(n)` gives the next n."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.seq = 0
        self.t = T0
        self.best = 1.28
        self._it = self._events()

    def take(self, n: int) -> list[Event]:
        return [next(self._it) for _ in range(n)]

    def _ev(self, kind: str, data: dict[str, Any], dt: float = 0.01) -> Event:
        self.t += dt
        ev = Event(self.seq, self.t, kind, data)
        self.seq += 1
        return ev

    def _msg(
        self,
        sender: str,
        receiver: str,
        kind: str,
        body: str,
        data: dict[str, Any],
        turn: str | None,
    ) -> tuple[str, Event]:
        mid = f"m{self.seq}"
        return mid, self._ev(
            "message_sent",
            {
                "id": mid,
                "sender": sender,
                "receiver": receiver,
                "kind": kind,
                "body": body,
                "data": data,
                "turn": turn,
            },
        )

    def _turn(self, role: str, message: str) -> tuple[str, Event]:
        turn = f"t{self.seq}"
        return turn, self._ev(
            "turn_started",
            {
                "turn": turn,
                "role": role,
                "message": message,
                "slot": 0 if role == "trainer" else None,
            },
        )

    def _llm(self, turn: str, role: str) -> Event:
        return self._ev(
            "llm_call",
            {
                "turn": turn,
                "role": role,
                "input_tokens": 1800,
                "output_tokens": 250,
                "cache_read": 6000,
                "cache_write": 0,
                "usd": 0.004,
            },
            dt=2.0,
        )

    def _tool(self, turn: str, role: str, tool: str, args: dict[str, Any], result: str) -> Event:
        return self._ev(
            "tool_call",
            {"turn": turn, "role": role, "tool": tool, "args": args, "ok": True, "result": result},
        )

    def _done(self, turn: str, role: str, message: str, produced: list[str]) -> Event:
        return self._ev(
            "turn_completed",
            {"turn": turn, "role": role, "message": message, "produced": produced, "tool_calls": 2},
        )

    def _events(self) -> Iterator[Event]:
        rng = self.rng
        yield self._ev(
            "run_started",
            {
                "run_id": "bench",
                "org": "/tmp/bench-org",
                "org_name": "tinylm",
                "branch": "b",
                "base": "0" * 40,
                "seed": 0,
                "brain": "bench",
                "slots": 1,
                "clock": 0,
                "format": 1,
                "metric": {"name": "val_bpb", "goal": "minimize", "bound": 0.604422},
                "budget": {
                    "experiments": 100_000,
                    "wall": 30 * 86400.0,
                    "usd": 500.0,
                    "tokens": 2_000_000_000,
                    "gpu_seconds": None,
                    "visits": None,
                },
            },
        )
        review, _ = "", None
        mid, ev = self._msg("human", "pi", "kickoff", "# Objective\n\nLower val_bpb.", {}, None)
        yield ev
        inbox, n = mid, 0
        while True:
            n += 1
            exp = f"e{n}"
            # PI: decide the last experiment, send a direction
            turn, ev = self._turn("pi", inbox)
            yield ev
            yield self._llm(turn, "pi")
            knob = rng.choice(KNOBS)
            if review:
                yield self._tool(turn, "pi", "decide", {"experiment": review}, "decided")
            yield self._tool(turn, "pi", "send", {"kind": "direction"}, "sent")
            d_mid, d_ev = self._msg(
                "pi", "engineer", "direction", f"Change {knob}: explore", {}, turn
            )
            yield d_ev
            if review:
                metric = self.last_metric
                keep = metric is not None and rng.random() < 0.15
                yield self._ev(
                    "decision",
                    {
                        "experiment": review,
                        "verdict": "keep" if keep else "discard",
                        "reason": "beats the noise" if keep else "no gain",
                        "commit": "c" * 40 if keep else "",
                        "metric": metric,
                        "incumbent_metric": self.best,
                    },
                )
                if keep and metric is not None:
                    self.best = metric
            yield self._done(turn, "pi", inbox, [d_mid])
            # engineer: read, edit, send the experiment with the whole file
            turn, ev = self._turn("engineer", d_mid)
            yield ev
            yield self._llm(turn, "engineer")
            yield self._tool(turn, "engineer", "read_file", {"path": "train.py"}, TRAIN_PY[:2000])
            yield self._tool(turn, "engineer", "edit_file", {"path": "train.py"}, "edited")
            yield self._tool(turn, "engineer", "send", {"kind": "experiment"}, "sent")
            x_mid, x_ev = self._msg(
                "engineer",
                "trainer",
                "experiment",
                f"{knob} a -> b",
                {"files": {"train.py": TRAIN_PY}, "base": "0" * 40},
                turn,
            )
            yield x_ev
            yield self._done(turn, "engineer", d_mid, [x_mid])
            # trainer: the experiment
            turn, ev = self._turn("trainer", x_mid)
            yield ev
            yield self._ev(
                "experiment_started",
                {
                    "id": exp,
                    "turn": turn,
                    "message": x_mid,
                    "slot": 0,
                    "baseline": False,
                    "description": f"{knob} a -> b",
                    "base": "0" * 40,
                    "files": ["train.py"],
                },
            )
            crash = rng.random() < 0.05
            metric = None if crash else round(self.best + rng.gauss(0.02, 0.03), 6)
            self.last_metric = metric
            yield self._ev(
                "experiment_finished",
                {
                    "id": exp,
                    "status": "crash" if crash else "ok",
                    "metric": metric,
                    "commit": "e" * 40,
                    "seconds": 60.0,
                    "memory_gb": 0.1,
                    "reason": "",
                    "log_tail": "step 100 loss 1.2\n" * 5,
                    "hardware": "cpu",
                    "gpus": [],
                },
                dt=60.0,
            )
            r_mid, r_ev = self._msg(
                "trainer",
                "critic",
                "result",
                f"{exp}: val_bpb = {metric}",
                {"experiment": exp, "metric": metric},
                turn,
            )
            yield r_ev
            yield self._done(turn, "trainer", x_mid, [r_mid])
            # critic and reviewer
            inbox = r_mid
            for role, to, kind in (("critic", "reviewer", "checked"), ("reviewer", "pi", "review")):
                turn, ev = self._turn(role, inbox)
                yield ev
                yield self._llm(turn, role)
                yield self._tool(turn, role, "send", {"kind": kind}, "sent")
                o_mid, o_ev = self._msg(role, to, kind, f"{exp}: {kind}", {"experiment": exp}, turn)
                yield o_ev
                yield self._done(turn, role, inbox, [o_mid])
                inbox = o_mid
            review = exp
            if n % 25 == 0:
                w_mid, w_ev = self._msg("human", "meta", "window", f"window {n // 25}", {}, None)
                yield w_ev
                turn, ev = self._turn("meta", w_mid)
                yield ev
                yield self._llm(turn, "meta")
                yield self._done(turn, "meta", w_mid, [])

    last_metric: float | None = None


def append(path: Path, events: list[Event]) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(ev.to_json() + b"\n" for ev in events))


def snapshot_org(run_dir: Path) -> None:
    """The built-in org's Markdown in RUN/org/, where the engine keeps the org it runs."""
    with tempfile.TemporaryDirectory() as tmp:
        source = init_org(Path(tmp) / "tinylm")
        (run_dir / "org").mkdir()
        shutil.copy(source / "ORG.md", run_dir / "org" / "ORG.md")
        shutil.copytree(source / "roles", run_dir / "org" / "roles")


def rss() -> int:
    """Resident bytes of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class BenchApp(OrgloopApp):
    POLL = 3600.0  # the bench polls by hand, so a timer never races it


Timing = tuple[float, float]
"""(wall seconds, CPU seconds of this process): on a shared machine the second is the steadier."""


def clock() -> Timing:
    return time.perf_counter(), time.process_time()


def since(t: Timing) -> Timing:
    now = clock()
    return now[0] - t[0], now[1] - t[1]


async def measure(
    run_dir: Path, synth: SyntheticRun, polls: int
) -> tuple[Timing, int, list[Timing]]:
    """(seconds to open, bytes held once open, seconds per poll of 1,000 events)."""
    gc.collect()
    before = rss()
    t0 = clock()
    app = BenchApp(run_dir, follow=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        opened = since(t0)
        assert app.feed.state.events == synth.seq, (app.feed.state.events, synth.seq)
        assert app.feed.view.org is not None, app.feed.view.error
        gc.collect()
        held = rss() - before
        follow = []
        for i in range(polls):
            tab = ("org", "messages", "experiments", "history")[i % 4]
            app.action_tab(tab)
            await pilot.pause()
            append(run_dir / "events.jsonl", synth.take(1000))
            t1 = clock()
            app.refresh_feed()
            await pilot.pause()
            follow.append(since(t1))
            assert app.feed.state.events == synth.seq
    return opened, held, follow


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 300_000]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    follows: list[Timing] = []
    for total in sizes:
        opens: list[Timing] = []
        held: list[int] = []
        for _ in range(REPEATS.get(total, 1)):
            with tempfile.TemporaryDirectory() as tmp:
                run_dir = Path(tmp)
                snapshot_org(run_dir)
                synth = SyntheticRun()
                append(run_dir / "events.jsonl", synth.take(total))
                size = (run_dir / "events.jsonl").stat().st_size
                polls = POLLS if total == sizes[0] else 0
                opened, bytes_held, follow = asyncio.run(measure(run_dir, synth, polls))
            opens.append(opened)
            held.append(bytes_held)
            follows += follow
        print(f"log: {total:,} events, {size / 1e6:.1f} MB")
        report(f"open the {total:,}-event run", opens, GOALS.get(total))
        print(f"memory held once open: {max(held) / 1e6:.0f} MB")
    report("follow 1,000 new events", follows, 0.1)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        snapshot_org(run_dir)
        append(run_dir / "events.jsonl", SyntheticRun().take(sizes[0]))
        share = asyncio.run(idle(run_dir))
    print(f"idle, following a live run for {IDLE:.0f} s: {100 * share:.1f}% of a core")


async def idle(run_dir: Path) -> float:
    """CPU seconds per second while the app follows a live run that stays quiet."""
    with RunLock(run_dir):
        app = OrgloopApp(run_dir, follow=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await asyncio.sleep(2.0)  # past the first poll and redraw
            start = clock()
            await asyncio.sleep(IDLE)
            wall, cpu = since(start)
    return cpu / wall


def report(what: str, timings: list[Timing], goal: float | None) -> None:
    wall = [w for w, _ in timings]
    cpu = [c for _, c in timings]
    print(
        f"{what}: wall best {min(wall):.3f} s, median {statistics.median(wall):.3f} s; "
        f"CPU median {statistics.median(cpu):.3f} s; over {len(timings)}"
        + (f" (goal {goal} s)" if goal else "")
    )


if __name__ == "__main__":
    main()
