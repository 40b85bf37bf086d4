"""One engine per run: a second `run`/`resume` of a held run is refused with the holder's pid and
host; kill -9 of the holder leaves nothing stale; two resumes at once let exactly one through; a
held run can be reported on while it works."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from orgloop.runtime.core.git import Git

from _edges import ENV, assert_sound, end, hold, orgloop, wait_held
from _orgs import set_frontmatter, small_org


def test_a_second_engine_is_refused_with_the_holders_pid_and_host(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    proc = hold(root)
    run_dir = root / ".orgloop" / "runs" / "held"
    try:
        before = (run_dir / "events.jsonl").read_bytes()
        second = orgloop("resume", str(run_dir), cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        assert f"pid {proc.pid} on {socket.gethostname()}" in second.stderr
        assert "held by another orgloop engine" in second.stderr
        assert "Traceback" not in second.stderr and second.stdout == ""
        assert (run_dir / "events.jsonl").read_bytes() == before  # not one byte appended
    finally:
        end(proc)


def test_kill_9_of_the_holder_then_resume_finishes_the_run(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    proc = hold(root)
    end(proc)  # SIGKILL: the kernel lets go of the lock; the lock file stays behind
    run_dir = root / ".orgloop" / "runs" / "held"
    assert (run_dir / "engine.lock").exists()
    done = orgloop("resume", str(run_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert_sound(run_dir)
    results = [line for line in done.stdout.splitlines() if " ok " in line]
    assert results and all("val_bpb" in line for line in results)  # the metric, after resume


def test_two_resumes_at_once_let_exactly_one_engine_through(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    end(hold(root))
    run_dir = root / ".orgloop" / "runs" / "held"
    both = [
        subprocess.Popen(
            ["orgloop", "resume", str(run_dir)],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted((p.wait(timeout=120), p.communicate()[1]) for p in both)
    (ok, _), (refused, why) = outcomes
    assert (ok, refused) == (0, 2), outcomes
    assert "held by another orgloop engine" in why and "Traceback" not in why
    assert_sound(run_dir)


def test_run_while_a_run_works_is_refused_for_that_run_only(tmp_path: Path) -> None:
    # `orgloop run ORG` twice makes two runs (two folders, two branches); what is refused is a
    # second engine on one run folder, whoever started the first
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    env = {**ENV, "TINYLM_BUDGET": "0.05"}
    errors = tmp_path / "first.err"
    with open(errors, "w") as err:
        first = subprocess.Popen(
            ["orgloop", "run", str(root), "--json"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        runs = root / ".orgloop" / "runs"
        while not (runs.is_dir() and any(runs.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.02)
        (run_dir,) = runs.iterdir()
        assert wait_held(run_dir) == first.pid
        while not (run_dir / "events.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        # stopped, the engine holds its run without finishing it while the others look at it
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = orgloop("resume", str(run_dir), cwd=tmp_path)
            assert second.returncode == 2 and f"pid {first.pid}" in second.stderr
            report = orgloop("report", str(run_dir), cwd=tmp_path)  # a reader: never refused
            assert report.returncode == 0, report.stderr
        finally:
            os.kill(first.pid, signal.SIGCONT)
        text = (run_dir / "report.md").read_text()
        assert f"run is in progress (its engine is pid {first.pid}" in text
        assert first.wait(timeout=120) == 0, errors.read_text()
    finally:
        end(first)
    assert_sound(run_dir)


def test_ctrl_c_exits_130_with_the_resume_command_and_lets_go_of_the_run(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    # The first session's experiments wait first: a whole run takes about two seconds, and on a
    # busy machine the test could send Ctrl-C only after it had finished. The resume does not.
    set_frontmatter(
        root / "ORG.md",
        experiment={
            "command": "sleep ${ORGLOOP_TEST_WAIT:-0}; python train.py",
            "env": ["TINYLM_BUDGET", "ORGLOOP_TEST_WAIT"],
        },
    )
    Git(root).commit_all("the first session waits")
    proc = subprocess.Popen(
        ["orgloop", "run", str(root), "--json"],
        cwd=tmp_path,
        env={**ENV, "ORGLOOP_TEST_WAIT": "30"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline()  # run_started: it is going
        (run_dir,) = (root / ".orgloop" / "runs").iterdir()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        end(proc)
    assert proc.returncode == 130, err
    assert f"interrupted; continue with: orgloop resume {run_dir.relative_to(tmp_path)}" in err
    assert all(line.startswith("{") for line in out.splitlines())  # stdout stays JSON
    done = orgloop("resume", str(run_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_sound(run_dir)
