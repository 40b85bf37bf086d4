"""Helpers for sandbox tests: a tiny org repository, an ExperimentSpec around one train.py, and a
way to find processes an experiment left behind.

Processes inside the sandbox's PID namespace have numbers of their own, so tests never compare
pids across it: each test has a marker, every process the test's experiment starts carries it in
its command line (`sleeper(marker)`), and `survivors(marker)` scans the host's /proc for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import textwrap
from pathlib import Path
from typing import Any

from orgloop.org import Metric
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors import ExperimentResult, ExperimentSpec, LocalExecutor

PREPARE = "import json\nprint('---')\nprint('val_bpb: 1.5')\n"
SLEEP = shutil.which("sleep") or "/bin/sleep"


def make_repo(root: Path, files: dict[str, str] | None = None) -> tuple[Path, str]:
    """A git repo with a protected prepare.py and a train.py; returns (root, base commit)."""
    root.mkdir(parents=True)
    for name, text in {"prepare.py": PREPARE, "train.py": "print('hi')\n", **(files or {})}.items():
        (root / name).write_text(text)
    git = Git(root)
    git.init()
    return root, git.commit_all("base")


def spec(repo: tuple[Path, str], train: str, exp: str = "e1", **kw: Any) -> ExperimentSpec:
    root, base = repo
    args: dict[str, Any] = {
        "id": exp,
        "repo": root,
        "base": base,
        "files": {"train.py": textwrap.dedent(train)},
        "command": "python train.py",
        "metric": Metric("val_bpb", "minimize", bound=0.5),
        "timeout": 20.0,
        "workdir": root.parent / "runs" / exp,
        "protected": ("prepare.py",),
        **kw,
    }
    return ExperimentSpec(**args)


def run(
    s: ExperimentSpec, executor: LocalExecutor | None = None, slot: int = 0
) -> ExperimentResult:
    return asyncio.run((executor or LocalExecutor(1)).run(s, slot))


def new_marker() -> str:
    return f"orgloop-test-{secrets.token_hex(6)}"


def sleeper(marker: str, seconds: int = 1000) -> str:
    """Python that starts `sleep` with the marker as its argv[0] and returns the Popen."""
    return f"subprocess.Popen([{marker!r}, {str(seconds)!r}], executable={SLEEP!r})"


def survivors(marker: str) -> list[int]:
    """Live processes on this machine whose command line holds `marker`."""
    out = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    out.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return out


def kill_survivors(marker: str) -> None:
    for pid in survivors(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
