"""Experiment slots: one per GPU that nvidia-smi (or torch) lists, else `parallel` shares of the
CPU; and the sampler that follows a GPU slot's memory while an experiment runs.

Nothing here starts an experiment or decides what it may do (`sandbox.py` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Device:
    """One experiment slot: a GPU (`gpus` holds its index) or a share of the CPU."""

    hardware: str
    gpus: tuple[str, ...] = ()
    threads: int | None = None
    """CPU threads for numeric libraries: the cores left to experiments, shared by the slots."""


def _nvidia_smi(*query: str) -> list[list[str]]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", *query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]


def _torch_gpus() -> list[tuple[str, str]]:
    """GPUs as torch sees them, for machines with CUDA but no nvidia-smi on PATH. Imports torch
    (seconds) only when it is installed; torch's indices are already relative to the user's
    CUDA_VISIBLE_DEVICES, so they are mapped back to what the user wrote."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return []
    try:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        names = [torch.cuda.get_device_name(i) for i in range(count)]
        totals = [torch.cuda.get_device_properties(i).total_memory >> 20 for i in range(count)]
    except Exception:  # a broken CUDA install means no GPU, not a failed run
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",")] if visible else [str(i) for i in range(count)]
    return [(ids[i], f"{names[i]}, {totals[i]} MiB") for i in range(min(count, len(ids)))]


def detect_gpus() -> list[tuple[str, str]]:
    """(index, description) of each GPU experiments may use: nvidia-smi's list, else torch's;
    only those in CUDA_VISIBLE_DEVICES when the user set it."""
    rows = _nvidia_smi("--query-gpu=index,uuid,name,memory.total")
    if not rows:
        return _torch_gpus()
    gpus = [(r[0], r[1], f"{r[2]}, {r[3]} MiB") for r in rows if len(r) >= 4]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        by_id = {g[0]: g for g in gpus} | {g[1]: g for g in gpus}
        gpus = [by_id[w] for w in wanted if w in by_id]
    return [(index, desc) for index, _, desc in gpus]


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "cpu"


def detect_slots(parallel: int) -> list[Device]:
    """One slot per GPU found (at most `parallel`), else `parallel` CPU slots."""
    gpus = detect_gpus()
    if gpus:
        return [Device(desc, (index,)) for index, desc in gpus[:parallel]]
    cores = os.cpu_count() or 1
    # One core stays with orgloop (and the TUI): BLAS threads that spin on a busy core make a
    # numpy experiment several times slower (tinylm on a busy 2-core machine: 6.7 s vs 46 s).
    threads = max(1, (cores - 1) // parallel)
    return [Device(f"cpu: {_cpu_name()}, {cores} cores", (), threads) for _ in range(parallel)]


class GpuPeak:
    """Samples memory.used of a slot's GPU every `every` seconds until cancelled (nothing on a
    CPU slot or without nvidia-smi). It counts every process on that GPU, not only ours."""

    def __init__(self, device: Device, every: float) -> None:
        self.gpu = device.gpus[0] if device.gpus and shutil.which("nvidia-smi") else None
        self.every = every
        self.peak = 0.0

    async def run(self) -> None:
        while self.gpu is not None:
            rows = await asyncio.to_thread(_nvidia_smi, "--query-gpu=memory.used", "-i", self.gpu)
            with contextlib.suppress(ValueError, IndexError):
                self.peak = max(self.peak, float(rows[0][0]) / 1024)
            await asyncio.sleep(self.every)


__all__ = ["Device", "GpuPeak", "detect_gpus", "detect_slots"]
