"""The app on a real terminal (tmux): `python -m orgloop.tui RUN` on a recorded run, and
`orgloop run --tui` on a real one."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runs import OFFLINE, control, small_org
from _terminal import Terminal, wait_for

from orgloop.runtime.core.lock import RunLock

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture
def terminal(live: Path) -> Iterator[Terminal]:
    """The app on the live cut, with this process holding the run's lock as its engine would."""
    with RunLock(live):
        term = Terminal(f"{shlex.quote(sys.executable)} -m orgloop.tui {shlex.quote(str(live))}")
        try:
            yield term
        finally:
            term.close()


def test_the_app_runs_on_a_real_terminal(terminal: Terminal, live: Path) -> None:
    # The footer is the last thing drawn, and only once the app has the terminal's full size.
    wait_for(lambda: "p Pause" in terminal.screen(), "the app")
    screen = terminal.screen()
    assert "● live" in screen and "exp 6/10" in screen and "trainer" in screen
    terminal.keys("2")
    wait_for(lambda: "kickoff" in terminal.screen(), "the message stream")
    terminal.keys("p")
    wait_for(lambda: control(live) != [], "control.jsonl")
    assert [json.loads(line) for line in control(live)] == [{"cmd": "pause"}]
    wait_for(lambda: "1 command not yet read" in terminal.screen(), "the status line")
    terminal.keys("q")
    wait_for(lambda: not terminal.alive(), "the app to quit")


def test_run_tui_leaves_nothing_on_the_screen_but_the_app(tmp_path: Path) -> None:
    """Nothing else writes while the app owns the terminal: every frame is the app's (status line
    on top, tab bar under it, footer at the bottom), and a full repaint of the finished run's
    screen changes nothing. After quitting, the closing summary is on the normal screen."""
    org = small_org(tmp_path / "org", experiments=3, baseline_runs=1)
    python = shlex.quote(sys.executable)
    command = f"{python} -m orgloop run {shlex.quote(str(org))} --tui; echo exit $?; sleep 60"
    term = Terminal(command, env={"TINYLM_BUDGET": "0.01", **OFFLINE})
    try:
        frames: list[str] = []

        def finished() -> bool:
            frames.append(term.screen())
            return "■ finished" in frames[-1]

        wait_for(finished, "the run to finish under the app", timeout=300)
        # From its first whole frame (the footer is drawn last) to the end of the run.
        up = next(i for i, f in enumerate(frames) if " q Quit" in f.split("\n")[-1])
        app_frames = frames[up:]
        assert len(app_frames) >= 3, frames[-1]
        for frame in app_frames:
            rows = frame.split("\n")
            assert rows[0].startswith(" tinylm "), frame
            assert rows[1].startswith(" Org [1]  Messages [2]"), frame
            assert " q Quit" in rows[-1], frame
        before = settled(term)
        term.tmux("resize-window", "-t", "app", "-x", "119")
        wait_for(lambda: without_toasts(term.screen()) != before, "the repaint at 119 columns")
        term.tmux("resize-window", "-t", "app", "-x", "120")
        try:
            wait_for(lambda: without_toasts(term.screen()) == before, "a repaint like the screen")
        except AssertionError:
            raise AssertionError(
                f"{before}\n\nrepainted:\n{without_toasts(term.screen())}"
            ) from None
        term.keys("q")
        wait_for(lambda: "exit 0" in term.screen(), "the app to quit and the run to end")
        after = term.screen()
        assert "done (experiment budget spent)" in after and "results:" in after
    finally:
        term.close()


def without_toasts(screen: str) -> str:
    """The screen with the corner where notifications stack blanked: they come and go on their
    own clock (a new best stays ten seconds), and are the app's own."""
    rows = screen.split("\n")
    corner = range(max(0, len(rows) - 14), len(rows) - 1)
    return "\n".join(row[:70] if i in corner else row for i, row in enumerate(rows))


def settled(term: Terminal) -> str:
    """The screen once it has stopped changing (the org snapshot, loaded in the app's worker
    thread, can land after the run's last event on a busy machine)."""
    last = ""
    while True:
        now = without_toasts(term.screen())
        if now == last:
            return now
        last = now
        time.sleep(1.0)
