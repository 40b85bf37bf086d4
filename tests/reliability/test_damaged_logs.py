"""events.jsonl and control.jsonl that are torn, garbage, foreign, written by two engines, or
read-only: each gets a message that says what it is and what to do, and nothing is rewritten."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.cli import main
from orgloop.runtime.core.events import read_events
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor

from _edges import assert_sound
from _orgs import small_org, toy_score


@pytest.fixture
def stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run that started and stopped before its first experiment (resumable)."""
    monkeypatch.setenv("TINYLM_BUDGET", "0.01")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    engine = Engine.start(root, brain=OfflineBrain(), run_id="r1")
    engine.close()
    return engine.run_dir


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "Errno" not in out + err
    return code, out + err


def _lines(run: Path) -> list[bytes]:
    return (run / "events.jsonl").read_bytes().splitlines(keepends=True)


def test_a_torn_last_line_is_left_out_then_trimmed_on_resume(
    stopped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(stopped / "events.jsonl", "ab") as f:
        f.write(b'{"seq": 99, "t": 1.0, "ki')  # the write a kill -9 cut short
    code, said = cli(capsys, "report", str(stopped))
    assert code == 0 and "torn" in (stopped / "report.md").read_text()
    code, said = cli(capsys, "resume", str(stopped))
    assert code == 0, said
    assert_sound(stopped)


def _garbage(run: Path) -> int:
    lines = _lines(run)
    lines.insert(2, b"\x00\xffnot an event at all\n")
    (run / "events.jsonl").write_bytes(b"".join(lines))
    return 3


def _foreign(run: Path) -> int:
    text = "".join(json.dumps({"level": "info", "msg": f"step {i}"}) + "\n" for i in range(5))
    (run / "events.jsonl").write_text(text)
    return 1


@pytest.mark.parametrize(
    ("damage", "resume_says", "report"),
    [
        (_garbage, "the log is damaged from this line on", "are not events (first: line 3)"),
        (_foreign, "not an orgloop event log", None),
    ],
    ids=["garbage-mid-log", "foreign"],
)
def test_a_log_that_cannot_be_replayed_is_named_and_left_as_it_is(
    stopped: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], int],
    resume_says: str,
    report: str | None,
) -> None:
    line = damage(stopped)
    before = (stopped / "events.jsonl").read_bytes()
    code, said = cli(capsys, "resume", str(stopped))
    assert code == 2 and f"events.jsonl:{line}: " in said and resume_says in said
    assert (stopped / "events.jsonl").read_bytes() == before
    code, said = cli(capsys, "report", str(stopped))
    if report is None:  # nothing of orgloop's to report on
        assert code == 2 and "holds no orgloop events" in said
    else:
        assert code == 0 and report in (stopped / "report.md").read_text()
    assert (stopped / "events.jsonl").read_bytes() == before


def test_a_log_two_engines_wrote_is_detected_and_explained(
    stopped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # what two engines without a run lock leave: both replayed the same log, then both appended
    # from the same next seq, so the numbers run on and then start again
    lines = _lines(stopped)
    second = [
        json.dumps({"seq": len(lines) + i, "t": 2.0, "kind": "run_resumed",
                    "data": {"brain": "offline", "pending": 1}}).encode() + b"\n"
        for i in range(2)
    ]  # fmt: skip
    (stopped / "events.jsonl").write_bytes(b"".join(lines + second + second[:1]))
    code, said = cli(capsys, "resume", str(stopped))
    assert code == 2 and f"events.jsonl:{len(lines) + 3}: " in said
    assert "two engines wrote this log at once" in said and "start a new run" in said
    code, said = cli(capsys, "report", str(stopped))
    assert code == 0
    assert "two engines wrote events.jsonl at once" in (stopped / "report.md").read_text()


def test_an_empty_log_is_not_a_run(stopped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (stopped / "events.jsonl").write_bytes(b"")
    code, said = cli(capsys, "resume", str(stopped))
    assert code == 2 and "does not start with run_started" in said
    code, said = cli(capsys, "report", str(stopped))
    assert code == 2 and "holds no orgloop events" in said


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` on a read-only bind mount of itself (root needs a mount: file modes do not stop
    root); skips where mounting is not allowed."""
    bound = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(path)], check=True, capture_output=True
        )
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_read_only_log_is_refused_before_anything_is_replayed(
    stopped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (stopped / "events.jsonl").read_bytes()
    with read_only(stopped / "events.jsonl"):
        code, said = cli(capsys, "resume", str(stopped))
        assert code == 2 and "events.jsonl is read-only" in said and "Make it writable" in said
        code, _ = cli(capsys, "report", str(stopped))  # reading it is fine
        assert code == 0
    assert (stopped / "events.jsonl").read_bytes() == before


def test_a_read_only_run_folder_is_refused_with_what_to_do(
    stopped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with read_only(stopped):
        code, said = cli(capsys, "resume", str(stopped))
        assert code == 2 and "the file system is read-only" in said and "writable" in said
    assert read_events(stopped / "events.jsonl")[-1].kind != "run_finished"


# ---- control.jsonl


def _run_with_control(root: Path, control: bytes | None, *, folder: bool = False) -> Engine:
    engine = Engine.start(root, brain=OfflineBrain(), executor=InstantExecutor(toy_score))
    path = engine.run_dir / "control.jsonl"
    if folder:
        path.mkdir()
    elif control is not None:
        path.write_bytes(control)
    asyncio.run(engine.run())
    return engine


@pytest.mark.parametrize(
    "junk",
    [
        b"not json\n",
        b"\x00\x01\xfe\xff binary\n",
        b'{"level": "info", "msg": "a log line from some other program"}\n',
        b'["a", "list"]\n',
        b'{"cmd": "pause", "line": 1000000}\n{"cmd": "resume"}\n',
        b"x" * 200_000 + b"\n",
    ],
    ids=["text", "binary", "foreign-json", "not-an-object", "forged-line", "huge-line"],
)
def test_garbage_in_control_is_reported_and_the_commands_after_it_are_heard(
    tmp_path: Path, junk: bytes
) -> None:
    root = small_org(tmp_path / "org", experiments=2, baseline_runs=1)
    engine = _run_with_control(root, junk + b'{"cmd": "stop"}\n')
    events = read_events(engine.run_dir / "events.jsonl")
    controls = [e.data for e in events if e.kind == "control"]
    assert controls[-1]["cmd"] == "stop" and controls[-1]["line"] == junk.count(b"\n")
    assert engine.state.finish_reason == "stopped by human"
    if b'"cmd"' not in junk:
        assert "error" in controls[0] and len(json.dumps(controls[0])) < 1000


def test_a_control_path_that_cannot_be_read_is_said_once_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    root = small_org(tmp_path / "org", experiments=2, baseline_runs=1)
    engine = _run_with_control(root, None, folder=True)
    events = read_events(engine.run_dir / "events.jsonl")
    problems = [e.data["error"] for e in events if e.kind == "control"]
    assert problems == ["control.jsonl cannot be read (is a folder, not a file); commands are "
                        "not heard"]  # fmt: skip
    assert_sound(engine.run_dir)
