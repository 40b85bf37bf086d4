"""What the experiment may see and do, set up by the sandbox's first process in its own mount
namespace (`unshare --mount`, propagation private) before it starts the command.

`confine(plan)` rearranges the first process's view of the file system, in this order:
1. `/tmp` becomes an empty private tmpfs (so do `/dev/shm` at step 6): nothing of the host's
   /tmp, its sockets (tmux's, say) included, is there.
2. HOME gets a private writable layer (an overlay whose upper half lives in the new /tmp): caches
   under it can be read and written, and every write vanishes with the experiment.
3. Each `hide` path (the org's `.git` and `.orgloop`, the experiment's own folder) is covered by an
   empty folder, or by /dev/null for a file.
4. Each unix socket orgloop's network namespace listens on (`sockets`) is covered by /dev/null,
   so connecting to it fails: a network namespace does not isolate sockets that live in files.
5. `keep` folders (the interpreter's prefix) hidden by steps 1-3 are bound back, and the `tree`
   is bound back at its own path: the one lasting writable place.
7. Every mount becomes read-only (mount_setattr, recursively), then the tree, /tmp, /dev/shm and
   HOME's layer are made writable again; the process moves into the tree.

`drop_privileges()` then empties the capability bounding set (with the inheritable and ambient
sets), so the command and everything it starts run without CAP_SYS_ADMIN (no mount, no setns, no
remount read-write), CAP_SYS_PTRACE, CAP_DAC_OVERRIDE and the rest; sets no_new_privs; and makes
this process non-dumpable, so the experiment cannot read its memory, environment or descriptors.

Everything runs with the standard library only (ctypes for mount(2), mount_setattr(2), prctl(2),
capget/capset(2)); each step that fails is recorded and the rest go on, so the record says what
the experiment actually got. It does not hide what a network namespace hides (abstract sockets),
sockets listening in other network namespaces, files readable under HOME or anywhere else on the
machine (read-only is not invisible), or devices under /dev.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
_PER_MOUNT = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
_PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 4, 24, 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAP_VERSION_3 = 0x20080522
HOME_LAYER = "/tmp/.orgloop-home"


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = (
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    )
    libc.prctl.argtypes = (ctypes.c_int, *[ctypes.c_ulong] * 4)
    libc.syscall.restype = ctypes.c_long
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _bytes(text: str | None) -> bytes | None:
    return text.encode() if text else None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc().mount(_bytes(source), target.encode(), _bytes(fstype), flags, _bytes(data))
    _check(result, f"mount {target}")


def _set_read_only(path: str, on: bool, *, recursive: bool) -> None:
    attr = _MountAttr(_MOUNT_ATTR_RDONLY if on else 0, 0 if on else _MOUNT_ATTR_RDONLY, 0, 0)
    result = _libc().syscall(
        ctypes.c_long(_MOUNT_SETATTR),
        ctypes.c_int(_AT_FDCWD),
        path.encode(),
        ctypes.c_uint(_AT_RECURSIVE if recursive else 0),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if result == 0:
        return
    if ctypes.get_errno() != 38:  # ENOSYS: a kernel older than 5.12 remounts one at a time
        _check(int(result), f"mount_setattr {path}")
    for point, options in _mounts() if recursive else [(path, _options_of(path))]:
        flags = sum(_PER_MOUNT.get(o, 0) for o in options) | (MS_RDONLY if on else 0)
        with contextlib.suppress(OSError):  # a mount that vanished or refuses: recorded below
            _mount(None, point, None, MS_REMOUNT | MS_BIND | flags)


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def _mounts() -> list[tuple[str, list[str]]]:
    """(mount point, per-mount options) of every mount this process sees."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        out.append((_unescape(fields[4]), fields[5].split(",")))
    return out


def _options_of(path: str) -> list[str]:
    return next((opts for point, opts in reversed(_mounts()) if point == path), [])


def _is_read_only(path: str) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def _bind_fd(fd: int, target: str) -> None:
    """Bind what `fd` (an O_PATH descriptor opened before the mounts) refers to onto `target`."""
    Path(target).mkdir(parents=True, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)


def _hidden_under(path: str, hidden: list[str]) -> bool:
    return any(path == h or path.startswith(h.rstrip("/") + "/") for h in hidden)


class _Steps:
    """Runs each step, recording what failed instead of stopping."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def run(self, what: str, step: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        try:
            step(*args, **kwargs)
            return True
        except OSError as e:
            self.errors.append(f"{what}: {e.strerror or e}")
            return False


def confine(plan: dict[str, Any]) -> dict[str, Any]:
    """Rearrange the file system as the module docstring says; returns what was done."""
    steps = _Steps()
    tree = str(plan["tree"])
    tree_fd = os.open(tree, os.O_PATH | os.O_DIRECTORY)
    keep_fds = {}
    for path in plan.get("keep", []):
        with contextlib.suppress(OSError):
            keep_fds[str(path)] = os.open(path, os.O_PATH | os.O_DIRECTORY)
    got: dict[str, Any] = {}
    writable = [tree]
    if steps.run("private /tmp", _mount, "tmpfs", "/tmp", "tmpfs", MS_NOSUID, "mode=1777"):
        got["tmp"] = "private"
        writable.append("/tmp")
    got["home"] = _home(str(plan.get("home") or ""), steps, writable)
    hidden: list[str] = []
    for path in sorted(map(str, plan.get("hide", []))):
        if _hidden_under(path, hidden) or not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            ok = steps.run(f"hide {path}", _mount, "tmpfs", path, "tmpfs", 0, "mode=755")
        else:
            ok = steps.run(f"hide {path}", _mount, "/dev/null", path, None, MS_BIND)
        if ok:
            hidden.append(path)
    got["hidden"] = hidden
    got["sockets_hidden"] = sum(
        steps.run(f"socket {s}", _mount, "/dev/null", s, None, MS_BIND)
        for s in map(str, plan.get("sockets", []))
        if _is_socket(s)
    )
    for path, fd in keep_fds.items():
        if not _same(path, fd):
            steps.run(f"keep {path}", _bind_fd, fd, path)
    got["tree_bound"] = steps.run("bind the tree", _bind_fd, tree_fd, tree)
    shm = ("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID, "mode=1777")
    if os.path.isdir("/dev/shm") and steps.run("private /dev/shm", _mount, *shm):
        writable.append("/dev/shm")
    steps.run("read-only mounts", _set_read_only, "/", True, recursive=True)
    for path in writable:
        steps.run(f"writable {path}", _set_read_only, path, False, recursive=False)
    got["read_only"] = _is_read_only("/") and not _is_read_only(tree)
    if got["tree_bound"]:
        os.chdir(tree)  # through the new, writable mount: the old one is read-only now
    else:
        os.fchdir(tree_fd)
    for fd in [tree_fd, *keep_fds.values()]:
        os.close(fd)
    got["errors"] = steps.errors
    return got


def _home(home: str, steps: _Steps, writable: list[str]) -> str:
    """HOME's private layer: an overlay over the real one, or an empty folder when HOME lived
    under the (now private) /tmp. Returns how HOME ended up."""
    if not home or home == "/" or any(c in home for c in ",:\\"):
        return "as is"
    if home.startswith("/tmp/"):
        return "empty" if steps.run("home", os.makedirs, home, exist_ok=True) else "none"
    if not os.path.isdir(home):
        return "none"
    upper, work = f"{HOME_LAYER}/upper", f"{HOME_LAYER}/work"

    def overlay() -> None:
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        _mount("overlay", home, "overlay", 0, f"lowerdir={home},upperdir={upper},workdir={work}")

    if steps.run("home overlay", overlay):
        writable.append(home)
        return "private layer"
    return "read-only"


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def _same(path: str, fd: int) -> bool:
    try:
        here, there = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def drop_privileges() -> dict[str, bool]:
    """Empty the bounding, inheritable and ambient capability sets (so whatever this process
    starts has no capability, even as root), set no_new_privs, and make this process
    non-dumpable. Returns what took effect."""
    libc = _libc()
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) == 0:
        for half in data:
            half.inheritable = 0
        libc.capset(ctypes.byref(header), data)
    no_new_privs = libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    return {
        "capabilities_dropped": _status("CapBnd") == 0 and _status("CapInh") == 0,
        "no_new_privs": no_new_privs,
    }


def _status(field: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    return None


__all__ = ["confine", "drop_privileges"]
