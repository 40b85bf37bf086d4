"""The app on a real terminal: `python -m orgloop.tui RUN` in a detached tmux session, keys sent
with `send-keys`, the screen read back with `capture-pane`."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _runs import control

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Terminal:
    """One tmux server of our own (its own socket), one 120×40 session in it."""

    def __init__(self, command: str) -> None:
        self.socket = f"orgloop-tui-test-{os.getpid()}"
        self.tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
        self.path = self.tmux("display-message", "-p", "#{socket_path}").strip()

    def tmux(self, *args: str) -> str:
        # pytest sets COLUMNS and LINES; left in the server's environment they would tell the
        # app its terminal is 80×24 whatever the pane's size.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10, env=env
        )
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "app", *keys)

    def alive(self) -> bool:
        return "app" in self.tmux("list-sessions", "-F", "#{session_name}")

    def close(self) -> None:
        self.tmux("kill-server")
        if self.path:  # the server leaves its socket file behind
            Path(self.path).unlink(missing_ok=True)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def terminal(live: Path) -> Iterator[Terminal]:
    term = Terminal(f"{shlex.quote(sys.executable)} -m orgloop.tui {shlex.quote(str(live))}")
    try:
        yield term
    finally:
        term.close()


def test_the_app_runs_on_a_real_terminal(terminal: Terminal, live: Path) -> None:
    # The footer is the last thing drawn, and only once the app has the terminal's full size.
    wait_for(lambda: "p Pause" in terminal.screen(), "the app")
    screen = terminal.screen()
    assert "● live" in screen and "experiments  6 / 10" in screen and "trainer" in screen
    terminal.keys("2")
    wait_for(lambda: "kickoff" in terminal.screen(), "the message stream")
    terminal.keys("p")
    wait_for(lambda: control(live) != [], "control.jsonl")
    assert [json.loads(line) for line in control(live)] == [{"cmd": "pause"}]
    wait_for(lambda: "1 command not yet read" in terminal.screen(), "the status line")
    terminal.keys("q")
    wait_for(lambda: not terminal.alive(), "the app to quit")
