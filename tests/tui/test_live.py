"""Honest liveness: the status line says an engine runs the run because the engine holds the
run's lock, not because the log is recent; a killed engine reads dead within seconds, and what it
was doing reads stopped. Times that grow (a role's turn, the wall budget) grow with the clock only
while an engine runs the run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _runs import OFFLINE, RECORDED, SIZE, lines, small_org

from orgloop.runtime.core.lock import RunLock, holder
from orgloop.tui import OrgloopApp, RolesTable, StatusBar
from orgloop.tui._budgets import gauges
from orgloop.tui._roles import role_now

RUN = """
import asyncio, sys
from orgloop.runtime.engine import Engine
from orgloop.runtime.brains.offline import OfflineBrain
asyncio.run(Engine.start(sys.argv[1], brain=OfflineBrain(), run_id="live").run())
"""
"""A real engine stepping a real run (its first experiment trains for TINYLM_BUDGET seconds)."""


def status(app: OrgloopApp) -> str:
    return app.query_one(StatusBar).text.plain


async def until(check: object, what: str, timeout: float = 30.0) -> float:
    """Seconds until `check()` is true, letting the app run meanwhile."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_a_killed_engine_reads_dead_within_seconds(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    env = {**os.environ, **OFFLINE, "TINYLM_BUDGET": "30", "OMP_NUM_THREADS": "1"}
    engine = subprocess.Popen(
        [sys.executable, "-c", RUN, str(root)], env=env, start_new_session=True
    )
    run = root / ".orgloop" / "runs" / "live"
    try:
        events = run / "events.jsonl"
        started = lambda: events.exists() and b'"experiment_started"' in events.read_bytes()  # noqa: E731
        await until(lambda: started() and holder(run) is not None, "an experiment to start")
        app = OrgloopApp(run, follow=True)
        async with app.run_test(size=SIZE):
            await until(lambda: "● live" in status(app), "the app to read the run live")
            assert role_now(app.feed, "trainer", app.alive).state == "running"
            os.killpg(engine.pid, signal.SIGKILL)
            engine.wait()
            took = await until(lambda: "✖ no engine" in status(app), "the app to see it dead")
            assert took < 3.0
            assert role_now(app.feed, "trainer", app.alive).state == "stopped"
            assert "stopped" in app.query_one(RolesTable).render_line(1).text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(engine.pid, signal.SIGKILL)
        engine.wait()


async def test_times_grow_with_the_clock_only_while_an_engine_runs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    events = lines(RECORDED / "events.jsonl")
    (run / "events.jsonl").write_bytes(b"".join(events[:150]))  # e9 running, reviewer waiting
    now = [0.0]
    app = OrgloopApp(run, follow=False, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        last = app.feed.state.last_t
        now[0] = last + 600
        lock = RunLock(run)
        lock.acquire()
        try:
            app.refresh_feed()
            await pilot.pause(1.1)  # past the probe's second
            app.refresh_feed()
            assert app.alive
            wall_live = gauges(app.feed, app.now())["wall"].spent
            assert wall_live == app.feed.wall_seconds() + 600
            assert "quiet 10m00s" in status(app)
        finally:
            lock.release()
        await pilot.pause(1.1)
        app.refresh_feed()
        assert not app.alive and app.now() == last  # a dead run's times stop at its last event
        assert "✖ no engine (last event 10m00s ago" in status(app)
        assert gauges(app.feed, None)["wall"].spent == app.feed.wall_seconds()
