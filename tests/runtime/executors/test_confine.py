"""What an experiment can see and touch of the machine, one property a test: real experiments
in the real sandbox, trying to write, read, connect and mount where they should not.

Folders for these tests live under /var/tmp, not pytest's /tmp: the experiment's /tmp is private,
so anything under the host's /tmp is out of its sight anyway, and these tests check the other
guards (read-only mounts, hidden folders, covered sockets).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orgloop.runtime.executors._namespaces import namespaces

from _sandboxed import make_repo, run, spec, survivors

pytestmark = pytest.mark.skipif(not namespaces().mount, reason="no mount namespace here")


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside /tmp, removed afterwards."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="orgloop-test-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def org(outside: Path) -> tuple[Path, str]:
    return make_repo(outside / "org")


def fingerprint(git_dir: Path) -> dict[str, str]:
    """Every file of refs, hooks, config, HEAD and packed-refs, hashed."""
    out = {}
    for name in ("HEAD", "config", "packed-refs"):
        if (git_dir / name).exists():
            out[name] = hashlib.sha256((git_dir / name).read_bytes()).hexdigest()
    for sub in ("refs", "hooks"):
        for path in sorted((git_dir / sub).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(git_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_the_file_system_is_read_only_but_its_tree(org: tuple[Path, str]) -> None:
    code = f"""
    import sysconfig
    for where in (sysconfig.get_paths()["purelib"], {str(org[0])!r}, "/etc"):
        try:
            open(where + "/orgloop-planted.pth", "w").write("import os\\n")
            print("wrote", where)
        except OSError as e:
            print("refused", where, e.strerror)
    open("model.txt", "w").write("the tree is writable")
    print("val_bpb: 1.0")
    """
    result = run(spec(org, code))
    assert result.status == "ok", result.reason
    assert "wrote" not in result.log_tail
    assert result.log_tail.count("refused") == 3 and "Read-only file system" in result.log_tail
    assert result.isolation["read_only"]
    purelib = Path(subprocess.check_output([sys.executable, "-c", PURELIB], text=True).strip())
    assert not (purelib / "orgloop-planted.pth").exists()
    assert not (org[0] / "orgloop-planted.pth").exists()


PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


def test_the_orgs_git_data_and_runs_are_hidden(org: tuple[Path, str]) -> None:
    root = org[0]
    workdir = root / ".orgloop" / "runs" / "r" / "experiments" / "e1"
    code = f"""
    import os
    print("git:", os.listdir({str(root / ".git")!r}))
    print("runs:", os.listdir({str(root / ".orgloop" / "runs" / "r" / "experiments")!r}))
    print("own folder:", sorted(os.listdir({str(workdir)!r})))
    print("val_bpb: 1.0")
    """
    result = run(spec(org, code, workdir=workdir))
    assert "git: []" in result.log_tail  # an empty folder where the org's .git is
    assert "runs: ['e1']" in result.log_tail
    assert "own folder: ['tree']" in result.log_tail  # not its log, diff or report
    assert str(root / ".git") in result.isolation["hidden"]


def test_no_write_reaches_the_orgs_refs_hooks_or_config(org: tuple[Path, str]) -> None:
    root = org[0]
    before = fingerprint(root / ".git")
    code = f"""
    import subprocess
    git = ["git", "-C", {str(root)!r}]
    for args in (["update-ref", "refs/heads/main", "HEAD~0"], ["config", "core.hooksPath", "/x"]):
        print(subprocess.run(git + args, capture_output=True, text=True).returncode)
    try:
        open({str(root / ".git" / "hooks" / "post-checkout")!r}, "w").write("#!/bin/sh\\n")
    except OSError as e:
        print("hook refused:", e.strerror)
    print("val_bpb: 1.0")
    """
    result = run(spec(org, code))
    assert result.status == "ok"
    assert "hook refused" in result.log_tail
    after = fingerprint(root / ".git")
    added = set(after) - set(before)
    assert {k: after[k] for k in before} == before  # refs, hooks, config: byte-identical
    assert added <= {"refs/orgloop"} | {k for k in added if k.startswith("refs/orgloop/")}


def test_tmp_is_private(outside: Path, repo: tuple[Path, str]) -> None:
    host = Path(tempfile.mkdtemp(prefix="orgloop-test-"))  # on the host's /tmp
    (host / "visible.txt").write_text("host")
    try:
        code = f"""
        import os
        print("sees host tmp:", os.path.exists({str(host)!r}))
        open("/tmp/left-behind-{host.name}", "w").write("x")
        print("val_bpb: 1.0")
        """
        result = run(spec(repo, code))
    finally:
        shutil.rmtree(host)
    assert "sees host tmp: False" in result.log_tail
    assert not Path(f"/tmp/left-behind-{host.name}").exists()
    assert result.isolation["tmp"] == "private"


def test_home_is_readable_and_its_writes_vanish(
    org: tuple[Path, str], outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = outside / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache" / "weights.bin").write_text("cached")
    monkeypatch.setenv("HOME", str(home))
    code = """
    import os
    home = os.environ["HOME"]
    print("cache:", open(home + "/.cache/weights.bin").read())
    open(home + "/.cache/new.bin", "w").write("written")
    print("val_bpb: 1.0")
    """
    result = run(spec(org, code))
    assert "cache: cached" in result.log_tail and result.status == "ok"
    assert not (home / ".cache" / "new.bin").exists()
    assert result.isolation["home"] == "private layer"


def test_unix_sockets_outside_are_out_of_reach(org: tuple[Path, str], outside: Path) -> None:
    path = outside / "server.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        code = f"""
        import socket
        try:
            socket.socket(socket.AF_UNIX).connect({str(path)!r})
            print("connected")
        except OSError as e:
            print("refused:", e.strerror)
        print("val_bpb: 1.0")
        """
        result = run(spec(org, code))
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))  # still there for everyone outside the sandbox
    assert "refused" in result.log_tail and "connected" not in result.log_tail
    assert result.isolation["sockets_hidden"] >= 1


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
def test_a_process_asked_of_an_outside_tmux_server_is_never_started(
    org: tuple[Path, str], outside: Path, marker: str
) -> None:
    sock = outside / "tmux.sock"
    tmux = ["tmux", "-S", str(sock)]
    subprocess.run([*tmux, "new-session", "-d", "-s", "outside", "sleep 60"], check=True)
    try:
        code = f"""
        import subprocess
        cmd = {tmux!r} + ["new-session", "-d", "exec -a {marker} sleep 1000"]
        print("tmux:", subprocess.run(cmd, capture_output=True, text=True).stderr)
        print("val_bpb: 1.0")
        """
        result = run(spec(org, code))
        sessions = subprocess.run([*tmux, "list-sessions"], capture_output=True, text=True)
        assert sessions.stdout.count("\n") == 1  # only the session the test started
        assert survivors(marker) == []
        assert result.status == "ok" and result.isolation["sockets_hidden"] >= 1
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def test_no_capability_to_mount_setns_or_trace(org: tuple[Path, str]) -> None:
    code = """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    status = open("/proc/self/status").read()
    print("CapEff", [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")])
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    print("setns", libc.setns(fd, 0), ctypes.get_errno())
    print("mount", libc.mount(b"none", b"/mnt", b"tmpfs", 0, None), ctypes.get_errno())
    print("remount", libc.mount(None, b"/", None, 32 | 4096, None), ctypes.get_errno())
    print("first process environ", os.access("/proc/1/environ", os.R_OK))
    try:
        open("/proc/1/environ").read()
        print("read it")
    except OSError as e:
        print("refused:", e.strerror)
    print("val_bpb: 1.0")
    """
    result = run(spec(org, code))
    log = result.log_tail
    assert "CapEff ['0000000000000000']" in log
    assert "setns -1 1" in log  # EPERM
    assert "mount -1 1" in log and "remount -1 1" in log
    assert "read it" not in log
    assert result.isolation["capabilities_dropped"] and result.isolation["no_new_privs"]


def test_a_cgroup_holds_it_and_counts_its_cpu(org: tuple[Path, str]) -> None:
    code = "x = sum(i * i for i in range(3_000_000))\nprint('val_bpb: 1.0')\n"
    result = run(spec(org, code))
    if not result.isolation["cgroup"]:
        pytest.skip("no writable cgroup v2 here")
    assert result.isolation["cpu_s"] > 0.05
