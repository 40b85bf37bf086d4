"""The sandbox, one property a test: real subprocesses in real git worktrees of a tiny repo.

Each test builds a repo in tmp_path (a protected prepare.py, an editable train.py), hands the
LocalExecutor an ExperimentSpec whose train.py does one thing — sleeps forever, forks a hundred
children, allocates 50 GB, rewrites prepare.py, reads secrets, dials a socket, deletes its own
worktree — and checks the result says what happened and that nothing is left running.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from orgloop.org import Metric, builtin_org_dir, load_org
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors import ExperimentResult, ExperimentSpec, LocalExecutor
from orgloop.runtime.executors.sandbox import Sandbox, network_namespace

PREPARE = "import json\nprint('---')\nprint('val_bpb: 1.5')\n"


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


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pids_in(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()]


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    return make_repo(tmp_path / "org")


def trainer_limits() -> dict[str, Any]:
    return dict(load_org(builtin_org_dir()).roles["trainer"].limits)


# ---- where it runs


def test_runs_in_its_own_worktree_at_the_base_plus_the_change(repo: tuple[Path, str]) -> None:
    s = spec(repo, "import os\nprint('---')\nprint('cwd:', os.getcwd())\nprint('val_bpb: 1.0')\n")
    result = run(s)
    assert result.status == "ok" and result.metric == 1.0
    assert f"cwd: {s.workdir / 'tree'}" in result.log_tail
    root, base = repo
    git = Git(root)
    assert git.run("rev-parse", f"{result.commit}^").strip() == base
    assert "+print('cwd:', os.getcwd())" in result.diff
    assert (s.workdir / "diff.patch").read_text() == result.diff
    assert not (s.workdir / "tree").exists()
    assert git.run("worktree", "list").count("\n") == 1  # only the main checkout is left
    assert git.run("status", "--porcelain") == ""  # the user's checkout is untouched
    assert result.isolation["worktree"] and result.isolation["cwd"] == "worktree"


def test_runs_in_its_own_session_and_process_group(repo: tuple[Path, str]) -> None:
    code = "import os\nprint('ids', os.getsid(0), os.getpgid(0))\nprint('val_bpb: 1')\n"
    result = run(spec(repo, code))
    line = next(x for x in result.log_tail.splitlines() if x.startswith("ids"))
    sid, pgid = (int(x) for x in line.split()[1:])
    assert sid == pgid != os.getsid(0)
    assert result.isolation["session"] and result.isolation["subreaper"]


# ---- time and processes

SPAWN = """
import os, subprocess, sys, time
pids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"]).pid]
if os.fork() == 0:  # double fork into a new session: the classic daemon escape
    os.setsid()
    if os.fork() == 0:
        open({out!r}, "a").write(str(os.getpid()) + " ")
        time.sleep(1000)
    os._exit(0)
open({out!r}, "a").write(" ".join(map(str, [os.getpid(), *pids])) + " ")
time.sleep(1000)
"""


def test_timeout_kills_the_whole_tree_within_two_seconds(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    out = tmp_path / "pids"
    s = spec(repo, SPAWN.format(out=str(out)), timeout=2.0)
    start = time.monotonic()
    result = run(s)
    elapsed = time.monotonic() - start
    assert result.status == "timeout"
    assert "timed out" in result.reason and result.metric is None
    assert elapsed < s.timeout + 2.0
    pids = pids_in(out)
    assert len(pids) == 3  # train.py, its child, the detached grandchild
    assert not [p for p in pids if alive(p)]


def test_a_cancelled_experiment_does_not_outlive_the_run(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    """The engine cancels running experiments when it stops: their trees go with them."""
    out = tmp_path / "pids"
    s = spec(repo, SPAWN.format(out=str(out)), timeout=60)

    async def start_then_cancel() -> None:
        task = asyncio.ensure_future(LocalExecutor(1).run(s, 0))
        while not out.exists() or len(pids_in(out)) < 3:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(start_then_cancel())
    assert not [p for p in pids_in(out) if alive(p)]
    assert not (s.workdir / "tree").exists()


def test_a_hundred_children_are_all_gone_after_the_command_exits(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    out = tmp_path / "pids"
    code = f"""
    import os, time
    kids = []
    for _ in range(100):
        pid = os.fork()
        if pid == 0:
            time.sleep(1000)
            os._exit(0)
        kids.append(pid)
    open({str(out)!r}, "w").write(" ".join(map(str, kids)))
    print("---")
    print("val_bpb: 1.0")
    """
    result = run(spec(repo, code))
    assert result.status == "ok"
    pids = pids_in(out)
    assert len(pids) == 100
    assert not [p for p in pids if alive(p)]
    assert result.isolation["killed_leftovers"] >= 100


def test_a_process_that_kills_the_sandbox_is_still_swept(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    """Kill the first process (so no subreaper is left) after detaching a daemon: the sweep by
    environment tag still finds and kills the daemon."""
    out = tmp_path / "pids"
    code = f"""
    import os, signal, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            open({str(out)!r}, "w").write(str(os.getpid()))
            time.sleep(1000)
        os._exit(0)
    while not os.path.exists({str(out)!r}):
        time.sleep(0.01)
    pid = os.getppid()
    while "_child.py" not in open(f"/proc/{{pid}}/cmdline").read():
        pid = int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
    os.kill(pid, signal.SIGKILL)
    """
    result = run(spec(repo, code))
    assert result.status == "crash"
    (daemon,) = pids_in(out)
    assert not alive(daemon)
    assert result.isolation["killed_leftovers"] >= 1


# ---- resources


def test_allocating_50_gb_crashes_on_the_address_space_limit(repo: tuple[Path, str]) -> None:
    limits = trainer_limits()
    result = run(spec(repo, "b = bytes(50 << 30)\n", limits=limits))
    assert result.status == "crash"
    assert "MemoryError" in result.reason
    assert result.isolation["limits"]["RLIMIT_AS"] == 16 << 30


def test_the_address_space_limit_is_what_stops_an_allocation(repo: tuple[Path, str]) -> None:
    code = "b = bytes(1 << 30)\nprint('---')\nprint('val_bpb: 1.0')\n"
    assert run(spec(repo, code, limits={"memory": "256M"})).status == "crash"
    assert run(spec(repo, code, "e2")).status == "ok"


def test_file_size_limit_stops_a_runaway_write(repo: tuple[Path, str]) -> None:
    code = "open('big.bin', 'wb').write(b'x' * (4 << 20))\n"
    result = run(spec(repo, code, limits={"file_size": "1M"}))
    assert result.status == "crash"
    assert "File too large" in result.reason
    assert result.isolation["limits"]["RLIMIT_FSIZE"] == 1 << 20


def test_trainer_limits_are_applied_and_recorded(repo: tuple[Path, str]) -> None:
    result = run(spec(repo, "print('val_bpb: 1')\n", limits=trainer_limits()))
    got = result.isolation["limits"]
    assert got["RLIMIT_AS"] == 16 << 30 and got["RLIMIT_FSIZE"] == 2 << 30
    assert got["RLIMIT_NPROC"] >= 512  # the user's processes already running, plus 512
    assert result.isolation["processes_enforced"] == (os.getuid() != 0)


# ---- integrity


def test_rewriting_prepare_py_voids_the_experiment(repo: tuple[Path, str]) -> None:
    code = """
    import os, stat
    print("mode", oct(stat.S_IMODE(os.stat("prepare.py").st_mode)))
    os.chmod("prepare.py", 0o644)  # the read-only bit is a guard against accidents only
    open("prepare.py", "a").write("BOUND = 0\\n")
    print("---")
    print("val_bpb: 0.9")
    """
    result = run(spec(repo, code))
    assert result.status == "void" and result.metric is None
    assert "prepare.py" in result.reason
    assert "mode 0o444" in result.log_tail
    assert result.isolation["protected_read_only"] == ["prepare.py"]


def test_a_fake_metric_line_is_ignored_when_the_evaluation_is_protected(
    repo: tuple[Path, str],
) -> None:
    code = "print('---')\nprint('val_bpb: 0.6')\n"
    result = run(spec(repo, code, evaluate="python prepare.py"))
    assert result.status == "ok"
    assert result.metric == 1.5  # the evaluator's, not train.py's 0.6
    assert "val_bpb: 0.6" in result.log_tail  # both outputs are kept in the log


def test_code_planted_for_the_evaluation_voids_the_experiment(repo: tuple[Path, str]) -> None:
    """prepare.py imports json; a json.py written next to it would be imported instead."""
    code = "open('json.py', 'w').write('print(\"---\"); print(\"val_bpb: 0.7\")')\n"
    result = run(spec(repo, code, evaluate="python prepare.py"))
    assert result.status == "void"
    assert "json.py" in result.reason


def test_a_nan_metric_is_a_crash(repo: tuple[Path, str]) -> None:
    result = run(spec(repo, "print('---')\nprint('val_bpb: nan')\n"))
    assert result.status == "crash" and result.metric is None
    assert "not finite" in result.reason


def test_a_metric_beyond_the_bound_is_suspect(repo: tuple[Path, str]) -> None:
    result = run(spec(repo, "print('---')\nprint('val_bpb: 0.1')\n"))
    assert result.status == "suspect" and result.metric == 0.1
    assert "bound" in result.reason


# ---- what it can see


def test_keys_and_tokens_never_reach_the_experiment(
    repo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "ANTHROPIC_API_KEY": "sk-test",
        "GITHUB_TOKEN": "ghp-test",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "HF_TOKEN": "hf",
    }
    for name, value in {**secrets, "HARMLESS": "1", "UNLISTED": "2"}.items():
        monkeypatch.setenv(name, value)
    code = "import json, os\nprint(json.dumps(dict(os.environ)))\n"
    listed = ("ANTHROPIC_API_KEY", "GITHUB_TOKEN", "HF_TOKEN", "HARMLESS")
    result = run(spec(repo, code, env=listed))
    env = json.loads(result.log_tail.splitlines()[0])
    assert not set(secrets) & set(env)
    assert not any(v in env.values() for v in secrets.values())
    assert env["HARMLESS"] == "1" and "UNLISTED" not in env
    assert env["TMPDIR"] != os.environ.get("TMPDIR") and "tmp-" in env["TMPDIR"]
    assert not set(secrets) & set(result.isolation["env"])


@pytest.mark.skipif(not network_namespace(), reason="no network namespace on this machine")
def test_no_network_in_the_namespace(repo: tuple[Path, str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
            print("connected")
        except OSError as e:
            print("no network:", e)
        """
        isolated = run(spec(repo, code))
        open_net = run(spec(repo, code, "e2", network=True))
    assert "no network" in isolated.log_tail and "connected" not in isolated.log_tail
    assert isolated.isolation["network"] == "none"
    assert "connected" in open_net.log_tail  # the same code reaches the port without it
    assert open_net.isolation["network"] == "host"


def test_sandbox_without_network_isolation_says_so(repo: tuple[Path, str]) -> None:
    executor = LocalExecutor(1, sandbox=Sandbox(network_isolation=False))
    result = run(spec(repo, "print('val_bpb: 1')\n"), executor)
    assert result.isolation["network"] == "host"


# ---- an experiment that breaks its own folder


def test_deleting_its_worktree_is_a_crash_and_the_next_experiment_runs(
    repo: tuple[Path, str],
) -> None:
    executor = LocalExecutor(1)
    first = run(spec(repo, "import os, shutil\nshutil.rmtree(os.getcwd())\n"), executor)
    assert first.status == "crash"
    assert "deleted its worktree" in first.reason
    gone = run(spec(repo, "import os, shutil\nshutil.rmtree('..')\n", "e2"), executor)
    assert gone.status == "crash"
    after = run(spec(repo, "print('val_bpb: 1.0')\n", "e3"), executor)
    assert after.status == "ok" and after.metric == 1.0
    assert Git(repo[0]).run("worktree", "list").count("\n") == 1


def test_writing_outside_the_worktree_is_not_prevented_but_the_run_goes_on(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    """Documented, not prevented: the experiment runs as the orgloop user (docs/sandbox.md)."""
    outside = tmp_path / "outside.txt"
    code = f"""
    import os
    open({str(outside)!r}, "w").write("written")
    os.makedirs("locked/deeper")
    os.chmod("locked", 0o500)  # a folder the cleanup cannot empty without help
    print("val_bpb: 1.0")
    """
    s = spec(repo, code)
    result = run(s)
    assert result.status == "ok"
    assert outside.read_text() == "written"
    assert not (s.workdir / "tree").exists()
    assert Git(repo[0]).run("status", "--porcelain") == ""


ORPHANER = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_sandbox import spec, LocalExecutor
s = spec((Path({root!r}), {base!r}), {train!r}, timeout=60)
asyncio.run(LocalExecutor(1).run(s, 0))
"""


def test_an_experiment_dies_with_orgloop_when_orgloop_is_killed(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    """kill -9 of the orgloop process leaves no experiment running, unwatched, past its timeout."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "pids"
    code = ORPHANER.format(
        tests=str(Path(__file__).parent),
        root=str(repo[0]),
        base=repo[1],
        train=SPAWN.format(out=str(out)),
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while (not out.exists() or len(pids_in(out)) < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.exists() and len(pids_in(out)) == 3, "the experiment never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 3
    while [p for p in pids_in(out) if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids_in(out) if alive(p)]
