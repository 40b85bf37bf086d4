"""Isolation for one experiment process: what it may see, what it may do, and how it ends.

Where the machine allows it (root, or unprivileged user namespaces), the command's first process
(`_child.py`) is PID 1 of new PID, mount and network namespaces (`_namespaces.py`): the experiment
sees and can signal only its own processes, and they all die with that first process. In the mount
namespace the first process confines the experiment (`_confine.py`): the whole file system
read-only but its private copy of the tree, a private /tmp and /dev/shm, a private writable layer
over HOME, the org's `.git` and `.orgloop` and the experiment's own folder hidden, every unix
socket orgloop's network namespace listens on covered; and it drops every capability (no mount,
setns or ptrace; mode bits count even for root). Where cgroup v2 is writable each experiment gets a
cgroup (`_cgroup.py`), killed as a whole when it ends, that records its CPU time (and peak memory
where the memory controller is delegated). Elsewhere the first process is a subreaper in a session
of its own that kills its descendants, and orgloop sweeps for processes still carrying the
experiment's environment tag.

Always: a hard timeout enforced by orgloop itself, which the experiment can neither see nor
signal (it closes a lifeline the first process watches, which then kills everything; a second
later it kills the namespace, the cgroup and the group outright); the same lifeline ends the
experiment if orgloop dies; an environment built from an allowlist (nothing whose name holds KEY,
TOKEN, SECRET, PASSWORD or CREDENTIAL, even when the org asks for it); resource limits; stdout and
stderr copied by orgloop into the log and capped there (`_output.py`); `CUDA_VISIBLE_DEVICES` set
to the slot's GPU, or an even share of the CPU threads. What each experiment actually got is
recorded (`isolation`).

What it does not do: it is not a VM. The experiment runs as orgloop's user (root stays root, with no
capabilities), can read what that user can read (read-only is not invisible: HOME, other folders),
uses the machine's devices (GPUs), and GPU memory is not limited. See docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
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
from . import _cgroup
from ._devices import Device, GpuPeak, detect_gpus, detect_slots
from ._environment import (
    interpreter_paths,
    listening_sockets,
    parse_size,
    resolve_command,
    scrubbed_env,
)
from ._measure import HOOK, hook_env, open_channel
from ._namespaces import Namespaces, namespaces
from ._output import CappedCopy
from ._procs import TAG, freeze_and_kill, tagged
from ._traceback import failure

LOG_TAIL = 4 << 20
"""How much of an experiment's log is read back for the metric and the record."""
_CHILD = str(Path(__file__).with_name("_child.py"))
_F_SETPIPE_SZ = 1031


# ---- what a process may see


def network_namespace() -> tuple[str, ...]:
    """The command prefix that gives a process no network here, () where nothing does."""
    return namespaces(pid=False, network=True).prefix


# ---- running one command


@dataclass(frozen=True)
class ProcessSpec:
    """One command for the sandbox: what runs, where, for how long, and what it may have."""

    command: str
    cwd: Path
    """The experiment's private tree: its working directory and its one lasting writable place."""
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
    hide: tuple[Path, ...] = ()
    """Folders the process must not see at all (the org's .git and .orgloop, its own folder)."""
    max_output: int | None = None
    """stdout and stderr beyond this many bytes are cut in the log (see `_output.py`)."""
    private_env: Mapping[str, str] = field(default_factory=dict)
    """Set for this process only, whatever its name (the evaluation's secret seed)."""
    measured_by: str | None = None
    """`module.function` whose return values reach orgloop through a channel of its own, kept
    beside `log` (see `_measure.py`)."""


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
    """The log's last LOG_TAIL bytes: a summary is at the end, whatever came before it."""
    size = log.seek(0, os.SEEK_END)
    log.seek(max(0, size - LOG_TAIL))
    text = log.read().decode("utf-8", errors="replace")
    return text if size <= LOG_TAIL else f"[... {size - LOG_TAIL} bytes cut ...]\n{text}"


@dataclass
class _Running:
    """One command's moving parts, so that every exit path can end and release them all."""

    ns: Namespaces
    tag: str
    group: _cgroup.Cgroup | None
    lifeline: int
    """orgloop's end of the lifeline: closing it tells the first process to end everything."""
    tmp: Path | None
    fds: list[int] = field(default_factory=list)
    """Descriptors still open here: closed when the command is over, whatever happened."""
    escaped: int = 0
    pids_max: bool = False
    measured: int | None = None
    """The write end of the measurement channel, until the first process has it."""


class Sandbox:
    """Runs one command under the isolation described in the module docstring.

    `namespaces=False` and `cgroups=False` fall back to what a machine without them gets (a
    session, a subreaper, the tag sweep); `network_isolation=False` leaves the network on.
    """

    def __init__(
        self,
        *,
        network_isolation: bool = True,
        namespaces: bool = True,
        cgroups: bool = True,
        kill_grace: float = 1.0,
        gpu_poll: float = 1.0,
    ) -> None:
        self.network_isolation = network_isolation
        self.namespaces = namespaces
        self.cgroups = cgroups
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
        ns = namespaces(pid=self.namespaces, network=self.network_isolation and not spec.network)
        tag = secrets.token_hex(8)
        group = _cgroup.create(tag) if self.cgroups else None
        tmp = None if ns.mount else spec.log.parent / f"tmp-{spec.log.stem}"
        running = _Running(ns, tag, group, -1, tmp)
        env = {
            **scrubbed_env(spec.env, device),
            TAG: tag,
            "TMPDIR": str(tmp) if tmp else "/tmp",
            "ORGLOOP_SEED": str(spec.seed),
            **spec.private_env,
        }
        if spec.measured_by:  # the metric as protected code returned it, on orgloop's channel
            running.measured = open_channel(spec.log.parent)
            running.fds.append(running.measured)
            env.update(hook_env(spec.measured_by, running.measured, env.get("PYTHONPATH")))
        gpu = GpuPeak(device, self.gpu_poll)
        started = time.monotonic()
        try:
            if tmp:
                tmp.mkdir(parents=True, exist_ok=True)
            with open(spec.log, "w+b") as log:
                proc, output = await self._start(spec, device, env, running)
                copy = CappedCopy(output, log, spec.max_output)
                drain = asyncio.ensure_future(asyncio.to_thread(copy.run))
                sampler = asyncio.ensure_future(gpu.run())
                try:
                    timed_out = await self._wait(proc, spec.timeout, running)
                finally:
                    sampler.cancel()
                    if proc.returncode is None:  # cancelled: the run is stopping, so is this
                        self._kill(proc, running)
                    await asyncio.to_thread(self._sweep, running)
                    await self._drained(drain, copy)
                if copy.error is not None:  # the log could not be written: the disk's trouble
                    raise copy.error
                text = _tail(log)
            stats = group.stats() if group else {}
        finally:
            self._release(running)
        seconds = time.monotonic() - started
        got: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            got = json.loads(spec.log.with_suffix(".report").read_text())
        isolation = self._record(spec, running, got, env, device)
        isolation |= {"output_cap": spec.max_output, "output_cut": copy.cut, **stats}
        peak_gb = int(got.get("peak_kib", 0)) / (1 << 20)
        code = proc.returncode if proc.returncode is not None else -9
        if timed_out:
            reason = (
                f"timed out after {seconds:.1f}s (limit {spec.timeout:g}s); process tree killed"
            )
            return Outcome("timeout", text, reason, peak_gb, gpu.peak, isolation)
        if code != 0:
            what = "evaluation" if spec.evaluate else "command"
            reason = f"{what} exited {code}: {clip(failure(text, spec.cwd), 300)}"
            return Outcome("crash", text, reason, peak_gb, gpu.peak, isolation)
        return Outcome("ok", text, "", peak_gb, gpu.peak, isolation)

    async def _start(
        self, spec: ProcessSpec, device: Device, env: Mapping[str, str], running: _Running
    ) -> tuple[asyncio.subprocess.Process, int]:
        """Start the first process; returns it and orgloop's end of its output pipe."""
        lifeline, running.lifeline = os.pipe()
        output, output_w = os.pipe()
        running.fds += [lifeline, output, output_w]
        with contextlib.suppress(OSError):  # fewer, larger reads for a command that prints a lot
            fcntl.fcntl(output, _F_SETPIPE_SZ, 1 << 20)
        report = os.open(spec.log.with_suffix(".report"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        running.fds.append(report)
        group, processes = running.group, spec.limits.get("processes")
        running.pids_max = bool(
            group and processes is not None and group.limit_processes(int(processes))
        )
        setup = {
            "limits": self.limits(spec, device),
            "processes": processes,
            "report": report,
            "lifeline": lifeline,
            "cgroup": str(group.procs) if group else None,
            "confine": self._plan(spec, env) if running.ns.mount else None,
            "measured": running.measured,
        }
        argv = [*running.ns.prefix, sys.executable, "-I", "-S", _CHILD, json.dumps(setup)]
        argv += ["--", "/bin/sh", "-c", resolve_command(spec.command)]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=spec.cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output_w,
                stderr=output_w,
                start_new_session=True,
                pass_fds=(lifeline, report, *([running.measured] if running.measured else [])),
            )
        finally:
            handed = (lifeline, output_w, report, *([running.measured] if running.measured else []))
            for fd in handed:  # the child's now, not orgloop's
                running.fds.remove(fd)
                os.close(fd)
        return proc, output

    def _plan(self, spec: ProcessSpec, env: Mapping[str, str]) -> dict[str, Any]:
        return {
            "tree": str(spec.cwd),
            "hide": [str(p) for p in spec.hide],
            "sockets": listening_sockets(),
            # the hook lives in orgloop's package, hidden with /tmp when orgloop is installed there
            "keep": [*interpreter_paths(), *([str(HOOK)] if spec.measured_by else [])],
            "home": env.get("HOME", ""),
        }

    async def _wait(
        self, proc: asyncio.subprocess.Process, timeout: float, running: _Running
    ) -> bool:
        """Wait for the command; at the timeout, end it. True if it timed out.

        `asyncio.timeout`, not `wait_for`: when the command ends in the very step the task is
        cancelled (the run stopping, on Ctrl-C or a stop), Python 3.11's `wait_for` returns the
        result and drops the cancel: the experiment would be carried on with as if never
        cancelled."""
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
            return False
        except TimeoutError:
            pass
        # Closing the lifeline tells the first process to kill everything and report.
        self._close_lifeline(running)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.kill_grace):
                await proc.wait()
        if proc.returncode is None:
            self._kill(proc, running)
            await proc.wait()
        return True

    def _close_lifeline(self, running: _Running) -> None:
        if running.lifeline >= 0:
            os.close(running.lifeline)
            running.lifeline = -1

    def _kill(self, proc: asyncio.subprocess.Process, running: _Running) -> None:
        """Outright: the cgroup, then the group of the process orgloop started (with
        `--kill-child`, unshare's death kills the namespace's first process, and so all of it)."""
        self._close_lifeline(running)
        if running.group is not None:
            running.group.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def _sweep(self, running: _Running) -> None:
        """Anything still in the cgroup or carrying the tag escaped the first process."""
        if running.group is not None:
            running.escaped += len(running.group.members())
            running.group.kill()
        running.escaped += freeze_and_kill(lambda: tagged(running.tag))

    async def _drained(self, drain: asyncio.Future[None], copy: CappedCopy) -> None:
        """The output copied to the end, or, if a stray writer keeps the pipe open, cut off."""
        try:
            async with asyncio.timeout(self.kill_grace):
                await asyncio.shield(drain)
        except TimeoutError:
            copy.stop()
            await drain

    def _release(self, running: _Running) -> None:
        self._close_lifeline(running)
        for fd in running.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        running.fds.clear()
        if running.group is not None:
            running.group.remove()
        if running.tmp is not None:
            shutil.rmtree(running.tmp, ignore_errors=True)

    def _record(
        self,
        spec: ProcessSpec,
        running: _Running,
        got: Mapping[str, Any],
        env: Mapping[str, str],
        device: Device,
    ) -> dict[str, Any]:
        ns = running.ns
        return {
            "session": True,
            "pid_namespace": bool(got.get("pid_namespace")),
            "mount_namespace": ns.mount and bool(got.get("tree_bound")),
            "user_namespace": ns.user,
            "cgroup": running.group is not None and bool(got.get("cgroup_joined")),
            "cgroup_controllers": running.group.controllers if running.group else [],
            "network": "none" if ns.network else "host",
            "network_via": " ".join(ns.prefix),
            "read_only": bool(got.get("read_only")),
            "tmp": got.get("tmp", "own folder"),
            "home": got.get("home", "shared"),
            "hidden": got.get("hidden", []),
            "sockets_hidden": got.get("sockets_hidden", 0),
            "capabilities_dropped": bool(got.get("capabilities_dropped")),
            "no_new_privs": bool(got.get("no_new_privs")),
            "confine_errors": got.get("errors", []),
            "subreaper": bool(got.get("subreaper")),
            "timeout_s": spec.timeout,
            "measured_by": spec.measured_by,
            "env": sorted(k for k in env if k != TAG),
            "limits": got.get("limits", {}),
            "processes_enforced": running.pids_max
            or (spec.limits.get("processes") is not None and os.getuid() != 0),
            "gpus": list(device.gpus),
            "killed_leftovers": int(got.get("leftovers", 0)) + running.escaped,
        }


__all__ = [
    "Device",
    "Outcome",
    "ProcessSpec",
    "Sandbox",
    "detect_gpus",
    "detect_slots",
    "listening_sockets",
    "network_namespace",
    "parse_size",
    "resolve_command",
    "scrubbed_env",
]
