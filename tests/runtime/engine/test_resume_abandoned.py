"""An experiment during which the engine dies runs again once on resume; if the engine dies
during that run too, the next resume records it as a crash and the run goes on to its budget.

The engine runs in a real subprocess whose executor kills that process (kill -9) whenever it is
asked to run e2: the way an experiment that kills orgloop would end it, every time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orgloop.runtime.core.events import read_events

from _orgs import small_org

RUNNER = """
import asyncio, os, signal, sys
sys.path.insert(0, {helpers!r})
from _orgs import toy_score
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor

class KillsTheEngine(InstantExecutor):
    async def run(self, spec, slot):
        if spec.id == "e2":
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().run(spec, slot)

executor = KillsTheEngine(toy_score)
if sys.argv[1] == "start":
    engine = Engine.start(sys.argv[2], brain=OfflineBrain(), executor=executor, run_id="r")
else:
    engine = Engine.resume(sys.argv[2], brain=OfflineBrain(), executor=executor)
asyncio.run(engine.run())
"""


def engine(*args: str) -> int:
    code = RUNNER.format(helpers=str(Path(__file__).parents[1]))
    return subprocess.run([sys.executable, "-c", code, *args], timeout=120).returncode


def test_an_experiment_that_kills_the_engine_runs_again_once_then_is_a_crash(
    tmp_path: Path,
) -> None:
    root = small_org(tmp_path / "org", experiments=2, baseline_runs=1)
    run_dir = root / ".orgloop" / "runs" / "r"
    assert engine("start", str(root)) == -9
    assert engine("resume", str(run_dir)) == -9  # the one rerun dies the same way
    assert engine("resume", str(run_dir)) == 0  # not run a third time: the run finishes

    events = read_events(run_dir / "events.jsonl")
    starts = [e for e in events if e.kind == "experiment_started" and e.data["id"] == "e2"]
    assert len(starts) == 2
    (finished,) = [e for e in events if e.kind == "experiment_finished" and e.data["id"] == "e2"]
    assert finished.data["status"] == "crash"
    assert "orgloop stopped 2 times while this experiment ran" in finished.data["reason"]
    assert events[-1].kind == "run_finished"
    assert events[-1].data["reason"] == "experiment budget spent"
    rows = [r.split("\t") for r in (run_dir / "results.tsv").read_text().splitlines()[1:]]
    assert [(r[3], r[4].split()[0]) for r in rows][:2] == [("baseline", "e1"), ("crash", "e2")]
