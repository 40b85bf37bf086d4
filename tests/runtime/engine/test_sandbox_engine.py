"""The sandbox inside whole runs: a scripted PI and engineer, the offline critic and reviewer, the
real engine and the real LocalExecutor.

The engineer's "changes" are whole train.py files that misbehave on purpose (leak past the bound,
rewrite prepare.py, hang, print NaN); the PI tries to keep every one of them. Each must end with a
clear status in results.tsv, none may be kept, and the run must go on to the next.
"""

from __future__ import annotations

import asyncio
import math
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core import rules
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.core.state import ExperimentRecord
from orgloop.runtime.core.tools import ToolResult
from orgloop.runtime.engine import Engine
from orgloop.runtime.scaffold import init_org

BASELINE = "print('---')\nprint('val_bpb: 1.0')\n"


def make_org(root: Path, train: str, **experiment: Any) -> Path:
    root.mkdir(parents=True)
    settings = {
        "name": "faults",
        "entry": "pi",
        "metric": {"name": "val_bpb", "goal": "minimize", "bound": 0.5},
        "experiment": {
            "command": "python train.py",
            "timeout": "20s",
            "editable": ["train.py"],
            "protected": ["prepare.py"],
            "parallel": 1,
            "baseline_runs": 1,
            "confirm": 0,
            **experiment,
        },
        "budget": {"experiments": 10},
        "meta": {"every": 100},
    }
    front = yaml.safe_dump(settings, sort_keys=False)
    (root / "ORG.md").write_text(f"---\n{front}---\n# Objective\nLower val_bpb.\n")
    (root / "prepare.py").write_text("BOUND = 0.5\n")
    (root / "train.py").write_text(train)
    Git(root).init()
    Git(root).commit_all("org")
    return root


class Script:
    """PI and engineer from a script of named train.py versions; critic and reviewer offline.

    The PI sends one direction at a time, tries to keep every reviewed experiment and records
    what the engine said; the engineer writes the named version of train.py."""

    name = "script"

    def __init__(self, plans: dict[str, str]) -> None:
        self.plans = {k: textwrap.dedent(v) for k, v in plans.items()}
        self.todo = list(self.plans)
        self.keeps: dict[str, ToolResult] = {}
        self.reviews: list[dict[str, Any]] = []
        self.offline = OfflineBrain()

    async def turn(self, ctx: TurnContext) -> None:
        role, msg = ctx.role.name, ctx.message
        if role == "pi":
            if msg.kind == "review":
                self.reviews.append(dict(msg.data))
                exp = msg.data["experiment"]
                self.keeps[exp] = kept = ctx.call(
                    "decide", experiment=exp, verdict="keep", reason="the PI likes it"
                )
                if not kept.ok:
                    ctx.call("decide", experiment=exp, verdict="discard", reason=kept.content)
            if self.todo:
                ctx.call("send", kind="direction", body=self.todo.pop(0))
        elif role == "engineer":
            ctx.call("edit_file", path="train.py", content=self.plans[msg.body])
            ctx.call("send", kind="experiment", body=msg.body)
        else:
            await self.offline.turn(ctx)


def results(engine: Engine) -> list[list[str]]:
    lines = (engine.run_dir / "results.tsv").read_text().splitlines()
    return [line.split("\t") for line in lines[1:]]


def test_faulty_experiments_end_with_clear_statuses_and_the_run_goes_on(tmp_path: Path) -> None:
    org = make_org(tmp_path / "org", BASELINE, timeout="1.5s")
    script = Script(
        {
            "leak": "print('---')\nprint('val_bpb: 0.1')\n",
            # chmod first: prepare.py is read-only, and the experiment holds no capability that
            # ignores mode bits, even as root
            "tamper": """
            import os
            os.chmod("prepare.py", 0o644)
            open("prepare.py", "w").write("BOUND = 0\\n")
            print("val_bpb: 0.9")
            """,
            "hang": """
            import os, time
            if os.fork() == 0:
                os.setsid()
                time.sleep(1000)
            time.sleep(1000)
            """,
            "nan": "print('---')\nprint('val_bpb: nan')\n",
            "good": "print('---')\nprint('val_bpb: 0.9')\n",
        }
    )
    engine = Engine.start(org, brain=script)
    started = time.monotonic()
    state = asyncio.run(engine.run())
    assert time.monotonic() - started < 20

    rows = results(engine)
    assert [(r[3], r[4]) for r in rows] == [
        ("baseline", "e1 baseline run 1"),
        ("suspect", "e2 leak"),
        ("void", "e3 tamper"),
        ("timeout", "e4 hang"),
        ("crash", "e5 nan"),
        ("keep", "e6 good"),
    ]
    for exp, status in (("e2", "suspect"), ("e3", "void"), ("e4", "timeout"), ("e5", "crash")):
        assert not script.keeps[exp].ok
        assert f"its status is {status}" in script.keeps[exp].content
        assert state.experiments[exp].decision == "discard"
    assert script.keeps["e6"].ok
    assert state.incumbent_exp == "e6" and state.incumbent_metric == 0.9
    assert Git(org).show(f"refs/heads/{state.branch}", "train.py") == script.plans["good"]
    assert Git(org).show(f"refs/heads/{state.branch}", "prepare.py") == "BOUND = 0.5\n"

    finished = {
        e.data["id"]: e.data
        for e in read_events(engine.run_dir / "events.jsonl")
        if e.kind == "experiment_finished"
    }
    assert "prepare.py" in finished["e3"]["reason"]
    assert "not finite" in finished["e5"]["reason"]
    assert finished["e4"]["seconds"] < 1.5 + 2.0
    # the critic gets the change and the end of the log with each result, to check and quote
    result = {m.data["experiment"]: m.body for m in state.messages.values() if m.kind == "result"}
    assert "```diff\n" in result["e2"] and "+print('val_bpb: 0.1')" in result["e2"]
    assert "-print('val_bpb: 1.0')" in result["e2"]
    assert "The end of its log:" in result["e5"] and "val_bpb: nan" in result["e5"]
    assert result["e5"].startswith("e5 (nan): crash, val_bpb = None — ")
    for data in finished.values():  # what each experiment got is on the record
        iso = data["isolation"]
        assert iso["tree"] == "private copy" and iso["session"] and iso["timeout_s"] > 0
        assert iso["protected_read_only"] == ["prepare.py"]
        assert iso["network"] in ("none", "host")


NOISY = """
import os
BONUS = 0.0
n = int(os.environ["ORGLOOP_SEED"])  # run seed 0: baseline run i gets i; every candidate 0
print("---")
print(f"val_bpb: {1.0 + 0.01 * n - BONUS:.4f}")
print(f"seed_used: {n}")
"""


def test_noise_from_the_baselines_reaches_the_reviewer_and_sets_the_keep_margin(
    tmp_path: Path,
) -> None:
    """Three baselines score 1.00, 1.01, 1.02 (sigma 0.01); the reviewer asks for 2 sigma. A
    change worth 0.015 is inside the noise and cannot be kept; one worth 0.05 is kept."""
    train = NOISY
    org = make_org(tmp_path / "org", train, baseline_runs=3)
    script = Script(
        {
            "small": train.replace("BONUS = 0.0", "BONUS = 0.005"),
            "big": train.replace("BONUS = 0.0", "BONUS = 0.05"),
        }
    )
    engine = Engine.start(org, brain=script)
    state = asyncio.run(engine.run())

    assert sorted(state.baselines) == [1.0, 1.01, 1.02]
    assert state.noise == pytest.approx(0.01)
    assert rules.keep_margin(engine.org, engine.state) == pytest.approx(0.02)
    small, big = script.reviews
    assert small["noise"] == pytest.approx(0.01) and small["margin"] == pytest.approx(0.02)
    assert small["recommend"] == "discard" and big["recommend"] == "keep"
    assert not script.keeps["e4"].ok
    assert "noise margin 0.020000" in script.keeps["e4"].content
    assert script.keeps["e5"].ok
    assert [r[3] for r in results(engine)] == ["baseline"] * 3 + ["discard", "keep"]


@pytest.mark.parametrize("seed", [0, 2])
def test_each_run_seed_draws_its_own_noise(tmp_path: Path, seed: int) -> None:
    """Run seed s runs its baselines on ORGLOOP_SEED 1000s, 1000s+1, ..., its candidates on
    1000s and its confirmation reruns on the seeds after the baselines': two seeds of one org
    are independent replicates, and seed 0 keeps the seeds a single run always had."""
    org = make_org(tmp_path / "org", NOISY, baseline_runs=2, confirm=2)
    script = Script({"big": NOISY.replace("BONUS = 0.0", "BONUS = 0.5")})
    engine = Engine.start(org, brain=script, seed=seed)
    state = asyncio.run(engine.run())

    def used(e: ExperimentRecord) -> int:
        return int(e.info["log_tail"].split("seed_used: ")[1].split()[0])

    first = 1000 * seed
    assert state.first_seed == first
    base = [used(e) for e in state.experiments.values() if e.baseline]
    candidates = [used(e) for e in state.candidates()]
    confirm = sorted(used(e) for e in state.experiments.values() if e.confirm)
    assert base == [first, first + 1] and candidates == [first]
    assert confirm == [first + 2, first + 2, first + 3, first + 3]  # the best and the baseline
    assert script.keeps["e3"].ok and state.noise == pytest.approx(0.01 / 2**0.5, abs=1e-4)


@pytest.mark.slow
def test_the_tinylm_task_runs_in_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The built-in task, with its compute scaled down through `experiment.env`: training and
    the protected evaluation both run, on two CPU slots at once."""
    monkeypatch.setenv("TINYLM_BUDGET", "0.02")
    org = init_org(tmp_path / "tinylm")
    text = (org / "ORG.md").read_text()
    _, front, body = text.split("---\n", 2)
    data = yaml.safe_load(front)
    data["experiment"].update(baseline_runs=1, parallel=2, env=["TINYLM_BUDGET"])
    data["budget"]["experiments"] = 1
    (org / "ORG.md").write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)
    Git(org).commit_all("small")
    engine = Engine.start(org, brain=OfflineBrain())
    state = asyncio.run(engine.run())
    base = state.experiments["e1"]
    assert base.status == "ok"
    bound = engine.org.program.metric.bound
    assert base.metric is not None and bound is not None and bound < base.metric < math.log2(27)
    assert "bound_bpb" in base.info["log_tail"]  # the metric came from prepare.py --evaluate
    assert "TINYLM_BUDGET" in base.info["isolation"]["env"]
    assert os.environ["TINYLM_BUDGET"] == "0.02"
    assert results(engine)[0][3] == "baseline"
