"""What an experiment's process is given: its environment (an allowlist, and never a name that
looks like a secret), its command (`python` means orgloop's own interpreter), its resource limits
read from sizes, and what the confinement needs to know about this machine (the unix sockets
listening here, the folders the interpreter lives in).

Pure functions of orgloop's own environment and /proc; nothing here starts a process.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any

from ._devices import Device

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


def passed_through(passthrough: tuple[str, ...]) -> dict[str, str]:
    """The values here of the org's `experiment.env` names that may reach an experiment: what a
    driver ships to the node that runs it."""
    return {k: v for k, v in os.environ.items() if k in passthrough and not _SECRET.search(k)}


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


def listening_sockets() -> list[str]:
    """The paths of the unix sockets bound in orgloop's network namespace (/proc/net/unix)."""
    out = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
            fields = line.split(None, 7)
            if len(fields) == 8 and fields[7].startswith("/"):
                out.add(fields[7])
    return sorted(out)


def interpreter_paths() -> list[str]:
    """What `python` needs, bound back if it sits under a hidden folder (a venv under /tmp)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    return sorted(p for p in paths if p and p != "/")


__all__ = [
    "ENV_ALLOW",
    "interpreter_paths",
    "listening_sockets",
    "parse_size",
    "resolve_command",
    "scrubbed_env",
]
