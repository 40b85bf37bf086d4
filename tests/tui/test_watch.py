"""`orgloop watch` finds the run it was pointed at: the newest one here, an org's newest, or one
not started yet, which it waits for. Each runs the real command in a real terminal (tmux)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _runs import RECORDED, lines
from _terminal import Terminal, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
WATCH = f"{shlex.quote(sys.executable)} -m orgloop watch"


def two_runs(org: Path) -> tuple[Path, Path]:
    """An org folder of the built-in kind's shape with an older run cut short (still going) and
    a newer finished one."""
    runs = org / ".orgloop" / "runs"
    old, new = runs / "20260101-080000-aaaa", runs / "20260102-080000-bbbb"
    for run in (old, new):
        shutil.copytree(RECORDED, run)
    (old / "events.jsonl").write_bytes(b"".join(lines(RECORDED / "events.jsonl")[:150]))
    (org / "ORG.md").write_text("---\nname: tinylm\n---\n")
    return old, new


def open_and_quit(term: Terminal, command: str, expect: str) -> str:
    term.keys(command, "Enter")
    wait_for(lambda: " q Quit" in term.screen(), f"the app from {command!r}")
    wait_for(lambda: expect in term.screen().split("\n")[0], f"{expect!r} from {command!r}")
    screen = term.screen()
    term.keys("q")
    wait_for(lambda: " q Quit" not in term.screen(), "the app to quit")
    return screen


def test_watch_opens_the_newest_run_here_or_the_one_named(tmp_path: Path) -> None:
    old, _ = two_runs(tmp_path / "orgloop-tinylm")
    term = Terminal("bash --norc --noprofile", cwd=tmp_path)
    try:
        open_and_quit(term, WATCH, "■ finished")  # no argument: ./orgloop-* is searched
        open_and_quit(term, f"{WATCH} orgloop-tinylm", "■ finished")  # an org: its newest run
        open_and_quit(term, f"{WATCH} {shlex.quote(str(old))}", "no engine")  # the run named
    finally:
        term.close()


def test_watch_waits_for_an_orgs_first_run_and_its_first_event(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    (org / "ORG.md").write_text("---\nname: tinylm\n---\n")
    term = Terminal(f"{WATCH} {shlex.quote(str(org))}; sleep 30", cwd=tmp_path)
    try:
        wait_for(lambda: "waiting for the first" in term.screen(), "the wait for a first run")
        run = org / ".orgloop" / "runs" / "20260101-080000-aaaa"
        run.mkdir(parents=True)
        wait_for(lambda: "waiting for" in term.screen().split("\n")[0], "the app on the run")
        (run / "events.jsonl").write_bytes((RECORDED / "events.jsonl").read_bytes())
        wait_for(lambda: "■ finished" in term.screen().split("\n")[0], "the run's events")
    finally:
        term.close()


def test_watch_refuses_a_folder_that_is_neither_a_run_nor_an_org(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orgloop", "watch", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert str(tmp_path) in done.stderr and "neither a run" in done.stderr
    assert "Traceback" not in done.stderr
