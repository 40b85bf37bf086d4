"""kill -9 at random moments, then resume: does the built-in run hold?

The built-in tinylm org runs through the real console script (`orgloop run --dir TMP`, offline
brain), and is killed with SIGKILL — the whole engine process group, at a seeded random moment —
then resumed with `orgloop resume RUN`, which is itself killed again at a later random moment,
until the run has taken its share of kills and may finish. Runs follow each other until there
have been KILLS kills. A kill *holds* when all of these are true:

- nothing it left keeps running: no process that was under the engine when it was killed (an
  experiment sits in its own session, so the kill does not reach it; it must notice and die)
  is alive 5 s later;
- the log it left reads back whole (a torn last line is allowed), and has every message consumed
  at most once and no experiment finished twice;
- the resume after it starts and goes on (it is killed later, or finishes with exit 0);
- and its run, once finished: every message consumed at most once, no experiment finished twice,
  results.tsv has one row per finished experiment with the events' status and metric, in order,
  and the run branch is the chain of kept commits, its head the last one.

Goal: 20 held of 20. To keep the wall time reasonable on 2 cores, TINYLM_BUDGET scales the
training compute down (default 0.05: an experiment takes a couple of seconds) and each run takes
several kills in its life; both are printed with the result.

Run: python bench/chaos.py [--kills 20] [--per-run 5] [--seed 0] [--budget 0.05]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from orgloop.runtime.core.events import Event, LogError, read_events
from orgloop.runtime.core.git import Git

LIFE = 290
"""About how many lines the built-in run's log reaches (three baselines, ten experiments)."""


@dataclass
class Kill:
    run: int
    at: float
    """Seconds after the engine process (the run, or the resume before) started."""
    events: int = 0
    """Lines in the log when it was killed."""
    processes: int = 0
    """Processes under the engine when it was killed (its experiment's, when one was running)."""
    problems: list[str] = field(default_factory=list)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every process under `root` (pid -> start time): the engine's experiments sit in their
    own sessions and namespaces, but they are still its children and grandchildren."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append(int(entry.name))
            starts[int(entry.name)] = st[2]
    out: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out[pid] = starts.get(pid, -1)
        todo += children.get(pid, [])
    return out


def alive(procs: dict[int, int]) -> list[int]:
    """The processes of `procs` still running (the same process: pid and start time)."""
    out = []
    for pid, start in procs.items():
        st = _stat(pid)
        if st is not None and st[2] == start and st[1] not in ("Z", "X"):
            out.append(pid)
    return out


def at_most_once(events: list[Event]) -> list[str]:
    problems = []
    consumed = Counter(e.data["message"] for e in events if e.kind == "turn_completed")
    twice = [m for m, n in consumed.items() if n > 1]
    if twice:
        problems.append(f"message(s) consumed twice: {twice[:5]}")
    finished = Counter(e.data["id"] for e in events if e.kind == "experiment_finished")
    again = [x for x, n in finished.items() if n > 1]
    if again:
        problems.append(f"experiment(s) finished twice: {again[:5]}")
    return problems


def final_checks(run_dir: Path, org: Path) -> list[str]:
    try:
        events = read_events(run_dir / "events.jsonl")
    except LogError as e:
        return [f"the log does not read: {e}"]
    problems = at_most_once(events)
    if not events or events[-1].kind != "run_finished":
        problems.append("the run did not finish")
    started = {e.data["id"]: e.data for e in events if e.kind == "experiment_started"}
    finished = {e.data["id"]: e.data for e in events if e.kind == "experiment_finished"}
    decisions = {e.data["experiment"]: e.data for e in events if e.kind == "decision"}
    rows = [r.split("\t") for r in (run_dir / "results.tsv").read_text().splitlines()[1:]]
    if sorted(r[4].split()[0] for r in rows) != sorted(finished):
        problems.append(f"results.tsv lists {len(rows)} experiments, the log {len(finished)}")
    for commit, metric, _, status, description in rows:
        exp = description.split()[0]
        ev, decision = finished.get(exp, {}), decisions.get(exp, {})
        want = ev.get("status")
        if want == "ok":
            run = started.get(exp, {})
            # a confirmation rerun of the best or the baseline is decided by nobody
            kind = "confirm" if run.get("confirm") else "baseline" if run.get("baseline") else None
            want = kind or decision.get("verdict")
        value = ev.get("metric")
        wrong = status != want or (value is not None and metric != f"{value:.6f}")
        if wrong or (status == "keep" and commit != str(decision.get("commit"))[:7]):
            problems.append(f"results.tsv row {exp} disagrees with the log")
    kept = [e.data["commit"] for e in events if e.kind == "decision" and e.data["commit"]]
    branch = str(events[0].data["branch"])
    git = Git(org)
    chain = git.run("rev-list", "--reverse", branch).split()
    if [c for c in chain if c in kept] != kept:
        problems.append("the run branch is not the chain of kept commits")
    if kept and git.head(branch) not in (kept[-1], *chain[-1:]):
        problems.append("the run branch's head is not the last kept commit")
    return problems


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["orgloop", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def _reached(proc: subprocess.Popen[bytes], log: Path, target: int) -> bool:
    """Wait until the log holds `target` lines (True) or the process has ended (False)."""
    while proc.poll() is None:
        if lines(log) >= target:
            return True
        time.sleep(0.005)
    return False


def one_run(n: int, kills: int, rng: random.Random, env: dict[str, str], base: Path) -> list[Kill]:
    """One built-in run, killed `kills` times at random moments and resumed after each: each
    moment is a random point of the run's life (its log reaching a random line count, out of
    the about 300 a run writes) plus a random fraction of a second, so a kill lands as often in
    an experiment's training as in a commit."""
    folder = base / f"run{n}"
    folder.mkdir()
    proc = start(["run", "--dir", str(folder)], env, folder)
    runs = folder / "orgloop-tinylm" / ".orgloop" / "runs"
    while proc.poll() is None and not (runs.is_dir() and any(runs.iterdir())):
        time.sleep(0.005)
    if not runs.is_dir():
        return [Kill(n, 0.0, problems=["the run never made its folder"])]
    (run_dir,) = runs.iterdir()
    log = run_dir / "events.jsonl"
    done: list[Kill] = []
    started = time.monotonic()
    for target in sorted(rng.sample(range(2, LIFE), kills)):
        if not _reached(proc, log, target):
            break  # it finished before this moment: fewer kills in this run
        time.sleep(rng.uniform(0.0, 1.0))
        k = Kill(n, time.monotonic() - started)
        tree = descendants(proc.pid)
        kill(proc)
        k.events = lines(log)
        k.processes = len(tree)
        deadline = time.monotonic() + 5
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(tree):
            k.problems.append(f"processes outlived the engine: {alive(tree)}")
        try:
            k.problems += at_most_once(read_events(log))
        except LogError as e:
            k.problems.append(f"the log it left does not read: {e}")
        done.append(k)
        proc = start(["resume", str(run_dir)], env, folder)
        started = time.monotonic()
    code = proc.wait(timeout=900)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if code != 0 and done:
        done[-1].problems.append(f"the resume after it exited {code}: {err[-300:]}")
    problems = final_checks(run_dir, run_dir.parents[2])
    for k in done:
        k.problems += problems
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--per-run", type=int, default=5, help="kills in each run's life")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", default="0.05", help="TINYLM_BUDGET for every experiment")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "TINYLM_BUDGET": args.budget, "OMP_NUM_THREADS": "1"}
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    started = time.monotonic()
    kills: list[Kill] = []
    with tempfile.TemporaryDirectory(prefix="orgloop-chaos-") as tmp:
        n = 0
        while len(kills) < args.kills:
            kills += one_run(n, min(args.per_run, args.kills - len(kills)), rng, env, Path(tmp))
            n += 1
    held = [k for k in kills if not k.problems]
    wall = time.monotonic() - started
    print(
        f"chaos: the built-in org (offline brain, TINYLM_BUDGET={args.budget}), {n} run(s), "
        f"SIGKILL of the engine's process group at {len(kills)} seeded random moments "
        f"(seed {args.seed}, up to {args.per_run} per run, spread over its log's life plus "
        f"0-1 s), each then resumed with `orgloop resume`; {wall:.0f} s wall"
    )
    for k in kills:
        status = "held" if not k.problems else "FAILED: " + "; ".join(k.problems)
        print(
            f"  run {k.run}: kill {k.at:5.1f} s into its session, {k.events:3d} events, "
            f"{k.processes} process(es) under the engine: {status}"
        )
    print(f"{len(held)} held of {len(kills)}")
    return 0 if len(held) == len(kills) else 1


if __name__ == "__main__":
    sys.exit(main())
