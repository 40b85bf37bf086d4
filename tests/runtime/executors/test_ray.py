"""The Ray executor on a real two-node local cluster (one for the module): the built-in org end to
end with the same results.tsv as the local executor at the same seed, a batch spread over the
cluster, the engine killed with -9 mid-experiment and resumed, and a node lost mid-experiment
(the experiment re-run once on the other node, one row). The contract itself is held by
test_conformance.py. The node-loss test removes the worker node, so it runs last."""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from orgloop.org import Metric
from orgloop.runtime.batch import run_batch
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors import ExecutorChoice, ExperimentSpec, LocalExecutor
from orgloop.runtime.executors._procs import TAG

from _orgs import set_frontmatter, small_org

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow
BUDGET = "0.01"
"""TINYLM_BUDGET: a fraction of a second of training per experiment."""


@pytest.fixture(autouse=True)
def _small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYLM_BUDGET", BUDGET)  # the nodes' workers got it when they started


@pytest.fixture(scope="module")
def cluster(ray_cluster: Any) -> Any:
    return ray_cluster


def _rows(run_dir: Path) -> list[list[str]]:
    """results.tsv without its commit column (the orgs' base commits differ)."""
    lines = (run_dir / "results.tsv").read_text().splitlines()
    return [line.split("\t")[1:] for line in lines]


def _run(root: Path, executor: Any) -> Engine:
    engine = Engine.start(root, brain=OfflineBrain(), executor=executor, run_id="r")
    asyncio.run(engine.run())
    return engine


def test_the_builtin_org_gives_the_local_results_on_the_cluster(
    cluster: Any, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    local = _run(small_org(tmp_path / "local", experiments=2), LocalExecutor(1))
    t1 = time.monotonic()
    remote = _run(small_org(tmp_path / "ray", experiments=2), ExecutorChoice("ray"))
    print(f"local {t1 - t0:.1f}s, ray {time.monotonic() - t1:.1f}s")
    assert remote.state.finished and local.state.finished
    assert _rows(remote.run_dir) == _rows(local.run_dir)
    assert len(_rows(remote.run_dir)) == 1 + 2 + 2  # the header, two baselines, two candidates
    started = read_events(remote.run_dir / "events.jsonl")[0].data
    assert started["executor"] == {"name": "ray"}
    for exp in remote.state.experiments.values():
        assert "node" in str(exp.info["hardware"])
        assert (remote.run_dir / "experiments" / exp.id / "log.txt").stat().st_size > 0


def test_a_batch_spreads_over_the_cluster(cluster: Any, tmp_path: Path) -> None:
    org = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    set_frontmatter(org / "ORG.md", experiment={"parallel": 2})
    Git(org).commit_all("two slots")
    result = run_batch(
        [org],
        [0, 1],
        out=tmp_path / "batch",
        brain_factory=OfflineBrain,
        executor=ExecutorChoice("ray"),
    )
    assert [r.ok for r in result.runs] == [True, True], [r.error for r in result.runs]
    for r in result.runs:
        assert r.run_dir is not None
        events = read_events(r.run_dir / "events.jsonl")
        hardware = [e.data["hardware"] for e in events if e.kind == "experiment_finished"]
        assert hardware and all("node" in h for h in hardware)


def _in_flight(log: Path) -> bool:
    """A candidate experiment has started and not finished."""
    try:
        events = read_events(log)
    except (OSError, ValueError):
        return False
    started = {e.data["id"] for e in events if e.kind == "experiment_started"}
    finished = {e.data["id"] for e in events if e.kind == "experiment_finished"}
    return len(started) >= 2 and bool(started - finished)


def _tagged_under(roots: list[int]) -> dict[int, int]:
    """Sandboxed processes (their environment carries the sandbox's tag) under `roots`, the
    nodes' raylets: pid -> start time."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            parents[int(entry.name)], starts[int(entry.name)] = int(fields[1]), int(fields[19])
    found, frontier = set(), list(roots)
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found.add(child)
                frontier.append(child)
    out = {}
    for pid in found:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(item.startswith(TAG.encode() + b"=") for item in environ):
            out[pid] = starts[pid]
    return out


def _alive(procs: dict[int, int]) -> list[int]:
    out = []
    for pid, start in procs.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[19]) == start:
            out.append(pid)
    return out


def test_kill_9_of_the_engine_then_resume_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=2, baseline_runs=1)
    orgloop = str(Path(sys.executable).with_name("orgloop"))
    address = ["--ray-address", cluster.address]
    raylets = [
        info.process.pid
        for node in cluster.list_all_nodes()
        for info in node.all_processes["raylet"]
    ]
    proc = subprocess.Popen(
        [orgloop, "run", str(root), "--executor", "ray", *address, "--tag", "k"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "TINYLM_BUDGET": "0.1"},  # seconds of training: time to be caught
    )
    runs = root / ".orgloop" / "runs"
    deadline = time.monotonic() + 90
    log, running = None, {}
    while proc.poll() is None and time.monotonic() < deadline:
        logs = sorted(runs.glob("*/events.jsonl")) if runs.exists() else []
        if logs and _in_flight(logs[0]) and (running := _tagged_under(raylets)):
            log = logs[0]
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert log is not None, "no experiment was running on the cluster before the run ended"
    before = read_events(log)
    assert before[-1].kind != "run_finished"
    deadline = time.monotonic() + 30
    while _alive(running) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(running), "an experiment ran on after its driver was killed"

    resumed = subprocess.run(
        [orgloop, "resume", str(log.parent)], capture_output=True, text=True, timeout=180
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    events = read_events(log)
    assert events[-1].kind == "run_finished"
    consumed = Counter(e.data["message"] for e in events if e.kind == "turn_completed")
    assert max(consumed.values()) == 1, "a message was handled twice"
    finished = Counter(e.data["id"] for e in events if e.kind == "experiment_finished")
    assert max(finished.values()) == 1, "an experiment was counted twice"
    hardware = [e.data["hardware"] for e in events if e.kind == "experiment_finished"]
    assert all("node" in h for h in hardware)  # the resume ran where the run ran: on the cluster
    rows = [r.split("\t") for r in (log.parent / "results.tsv").read_text().splitlines()[1:]]
    ids = [r[4].split()[0] for r in rows]
    assert len(ids) == len(set(ids)) == 3  # one baseline, two candidates, each once
    assert Git(root).head("orgloop/k")


HOSTILE = """\
import os, subprocess, time
subprocess.Popen(["sleep", "{marker}"], start_new_session=True)  # a child that runs away
print("env:", sorted(os.environ), flush=True)
print("secret" if "s3cret-probe" in str(os.environ) else "no secret", flush=True)
time.sleep(120)
"""


def _repo(tmp_path: Path, train: str) -> tuple[Path, str]:
    """A repository holding one train.py, and its base commit."""
    root = tmp_path / "org"
    root.mkdir()
    (root / "train.py").write_text(train)
    git = Git(root)
    git.init()
    return root, git.commit_all("base")


def _running(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_a_hostile_experiment_is_contained_on_its_node(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orgloop.runtime.executors.ray import RayExecutor

    monkeypatch.setenv("PROBE_API_KEY", "s3cret-probe")  # asked for by the org: still not sent
    marker = f"{300 + os.getpid() % 1000}.{os.getpid()}"
    root, base = _repo(tmp_path, "print('base')\n")
    spec = ExperimentSpec(
        id="hostile",
        repo=root,
        base=base,
        files={"train.py": HOSTILE.format(marker=marker)},
        command="python train.py",
        metric=Metric("val_bpb", "minimize"),
        timeout=4,
        workdir=tmp_path / "runs" / "hostile",
        env=("PROBE_API_KEY",),
        commit_date="1700000000 +0000",
    )

    @ray.remote(num_cpus=0)
    def node_env(name: str) -> str | None:
        return os.environ.get(name)

    assert ray.get(node_env.remote("NODE_SECRET_TOKEN")) == "s3cret-probe"  # there to be found
    result = asyncio.run(RayExecutor(1).run(spec, 0))
    assert result.status == "timeout", result.reason
    log = (spec.workdir / "log.txt").read_text()
    assert "no secret" in log and "PROBE_API_KEY" not in log
    deadline = time.monotonic() + 10
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(marker), "the experiment's child outlived its timeout"


class _Fatal(Metric):
    """A metric whose unpickling ends the process that reads it: the worker of every try dies
    under the task, as when its node goes away."""

    def __reduce__(self) -> Any:
        return (os._exit, (1,))


def test_an_experiment_lost_twice_is_recorded_lost_not_run_a_third_time(
    cluster: Any, tmp_path: Path
) -> None:
    from orgloop.runtime.executors.ray import RayExecutor

    root, base = _repo(tmp_path, HANG)
    spec = ExperimentSpec(
        id="doomed",
        repo=root,
        base=base,
        files={"train.py": HANG},
        command="python train.py",
        metric=_Fatal("val_bpb", "minimize"),
        timeout=60,
        workdir=tmp_path / "runs" / "doomed",
        commit_date="1700000000 +0000",
    )
    result = asyncio.run(RayExecutor(1).run(spec, 0))
    assert (result.status, result.metric) == ("lost", None)
    assert result.reason.startswith("lost twice: "), result.reason
    assert [a["attempt"] for a in result.attempts] == [1, 2]
    assert result.commit  # the experiment's commit was made once, on the driver
    assert result.to_event()["attempts"][1]["status"] == "lost"


class _Stuck(Metric):
    """A metric whose unpickling never returns: the worker stops answering before the sandbox
    (and its timeout) ever starts."""

    def __reduce__(self) -> Any:
        return (time.sleep, (3600,))


def test_a_worker_that_stops_answering_is_cancelled_with_force(
    cluster: Any, tmp_path: Path
) -> None:
    from orgloop.runtime.executors.ray import RayExecutor

    root, base = _repo(tmp_path, HANG)

    def spec(exp: str, metric: Metric, timeout: float = 1) -> ExperimentSpec:
        return ExperimentSpec(
            id=exp,
            repo=root,
            base=base,
            files={"train.py": HANG.replace("time.sleep(6)", "")},
            command="python train.py",
            metric=metric,
            timeout=timeout,
            workdir=tmp_path / "runs" / exp,
            commit_date="1700000000 +0000",
        )

    executor = RayExecutor(1, answer_grace=2)
    started = time.monotonic()
    result = asyncio.run(executor.run(spec("stuck", _Stuck("val_bpb", "minimize")), 0))
    assert result.status == "timeout" and "cancelled with force" in result.reason
    assert time.monotonic() - started < 30
    total = ray.cluster_resources()["CPU"]
    deadline = time.monotonic() + 15
    while ray.available_resources().get("CPU", 0) < total and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ray.available_resources().get("CPU", 0) == total  # the stuck worker let go of its CPU
    # a timeout a busy machine's python start cannot run into: this run must finish
    after = asyncio.run(executor.run(spec("next", Metric("val_bpb", "minimize"), 60), 0))
    assert (after.status, after.metric) == ("ok", 1.5)  # the slot is free for the next one


HANG = """\
import time
time.sleep(6)
print("---")
print("val_bpb: 1.5")
"""


def test_a_node_lost_mid_experiment_reruns_it_once_elsewhere(cluster: Any, tmp_path: Path) -> None:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from orgloop.runtime.executors.ray import RayExecutor

    root, commit = _repo(tmp_path, HANG)
    exp = f"lost{os.getpid()}"
    spec = ExperimentSpec(
        id=exp,
        repo=root,
        base=commit,
        files={"train.py": HANG.replace("1.5", "1.25")},
        command="python train.py",
        metric=Metric("val_bpb", "minimize"),
        timeout=60,
        workdir=tmp_path / "runs" / exp,
        commit_date="1700000000 +0000",
    )
    head = cluster.head_node
    worker = next(n for n in cluster.list_all_nodes() if n is not head)

    @ray.remote(num_cpus=2)
    class Blocker:  # holds the head's CPUs, so the first try goes to the worker node
        def ready(self) -> bool:
            return True

    pinned = NodeAffinitySchedulingStrategy(head.node_id, soft=False)
    blocker = Blocker.options(scheduling_strategy=pinned).remote()  # type: ignore[attr-defined]
    ray.get(blocker.ready.remote())
    executor = RayExecutor(1)
    where = ray.remote(num_cpus=0)(tempfile.gettempdir)  # where a node's workers make folders
    pattern = os.path.join(ray.get(where.remote()), f"orgloop-{exp}-*", "experiment", "tree")

    async def go() -> Any:
        task = asyncio.ensure_future(executor.run(spec, 0))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not task.done() and not glob.glob(pattern):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the tree is there: the experiment is starting in it
        assert not task.done(), await task
        cluster.remove_node(worker)  # the node goes away under the running experiment
        ray.kill(blocker)  # the head has room again: the rerun goes there
        return await task

    result = asyncio.run(go())
    assert (result.status, result.metric) == ("ok", 1.25), result.reason
    assert len(result.attempts) == 1 and result.attempts[0]["status"] == "lost"
    assert head.node_id[:8] in result.hardware and worker.node_id[:8] not in result.hardware
    assert "val_bpb: 1.25" in (spec.workdir / "log.txt").read_text()
    event = result.to_event()
    assert event["attempts"][0]["attempt"] == 1
