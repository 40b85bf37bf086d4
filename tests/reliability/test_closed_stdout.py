"""A reader that goes away — `orgloop run … | head`, a closed terminal, a lost ssh session — never
kills or corrupts a run: it goes on recording to its folder and exits as it would have."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from orgloop.runtime._output import Output

from _edges import ENV, assert_sound, end
from _orgs import small_org


def _start(root: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["orgloop", "run", str(root), *flags],
        cwd=root.parent,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        assert proc.stderr is not None
        err = proc.stderr.read()
        return proc.wait(timeout=120), err
    finally:
        end(proc)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize("flags", [("--json",), ()], ids=["json", "terminal-lines"])
def test_a_pipe_closed_by_head_leaves_a_finished_run(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    proc = _start(root, *flags)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does once it has its line
    code, err = _finish(proc)
    assert first and code == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err
    assert "stdout was closed; the run goes on, recording to" in err
    (run_dir,) = (root / ".orgloop" / "runs").iterdir()
    assert_sound(run_dir)
    assert (run_dir / "report.md").is_file() and (run_dir / "results.tsv").is_file()


def test_a_hangup_is_a_lost_terminal_not_the_end_of_the_run(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    proc = _start(root)
    assert proc.stdout is not None
    proc.stdout.readline()
    os.killpg(proc.pid, signal.SIGHUP)  # the terminal went away: hangup, then nobody reads
    proc.stdout.close()
    code, err = _finish(proc)
    assert code == 0, err
    (run_dir,) = (root / ".orgloop" / "runs").iterdir()
    assert_sound(run_dir)


def test_output_drops_writes_once_the_reader_is_gone() -> None:
    read, write = os.pipe()
    stream = os.fdopen(write, "w", buffering=1)
    lost: list[bool] = []
    out = Output(stream, on_lost=lambda: lost.append(True))
    out.write("one\n")
    os.close(read)
    for _ in range(3):
        out.write("nobody reads this\n")
        out.flush()
    assert out.lost and lost == [True]
    stream.close()  # the descriptor now points at /dev/null: closing flushes without an error


def test_a_listing_command_survives_its_reader(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        ["orgloop", "graph", "--format", "dot"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # gone before the first line
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0 and err == ""
