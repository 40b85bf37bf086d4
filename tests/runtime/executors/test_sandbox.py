"""The sandbox, one property a test: real subprocesses in real private copies of a tiny repo.

Each test builds a repo in tmp_path (a protected prepare.py, an editable train.py), hands the
LocalExecutor an ExperimentSpec whose train.py does one thing — sleeps forever, forks a hundred
children, allocates 50 GB, rewrites prepare.py, reads secrets, dials a socket, deletes its own
tree — and checks the result says what happened and that nothing is left running. What the
experiment can see and touch of the machine is in test_confine.py; its output in test_output.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest

from orgloop.org import builtin_org_dir, load_org
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors import LocalExecutor
from orgloop.runtime.executors._namespaces import namespaces
from orgloop.runtime.executors.sandbox import Sandbox, network_namespace

from _sandboxed import run, sleeper, spec, survivors

PID_NS = namespaces().pid


def trainer_limits() -> dict[str, Any]:
    return dict(load_org(builtin_org_dir()).roles["trainer"].limits)


def wait_for(predicate: Any, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# ---- where it runs


def test_runs_in_a_private_copy_at_the_base_plus_the_change(repo: tuple[Path, str]) -> None:
    code = """
    import os
    print("---")
    print("cwd:", os.getcwd())
    print("git:", os.path.exists(".git"))
    print("val_bpb: 1.0")
    """
    s = spec(repo, code)
    result = run(s)
    assert result.status == "ok" and result.metric == 1.0
    assert f"cwd: {s.workdir / 'tree'}" in result.log_tail
    assert "git: False" in result.log_tail  # a copy of the files, not a checkout
    root, base = repo
    git = Git(root)
    assert git.run("rev-parse", f"{result.commit}^").strip() == base
    assert '+print("cwd:", os.getcwd())' in result.diff
    assert (s.workdir / "diff.patch").read_text() == result.diff
    assert not (s.workdir / "tree").exists()
    assert git.run("worktree", "list").count("\n") == 1  # no worktree was ever added
    assert git.run("status", "--porcelain") == ""  # the user's checkout is untouched
    assert result.isolation["tree"] == "private copy"


def test_runs_in_its_own_session_and_process_group(repo: tuple[Path, str]) -> None:
    code = "import os\nprint('ids', os.getsid(0), os.getpgid(0))\nprint('val_bpb: 1')\n"
    result = run(spec(repo, code), LocalExecutor(1, sandbox=Sandbox(namespaces=False)))
    line = next(x for x in result.log_tail.splitlines() if x.startswith("ids"))
    sid, pgid = (int(x) for x in line.split()[1:])
    assert sid == pgid != os.getsid(0)
    assert result.isolation["session"] and result.isolation["subreaper"]


@pytest.mark.skipif(not PID_NS, reason="no PID namespace on this machine")
def test_runs_as_pid_1s_child_in_its_own_pid_namespace(repo: tuple[Path, str]) -> None:
    code = """
    import os
    first = open("/proc/1/cmdline").read().split("\\0")
    print("parent", os.getppid(), "first", "_child.py" in " ".join(first))
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    print("mine", len(pids) <= 3 and max(pids) < 10)
    print("orgloop visible", os.path.exists(f"/proc/{os.environ['ORGLOOP_PID']}/environ"))
    print("val_bpb: 1")
    """
    os.environ["ORGLOOP_PID"] = str(os.getpid())
    try:
        result = run(spec(repo, code, env=("ORGLOOP_PID",)))
    finally:
        del os.environ["ORGLOOP_PID"]
    assert "first True" in result.log_tail
    assert "mine True" in result.log_tail  # PID 1, the shell, train.py: nothing else
    assert "orgloop visible False" in result.log_tail
    assert result.isolation["pid_namespace"] and result.isolation["mount_namespace"]


# ---- time and processes

SPAWN = """
import os, subprocess, sys, time
{sleeper}
if os.fork() == 0:  # double fork into a new session: the classic daemon escape
    os.setsid()
    if os.fork() == 0:
        {sleeper}
        time.sleep(1000)
    os._exit(0)
print("started", flush=True)
time.sleep(1000)
"""


def test_timeout_kills_the_whole_tree_within_two_seconds(
    repo: tuple[Path, str], marker: str
) -> None:
    s = spec(repo, SPAWN.format(sleeper=sleeper(marker)), timeout=2.0)
    start = time.monotonic()
    result = run(s)
    elapsed = time.monotonic() - start
    assert result.status == "timeout"
    assert "timed out" in result.reason and result.metric is None
    assert elapsed < s.timeout + 2.0
    assert "started" in result.log_tail
    assert survivors(marker) == []


def test_a_cancelled_experiment_does_not_outlive_the_run(
    repo: tuple[Path, str], marker: str
) -> None:
    """The engine cancels running experiments when it stops: their trees go with them."""
    s = spec(repo, SPAWN.format(sleeper=sleeper(marker)), timeout=60)

    async def start_then_cancel() -> None:
        task = asyncio.ensure_future(LocalExecutor(1).run(s, 0))
        while len(survivors(marker)) < 2:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(start_then_cancel(), 30))
    assert survivors(marker) == []
    assert not (s.workdir / "tree").exists()


def test_a_cancel_in_the_step_the_command_ends_still_cancels() -> None:
    """A command that ends in the very step its task is cancelled (Ctrl-C, the run stopping)
    must not lose the cancel (Python 3.11's `wait_for` drops it). The command is a future
    resolved in the same callback as the cancel: a real process cannot be made to end in a
    chosen loop step."""

    async def race() -> None:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[int] = loop.create_future()

        class Command:
            returncode = None

            async def wait(self) -> int:
                return await ended

        task = asyncio.ensure_future(Sandbox()._wait(cast(Any, Command()), 60, cast(Any, None)))
        await asyncio.sleep(0)  # the sandbox is waiting on the command

        def end_and_cancel() -> None:
            ended.set_result(-signal.SIGINT)
            task.cancel()

        loop.call_soon(end_and_cancel)
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(race())


def test_a_hundred_children_are_all_gone_after_the_command_exits(
    repo: tuple[Path, str], marker: str
) -> None:
    code = f"""
    import subprocess
    kids = [{sleeper(marker)} for _ in range(100)]
    print("---")
    print("val_bpb: 1.0")
    """
    result = run(spec(repo, code))
    assert result.status == "ok"
    assert survivors(marker) == []
    assert result.isolation["killed_leftovers"] >= 100


KILL_FIRST = """
import os, signal, subprocess, time
r, w = os.pipe()
if os.fork() == 0:  # a daemon with an empty environment: no tag for a sweep to find
    os.setsid()
    if os.fork() == 0:
        os.execve({sleep!r}, [{marker!r}, "1000"], {{}})
    os._exit(0)
time.sleep(0.2)
pid = os.getppid()
while "_child.py" not in open(f"/proc/{{pid}}/cmdline").read():
    pid = int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
os.kill(pid, signal.SIGKILL)
time.sleep(0.5)
print("---")
print("val_bpb: 1.0")
"""


@pytest.mark.parametrize(
    "sandbox",
    [
        pytest.param(Sandbox(cgroups=False), id="pid-namespace"),
        pytest.param(Sandbox(namespaces=False), id="cgroup"),
    ],
)
def test_a_daemon_without_the_tag_dies_even_after_the_first_process_is_killed(
    repo: tuple[Path, str], marker: str, sandbox: Sandbox
) -> None:
    """Kill the first process (so no subreaper is left) after detaching a daemon that cleared
    its environment: the PID namespace or, without one, the cgroup still ends it."""
    from _sandboxed import SLEEP

    probe = asyncio.run(sandbox_record(sandbox, repo))
    if not (probe["pid_namespace"] or probe["cgroup"]):
        pytest.skip("neither a PID namespace nor a writable cgroup v2 here")
    code = KILL_FIRST.format(sleep=SLEEP, marker=marker)
    result = run(spec(repo, code), LocalExecutor(1, sandbox=sandbox))
    # In a PID namespace the kernel ignores SIGKILL sent to PID 1 from inside: the run goes on.
    assert result.status == ("ok" if result.isolation["pid_namespace"] else "crash")
    assert survivors(marker) == []


async def sandbox_record(sandbox: Sandbox, repo: tuple[Path, str]) -> dict[str, Any]:
    result = await LocalExecutor(1, sandbox=sandbox).run(spec(repo, "print(1)\n", "probe"), 0)
    return dict(result.isolation)


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
    cgroup_pids = "pids" in result.isolation["cgroup_controllers"]
    assert result.isolation["processes_enforced"] == (os.getuid() != 0 or cgroup_pids)


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


def test_without_capabilities_even_root_meets_the_read_only_bit(repo: tuple[Path, str]) -> None:
    code = """
    try:
        open("prepare.py", "a").write("BOUND = 0\\n")
    except PermissionError as e:
        print("refused:", e)
    print("val_bpb: 1.0")
    """
    result = run(spec(repo, code))
    if not result.isolation["capabilities_dropped"]:
        pytest.skip("capabilities could not be dropped here")
    assert "refused:" in result.log_tail and result.status == "ok"
    assert result.isolation["mode_bits_enforced"]


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


# ---- what it is given


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
    private_tmp = result.isolation["tmp"] == "private"
    assert env["TMPDIR"] == "/tmp" if private_tmp else "tmp-" in env["TMPDIR"]
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


def test_without_namespaces_the_record_says_what_is_left(repo: tuple[Path, str]) -> None:
    sandbox = Sandbox(namespaces=False, cgroups=False, network_isolation=False)
    result = run(spec(repo, "print('val_bpb: 1')\n"), LocalExecutor(1, sandbox=sandbox))
    iso = result.isolation
    assert result.status == "ok"
    assert not iso["pid_namespace"] and not iso["mount_namespace"] and not iso["cgroup"]
    assert iso["tmp"] == "own folder" and not iso["read_only"] and iso["subreaper"]


# ---- an experiment that breaks its own folder


def test_deleting_its_tree_is_a_crash_and_the_next_experiment_runs(
    repo: tuple[Path, str],
) -> None:
    executor = LocalExecutor(1)
    first = run(spec(repo, "import os, shutil\nshutil.rmtree(os.getcwd())\n"), executor)
    assert first.status == "crash"
    assert "deleted its tree" in first.reason
    gone = run(spec(repo, "import os, shutil\nshutil.rmtree('..')\n", "e2"), executor)
    assert gone.status == "crash"
    after = run(spec(repo, "print('val_bpb: 1.0')\n", "e3"), executor)
    assert after.status == "ok" and after.metric == 1.0
    assert Git(repo[0]).run("worktree", "list").count("\n") == 1


def test_a_folder_it_locked_is_still_cleaned_up(repo: tuple[Path, str]) -> None:
    code = """
    import os
    os.makedirs("locked/deeper")
    os.chmod("locked", 0o500)  # a folder the cleanup cannot empty without help
    print("val_bpb: 1.0")
    """
    s = spec(repo, code)
    assert run(s).status == "ok"
    assert not (s.workdir / "tree").exists()
    assert Git(repo[0]).run("status", "--porcelain") == ""


ORPHANER = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {helpers!r})
from _sandboxed import spec, LocalExecutor
s = spec((Path({root!r}), {base!r}), {train!r}, timeout=60)
asyncio.run(LocalExecutor(1).run(s, 0))
"""


def test_an_experiment_dies_with_orgloop_when_orgloop_is_killed(
    repo: tuple[Path, str], marker: str
) -> None:
    """kill -9 of the orgloop process leaves no experiment running, unwatched, past its timeout."""
    code = ORPHANER.format(
        helpers=str(Path(__file__).parents[1]),
        root=str(repo[0]),
        base=repo[1],
        train=SPAWN.format(sleeper=sleeper(marker)),
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        assert wait_for(lambda: len(survivors(marker)) >= 2), "the experiment never started"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert wait_for(lambda: not survivors(marker), 3)
