"""Engine throughput and resume speed.

1. Messages stepped per second: an org of 50 relay roles in a ring, 200 messages in flight, a brain
   that forwards each message to the next role (one `send` per turn), durability on (fsync'd group
   commits). Goal: 20,000 messages/s.
2. Seconds to resume a 100,000-event log: read, validate and fold it (what `orgloop resume` does
   before it steps again). Goal: under 1 s.

Run: python bench/engine.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.core.events import EventLog, read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.core.state import fold
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import FunctionBrain, InstantExecutor

ROLES = 50
IN_FLIGHT = 200
MESSAGES = 20_000


def write_ring(root: Path) -> None:
    (root / "roles").mkdir(parents=True)
    visits = MESSAGES // ROLES + IN_FLIGHT
    (root / "ORG.md").write_text(
        "---\nname: ring\nentry: r0\nmetric: {name: score}\n"
        "experiment: {command: 'true', editable: [x.py]}\n"
        f"budget: {{experiments: 1, visits: {visits}}}\nturns: {{concurrency: {ROLES}}}\n"
        "---\nA ring of relays.\n"
    )
    (root / "x.py").write_text("X = 1\n")
    for i in range(ROLES):
        receives = "[kickoff, ping]" if i == 0 else "[ping]"
        (root / "roles" / f"r{i}.md").write_text(
            f"---\nname: r{i}\ntools: [send]\nreceives: {receives}\n"
            f"sends: {{ping: r{(i + 1) % ROLES}}}\n---\nRelay {i}.\n"
        )
    (root / "roles" / "trainer.md").write_text(
        "---\nname: trainer\nkind: sandbox\nreceives: [experiment]\n---\nUnused.\n"
    )
    git = Git(root)
    git.init()
    git.commit_all("ring")


async def relay(ctx: TurnContext) -> None:
    if ctx.state.visits.total() < MESSAGES:
        ctx.call("send", kind="ping", body="")


def bench_throughput() -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ring"
        write_ring(root)
        engine = Engine.start(
            root, brain=FunctionBrain(relay), executor=InstantExecutor(lambda f: 1.0)
        )
        for i in range(IN_FLIGHT):
            engine.send("human", f"r{i % ROLES}", "ping", "", {})
        engine.org = engine.org  # the baseline message stays queued for the (unused) trainer
        start = time.perf_counter()
        state = asyncio.run(engine.run())
        seconds = time.perf_counter() - start
        handled = sum(state.role_turns.values())
        return handled / seconds, handled


def bench_resume(n: int = 100_000) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        log = EventLog(path, durable=False)
        log.append("run_started", {"run_id": "r", "branch": "b", "base": "0" * 40}, 0.0)
        i = 1
        while log.next_seq < n:
            mid = f"m{log.next_seq}"
            log.append(
                "message_sent",
                {
                    "id": mid,
                    "sender": "a",
                    "receiver": "b",
                    "kind": "k",
                    "body": "hello " * 5,
                    "data": {},
                    "turn": None,
                },
                i,
            )
            turn = f"t{log.next_seq}"
            log.append("turn_started", {"turn": turn, "role": "b", "message": mid}, i)
            log.append(
                "turn_completed", {"turn": turn, "role": "b", "message": mid, "produced": []}, i
            )
            i += 1
        log.close()
        size = os.path.getsize(path) / 1e6
        start = time.perf_counter()
        state = fold(read_events(path))
        seconds = time.perf_counter() - start
        assert state.events >= n
        return seconds, size


if __name__ == "__main__":
    rate, handled = bench_throughput()
    print(
        f"throughput: {rate:,.0f} messages/s stepped ({handled:,} turns, fsync on)"
        f"  goal 20,000/s  {'ok' if rate >= 20_000 else 'MISSED'}"
    )
    seconds, size = bench_resume()
    print(
        f"resume: {seconds:.2f} s to read and fold 100,000 events ({size:.1f} MB)"
        f"  goal < 1 s  {'ok' if seconds < 1 else 'MISSED'}"
    )
