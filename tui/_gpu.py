"""GPU memory in use, per GPU of this machine, from `nvidia-smi` (on PATH or not at all).

`query()` runs it once (a fraction of a second) and returns what it said; the app calls it in a
worker thread every few seconds while experiments run, never on the UI's thread. GPUs on other
machines (a Ray cluster) are not seen: the experiment's own record says what it used when it
finishes.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

QUERY = ("--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits")


@dataclass(frozen=True)
class GpuMemory:
    index: str
    used_gb: float
    total_gb: float


def parse(output: str) -> dict[str, GpuMemory]:
    """nvidia-smi's CSV (index, used MiB, total MiB) by GPU index; lines that do not read are
    skipped."""
    out: dict[str, GpuMemory] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 3:
            continue
        try:
            used, total = float(cells[1]) / 1024, float(cells[2]) / 1024
        except ValueError:
            continue
        out[cells[0]] = GpuMemory(cells[0], used, total)
    return out


def available() -> bool:
    return shutil.which("nvidia-smi") is not None


def query(timeout: float = 5.0) -> dict[str, GpuMemory]:
    """What nvidia-smi says now; empty where there is none or it fails."""
    if not available():
        return {}
    try:
        done = subprocess.run(
            ["nvidia-smi", *QUERY], capture_output=True, text=True, timeout=timeout, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse(done.stdout)
