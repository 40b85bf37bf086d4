"""A real terminal for the TUI tests: a tmux server of our own, keys sent with `send-keys`, the
screen read back with `capture-pane`."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class Terminal:
    """One tmux server of our own (its own socket), one session in it (120×40 unless told)."""

    def __init__(
        self,
        command: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        size: tuple[int, int] = (120, 40),
    ) -> None:
        self.socket = f"orgloop-tui-test-{os.getpid()}"
        # pytest sets COLUMNS and LINES; left in the server's environment they would tell the
        # app its terminal is 80×24 whatever the pane's size.
        self.env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        self.env.update(env or {})
        self.cwd = cwd
        width, height = size
        self.tmux("new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), command)
        self.path = self.tmux("display-message", "-p", "#{socket_path}").strip()

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=self.env,
            cwd=self.cwd,
        )
        return out.stdout

    def screen(self) -> str:
        """The screen without trailing blanks (tmux pads lines to the pane's width)."""
        raw = self.tmux("capture-pane", "-p", "-t", "app")
        return "\n".join(line.rstrip() for line in raw.rstrip("\n").split("\n"))

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "app", *keys)

    def alive(self) -> bool:
        return "app" in self.tmux("list-sessions", "-F", "#{session_name}")

    def close(self) -> None:
        self.tmux("kill-server")
        if self.path:  # the server leaves its socket file behind
            Path(self.path).unlink(missing_ok=True)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
