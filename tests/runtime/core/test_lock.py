"""The run lock: one engine per run, released by the kernel however the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orgloop.runtime.core.lock import RunLock, RunLocked, holder

HOLD = (
    "import sys, time; from pathlib import Path; from orgloop.runtime.core.lock import RunLock; "
    "RunLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
)


def _holder_process(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def test_a_second_engine_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    proc = _holder_process(tmp_path)
    try:
        found = holder(tmp_path)
        assert found is not None and found.pid == proc.pid
        with pytest.raises(RunLocked, match=f"pid {proc.pid}"):
            RunLock(tmp_path).acquire(retry=0.1)
    finally:
        _end(proc)


def test_kill_9_of_the_holder_leaves_nothing_stale(tmp_path: Path) -> None:
    proc = _holder_process(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    _end(proc)
    assert holder(tmp_path) is None
    lock = RunLock(tmp_path)
    lock.acquire(retry=0.1)
    assert holder(tmp_path) is not None and lock.held
    lock.release()
    assert holder(tmp_path) is None


def test_a_readers_probe_never_refuses_an_engine(tmp_path: Path) -> None:
    lock = RunLock(tmp_path)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # probes as fast as a reader could
        assert holder(tmp_path) is None
        lock.acquire()
        lock.release()
