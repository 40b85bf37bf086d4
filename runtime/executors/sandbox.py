"""Isolation for one experiment process, and the slots (GPUs or CPU) experiments run in.

What each experiment process gets: a fresh session and process group; a first process
(`_child.py`) that sets resource limits (address space, processes, file size), is a subreaper, and
kills every descendant when the command exits or the time is up; a hard timeout after which the
whole tree is killed (SIGTERM to the first process, which freezes and kills its descendants; SIGKILL
to the group a second later; then a sweep for any process still carrying the experiment's
environment tag); an environment built from an allowlist (nothing whose name holds KEY, TOKEN,
SECRET, PASSWORD or CREDENTIAL, even when the org asks for it); its own TMPDIR; no network, through
a new network namespace (`unshare -n`, or `unshare -rn` for a user without root) where the machine
allows it; `CUDA_VISIBLE_DEVICES` set to the slot's GPU, or an even share of the CPU threads when
several CPU slots share the machine. What each experiment actually got is recorded (`isolation`).

What it does not do: it is not a container. The experiment runs as the orgloop user and can read and
write whatever that user can outside its worktree; HOME is the user's HOME (caches live there);
root ignores the process limit and file modes; on a GPU slot the address-space limit is off (CUDA
reserves large virtual ranges) and GPU memory is not limited. Run untrusted code under a separate
user or a VM if that matters. See docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..core.text import clip
from ._child import TAG, freeze_and_kill, tagged
from ._traceback import failure

ENV_ALLOW = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "USER",
    "LD_LIBRARY_PATH",
    "CUDA_HOME",
    "CUDA_PATH",
    "CUDA_DEVICE_ORDER",
    "XDG_CACHE_HOME",
    "HF_HOME",
    "TORCH_HOME",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VIRTUAL_ENV",
    "UV_CACHE_DIR",
    "PYENV_ROOT",
    "PYENV_VERSION",
)
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
LOG_TAIL = 4 << 20
"""How much of an experiment's log is read back for the metric and the record."""
_CHILD = str(Path(__file__).with_name("_child.py"))
_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_size(value: Any) -> int | None:
    """Bytes from 16G, 512M, 2048 (bytes) and the like; None when unset or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    m = _SIZE.match(str(value))
    if not m:
        return None
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


# ---- slots


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


# ---- what a process may see


@functools.cache
def network_namespace() -> tuple[str, ...]:
    """The command prefix that gives a process no network here: `unshare -n` (root), else
    `unshare -rn` (an unprivileged user namespace), else () where neither works."""
    if not shutil.which("unshare"):
        return ()
    for prefix in (("unshare", "-n"), ("unshare", "-r", "-n")):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.SubprocessError):
            continue
    return ()


def scrubbed_env(passthrough: tuple[str, ...], device: Device) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOW or k in passthrough}
    env = {k: v for k, v in env.items() if not _SECRET.search(k)}
    env["CUDA_VISIBLE_DEVICES"] = ",".join(device.gpus)
    if device.gpus:  # nvidia-smi numbers GPUs in PCI order; CUDA's default order may differ
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if device.threads is not None:  # two slots each starting every core's worth of threads thrash
        for name in _THREADS:
            env.setdefault(name, str(device.threads))
    return env


def resolve_command(command: str) -> str:
    """`python ...` means the interpreter orgloop runs under, so experiments see its packages."""
    for prefix in ("python ", "python3 "):
        if command.startswith(prefix):
            return f"{sys.executable} {command[len(prefix) :]}"
    return command


# ---- running one command


@dataclass(frozen=True)
class ProcessSpec:
    """One command for the sandbox: what runs, where, for how long, and what it may have."""

    command: str
    cwd: Path
    log: Path
    """Where its stdout and stderr go; `log.report` holds what the first process measured."""
    timeout: float
    limits: Mapping[str, Any] = field(default_factory=dict)
    """The sandbox role's `limits` (memory, file_size, processes)."""
    env: tuple[str, ...] = ()
    """Environment variables passed through (never ones holding KEY/TOKEN/SECRET)."""
    network: bool = False
    seed: int = 0
    """ORGLOOP_SEED for the process."""
    evaluate: bool = False
    """The protected evaluation, not the experiment's own command (for messages only)."""


@dataclass(frozen=True)
class Outcome:
    status: str
    """ok, crash or timeout."""
    output: str
    reason: str = ""
    peak_gb: float = 0.0
    """Peak resident memory of the largest process in the tree."""
    gpu_peak_gb: float = 0.0
    """Peak memory in use on the slot's GPU while the command ran (0 without nvidia-smi)."""
    isolation: Mapping[str, Any] = field(default_factory=dict)

    def merge(self, later: Outcome) -> Outcome:
        return replace(
            later,
            output=self.output + later.output,
            peak_gb=max(self.peak_gb, later.peak_gb),
            gpu_peak_gb=max(self.gpu_peak_gb, later.gpu_peak_gb),
            isolation=self.isolation,
        )


def _tail(log: BinaryIO) -> str:
    """The log's last LOG_TAIL bytes, read through the open handle (the experiment may have
    deleted the file): a summary is at the end, and a runaway print loop can write gigabytes."""
    size = log.seek(0, os.SEEK_END)
    log.seek(max(0, size - LOG_TAIL))
    text = log.read().decode("utf-8", errors="replace")
    return text if size <= LOG_TAIL else f"[... {size - LOG_TAIL} bytes cut ...]\n{text}"


class _GpuPeak:
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


class Sandbox:
    """Runs one command under the isolation described in the module docstring."""

    def __init__(
        self, *, network_isolation: bool = True, kill_grace: float = 1.0, gpu_poll: float = 1.0
    ) -> None:
        self.network_isolation = network_isolation
        self.kill_grace = kill_grace
        self.gpu_poll = gpu_poll

    def limits(self, spec: ProcessSpec, device: Device) -> dict[str, int]:
        out = {}
        memory = parse_size(spec.limits.get("memory"))
        if memory and not device.gpus:
            out["RLIMIT_AS"] = memory
        if (fsize := parse_size(spec.limits.get("file_size"))) is not None:
            out["RLIMIT_FSIZE"] = fsize
        return out

    async def run(self, spec: ProcessSpec, device: Device) -> Outcome:
        command, cwd, log_path, timeout = spec.command, spec.cwd, spec.log, spec.timeout
        evaluate = spec.evaluate
        report = log_path.with_suffix(".report")
        processes = spec.limits.get("processes")
        setup = {"limits": self.limits(spec, device), "processes": processes}
        # By path and without site: the first process needs the standard library only.
        argv = [sys.executable, "-I", "-S", _CHILD, json.dumps(setup), str(report)]
        argv += ["--", "/bin/sh", "-c", resolve_command(command)]
        netns = network_namespace() if self.network_isolation and not spec.network else ()
        tag = secrets.token_hex(8)
        tmp = log_path.parent / f"tmp-{log_path.stem}"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {
            **scrubbed_env(spec.env, device),
            TAG: tag,
            "TMPDIR": str(tmp),
            "ORGLOOP_SEED": str(spec.seed),
        }
        started = time.monotonic()
        with open(log_path, "w+b") as log:
            proc = await asyncio.create_subprocess_exec(
                *netns,
                *argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            gpu = _GpuPeak(device, self.gpu_poll)
            sampler = asyncio.ensure_future(gpu.run())
            try:
                code = await asyncio.wait_for(proc.wait(), timeout)
                timed_out = False
            except TimeoutError:
                timed_out = True
                await self._kill(proc)
                code = proc.returncode if proc.returncode is not None else -9
            finally:
                sampler.cancel()
                if proc.returncode is None:  # cancelled: the run is stopping; so is the experiment
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    freeze_and_kill(lambda: tagged(tag))
            seconds = time.monotonic() - started
            # Anything still carrying the tag escaped the first process (or outlived it).
            escaped = await asyncio.to_thread(freeze_and_kill, lambda: tagged(tag))
            output = _tail(log)
        shutil.rmtree(tmp, ignore_errors=True)
        got: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            got = json.loads(report.read_text())
        isolation = {
            "session": True,
            "subreaper": bool(got.get("subreaper")),
            "timeout_s": timeout,
            "env": sorted(k for k in env if k not in (TAG,)),
            "network": "none" if netns else "host",
            "network_via": " ".join(netns),
            "limits": got.get("limits", {}),
            "processes_enforced": processes is not None and os.getuid() != 0,
            "tmpdir": "own",
            "gpus": list(device.gpus),
            "killed_leftovers": int(got.get("leftovers", 0)) + escaped,
        }
        peak_gb = int(got.get("peak_kib", 0)) / (1 << 20)
        gpu_gb = gpu.peak
        if timed_out:
            reason = f"timed out after {seconds:.1f}s (limit {timeout:g}s); process tree killed"
            return Outcome("timeout", output, reason, peak_gb, gpu_gb, isolation)
        if code != 0:
            what = "evaluation" if evaluate else "command"
            reason = f"{what} exited {code}: {clip(failure(output, cwd), 300)}"
            return Outcome("crash", output, reason, peak_gb, gpu_gb, isolation)
        return Outcome("ok", output, "", peak_gb, gpu_gb, isolation)

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the first process (it kills its descendants), then SIGKILL the group."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), self.kill_grace)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
