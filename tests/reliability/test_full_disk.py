"""A disk that fills up during a run (a small tmpfs): the run stops with a message that says so,
its log stays whole, and once there is room `orgloop resume` finishes it as if nothing happened."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.errors import RunStopped
from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.lock import holder
from orgloop.runtime.engine import Engine

from _edges import ENV, assert_sound, end, orgloop
from _orgs import small_org


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs of its own; skips where mounting is not allowed (not root)."""
    where = tmp_path / "disk"
    where.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(where)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(where: Path) -> Path:
    """Take every free byte of the file system under `where`; the file to delete for room."""
    filler = where / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(chunk[:size])
    return filler


def _results_match_events(run_dir: Path, events: list[Event]) -> None:
    rows = (run_dir / "results.tsv").read_text().splitlines()[1:]
    finished = [e for e in events if e.kind == "experiment_finished"]
    assert len(rows) == len(finished)


def test_a_full_disk_stops_the_engine_and_resume_finishes_the_run(
    disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYLM_BUDGET", "0.01")
    root = small_org(disk / "org", experiments=2, baseline_runs=1)
    engine = Engine.start(root, brain=OfflineBrain(), run_id="full")
    filled: list[Path] = []

    def fill_after_the_baseline(ev: Event) -> None:
        if ev.kind == "experiment_finished" and not filled:
            filled.append(fill(disk))

    engine.listeners.append(fill_after_the_baseline)
    with pytest.raises(RunStopped) as stopped:
        asyncio.run(engine.run())
    message = str(stopped.value)
    assert "no space left on the device" in message and "orgloop resume" in message
    assert holder(engine.run_dir) is None  # the lock was let go
    kept = read_events(engine.run_dir / "events.jsonl")  # whole: no torn or doubled line
    assert kept[-1].kind != "run_finished"
    filled[0].unlink()
    resumed = Engine.resume(engine.run_dir, brain=OfflineBrain())
    state = asyncio.run(resumed.run())
    assert state.finished and len(state.candidates()) == 2
    events = assert_sound(engine.run_dir)
    _results_match_events(engine.run_dir, events)


def _wait_for(log: Path, kind: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if f'"kind":"{kind}"'.encode() in log.read_bytes():
                return
        time.sleep(0.02)
    raise AssertionError(f"no {kind} in {log}")


def test_orgloop_run_on_a_filling_disk_says_so_and_resume_goes_on(disk: Path) -> None:
    root = small_org(disk / "org", experiments=2, baseline_runs=1)
    err = disk.parent / "run.err"
    with open(err, "w") as stderr:
        proc = subprocess.Popen(
            ["orgloop", "run", str(root)],
            cwd=disk.parent,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        runs = root / ".orgloop" / "runs"
        deadline = time.monotonic() + 30
        while not (runs.is_dir() and any(runs.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.02)
        (run_dir,) = runs.iterdir()
        _wait_for(run_dir / "events.jsonl", "experiment_started")
        filler = fill(disk)
        code = proc.wait(timeout=120)
    finally:
        end(proc)
    said = err.read_text()
    assert code == 1, said
    assert "no space left on the device" in said and f"orgloop resume {run_dir}" in said
    assert "Traceback" not in said and "Errno" not in said
    read_events(run_dir / "events.jsonl")  # whole
    filler.unlink()
    done = orgloop("resume", str(run_dir), cwd=disk.parent)
    assert done.returncode == 0, done.stderr + done.stdout
    events = assert_sound(run_dir)
    _results_match_events(run_dir, events)
    statuses = [e.data["status"] for e in events if e.kind == "experiment_finished"]
    assert "crash" not in statuses  # the full disk was nobody's experiment's fault


def test_a_commit_the_disk_refuses_is_cut_back_off_the_log(disk: Path) -> None:
    from orgloop.runtime.core.events import EventLog

    log = EventLog(disk / "events.jsonl")
    log.append("run_resumed", {"brain": "x", "pending": 0}, 1.0)
    log.commit()
    whole = (disk / "events.jsonl").read_bytes()
    filler = fill(disk)
    big: Callable[[int], dict[str, str]] = lambda i: {"brain": "y" * 200_000, "n": str(i)}  # noqa: E731
    for i in range(3):
        log.append("run_resumed", big(i), 2.0)
    with pytest.raises(OSError) as refused:
        log.commit()
    assert refused.value.errno == errno.ENOSPC
    assert (disk / "events.jsonl").read_bytes() == whole  # nothing half-written stays
    filler.unlink()
    log.commit()  # with room again, the same events go in once
    events = read_events(disk / "events.jsonl")
    assert [e.seq for e in events] == [0, 1, 2, 3]
    log.close()
    assert os.path.getsize(disk / "events.jsonl") > len(whole)
