"""Isolation for one experiment process, and the slots (GPUs or CPU) experiments run in.

What each experiment gets: a fresh session and process group; a first process (`_child.py`) that
sets resource limits (address space, processes, file size), is a subreaper, and kills every
descendant when it stops; a hard timeout after which the whole tree is killed (SIGTERM, then SIGKILL
a second later); an environment built from an allowlist (nothing whose name holds KEY, TOKEN or
SECRET); no network, through a new network namespace (`unshare -n`) where the machine allows it;
`CUDA_VISIBLE_DEVICES` set to the slot's GPU. What each experiment actually got is recorded.

What it does not do: it is not a container. The experiment can read files outside its worktree
that the orgloop user can read, and on a GPU slot the address-space limit is off (CUDA reserves
large virtual ranges). Run untrusted code under a separate user or a VM if that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executor import ExperimentSpec

ENV_ALLOW = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMPDIR",
    "TZ",
    "USER",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VIRTUAL_ENV",
    "UV_CACHE_DIR",
    "PYENV_ROOT",
    "PYENV_VERSION",
)
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


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


@dataclass(frozen=True)
class Device:
    """One experiment slot: a GPU (`gpus` holds its index) or a share of the CPU."""

    hardware: str
    gpus: tuple[str, ...] = ()


def detect_gpus() -> list[str]:
    """GPU names from nvidia-smi; empty when there is none."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def detect_slots(parallel: int) -> list[Device]:
    """One slot per GPU found (at most `parallel`), else `parallel` CPU slots."""
    gpus = detect_gpus()
    if gpus:
        return [
            Device(g.split(",", 1)[1].strip(), (g.split(",", 1)[0].strip(),))
            for g in gpus[:parallel]
        ]
    cpu = f"cpu: {os.cpu_count()} cores"
    return [Device(cpu) for _ in range(parallel)]


@functools.cache
def network_namespace_works() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return (
            subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


@dataclass(frozen=True)
class Outcome:
    status: str
    """ok, crash or timeout."""
    output: str
    reason: str = ""
    peak_gb: float = 0.0
    isolation: Mapping[str, Any] = field(default_factory=dict)

    def merge(self, later: Outcome) -> Outcome:
        return replace(
            later,
            output=self.output + later.output,
            peak_gb=max(self.peak_gb, later.peak_gb),
            isolation=self.isolation,
        )


def scrubbed_env(passthrough: tuple[str, ...], device: Device) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOW or k in passthrough}
    env = {k: v for k, v in env.items() if not _SECRET.search(k)}
    env["CUDA_VISIBLE_DEVICES"] = ",".join(device.gpus)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def resolve_command(command: str) -> str:
    """`python ...` means the interpreter orgloop runs under, so experiments see its packages."""
    for prefix in ("python ", "python3 "):
        if command.startswith(prefix):
            return f"{sys.executable} {command[len(prefix) :]}"
    return command


class Sandbox:
    """Runs one command under the isolation described in the module docstring."""

    def __init__(self, *, network_isolation: bool = True, kill_grace: float = 1.0) -> None:
        self.network_isolation = network_isolation
        self.kill_grace = kill_grace

    def limits(self, spec: ExperimentSpec, device: Device) -> dict[str, int]:
        out = {}
        memory = parse_size(spec.limits.get("memory"))
        if memory and not device.gpus:
            out["RLIMIT_AS"] = memory
        if (nproc := spec.limits.get("processes")) is not None:
            out["RLIMIT_NPROC"] = int(nproc)
        if (fsize := parse_size(spec.limits.get("file_size"))) is not None:
            out["RLIMIT_FSIZE"] = fsize
        return out

    async def run(
        self,
        command: str,
        cwd: Path,
        spec: ExperimentSpec,
        device: Device,
        log_path: Path,
        timeout: float,
        *,
        evaluate: bool = False,
    ) -> Outcome:
        limits = self.limits(spec, device)
        report = log_path.with_suffix(".peak")
        argv = [
            sys.executable,
            "-m",
            "orgloop.runtime._child",
            json.dumps(limits),
            str(report),
            "--",
            "/bin/sh",
            "-c",
            resolve_command(command),
        ]
        isolated_net = self.network_isolation and not spec.network and network_namespace_works()
        if isolated_net:
            argv = ["unshare", "-n", *argv]
        isolation = {
            "process_group": True,
            "timeout_s": timeout,
            "env": "allowlist",
            "network": "none" if isolated_net else "host",
            "limits": limits,
            "gpus": list(device.gpus),
        }
        started = time.monotonic()
        with open(log_path, "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=scrubbed_env(spec.env, device),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = await asyncio.wait_for(proc.wait(), timeout)
                timed_out = False
            except TimeoutError:
                timed_out = True
                await self._kill(proc)
                code = proc.returncode if proc.returncode is not None else -9
        output = log_path.read_text(encoding="utf-8", errors="replace")
        peak_gb = 0.0
        if report.exists():
            with contextlib.suppress(ValueError):
                peak_gb = int(report.read_text()) / (1 << 20)
        if timed_out:
            reason = f"timed out after {time.monotonic() - started:.1f}s (limit {timeout:.0f}s)"
            return Outcome("timeout", output, reason, peak_gb, isolation)
        if code != 0:
            tail = output.strip().splitlines()[-1:] or ["(no output)"]
            what = "evaluation" if evaluate else "command"
            return Outcome(
                "crash", output, f"{what} exited {code}: {tail[0][:200]}", peak_gb, isolation
            )
        return Outcome("ok", output, "", peak_gb, isolation)

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM the first process (it kills its descendants), then SIGKILL the group."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), self.kill_grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
