"""Helpers for the reliability suite: the real console script, a process that holds a run, and
what a log must say after anything happened to it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.lock import holder

ENV = {**os.environ, "TINYLM_BUDGET": "0.01", "OMP_NUM_THREADS": "1"}
ENV.pop("ANTHROPIC_API_KEY", None)
ENV.pop("ANTHROPIC_AUTH_TOKEN", None)

HOLD = """
import sys, time
from orgloop.runtime.engine import Engine
from orgloop.runtime.brains.offline import OfflineBrain
engine = Engine.start(sys.argv[1], brain=OfflineBrain(), run_id="held")
print("held", flush=True)
time.sleep(120)
"""
"""Starts a run and holds it, as an `orgloop run` that is still working would."""


def orgloop(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["orgloop", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def hold(root: Path) -> subprocess.Popen[str]:
    """A process that started a run of `root` (run id `held`) and holds it until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def end(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group, and wait for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def wait_held(run_dir: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = holder(run_dir)
        if found is not None:
            return found.pid
        time.sleep(0.02)
    raise AssertionError(f"nothing held {run_dir}")


def assert_sound(run_dir: Path) -> list[Event]:
    """The log reads, is one writer's (seq in order), finished, and did everything once."""
    events = read_events(run_dir / "events.jsonl")  # raises on a seq out of order
    assert events[-1].kind == "run_finished", events[-1]
    consumed = Counter(e.data["message"] for e in events if e.kind == "turn_completed")
    assert max(consumed.values()) == 1, "a message was handled twice"
    finished = Counter(e.data["id"] for e in events if e.kind == "experiment_finished")
    assert max(finished.values()) == 1, "an experiment finished twice"
    return events
