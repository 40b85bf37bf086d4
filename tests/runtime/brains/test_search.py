"""The search engineers (`kind: tpe`, `kind: random`): Optuna studies rebuilt from the run's state,
joint changes inside the space, the same proposals from the same log, and a resume that replays."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import statistics
from pathlib import Path

import pytest

from orgloop.runtime.brains._search import (
    Sampler,
    Trial,
    distributions,
    project,
    trials,
    widened,
    written,
)
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors import ExperimentResult, ExperimentSpec
from orgloop.runtime.testing import InstantExecutor

from _orgs import knob, small_org, toy_score

SPACE = {
    "LR": {"log": [0.0003, 0.03]},
    "HIDDEN": {"choice": [64, 128, 256]},
    "ACT": {"choice": ["tanh", "relu"]},
    "LAYERS": {"int": [1, 3]},
}
TRAIN = 'LR = 0.003  # learning rate\nHIDDEN = 128\nACT = "tanh"\nLAYERS = 1\nSEED = 0\n'


def run_org(root: Path, seed: int = 0) -> Engine:
    engine = Engine.start(
        root, brain=OfflineBrain(), executor=InstantExecutor(toy_score), seed=seed, durable=False
    )
    asyncio.run(engine.run())
    return engine


def test_the_space_becomes_optuna_distributions() -> None:
    d = distributions({**SPACE, "BAD": {"log": [0, 1]}, "ODD": "x"})
    assert set(d) == {"LR", "HIDDEN", "ACT", "LAYERS"}
    assert d["LR"].log and (d["LR"].low, d["LR"].high) == (0.0003, 0.03)  # type: ignore[attr-defined]
    assert list(d["HIDDEN"].choices) == [64, 128, 256]  # type: ignore[attr-defined]


def test_the_same_trials_and_seed_give_the_same_proposals() -> None:
    past = [
        Trial({"LR": 0.001 * (i + 1), "HIDDEN": 64, "ACT": "relu"}, 2.0 - i / 10) for i in range(8)
    ]
    past.append(Trial({"LR": 0.02, "HIDDEN": 256}, None, running=True))
    asks = [
        [Sampler("tpe", SPACE, past, seed, "minimize").ask() for _ in range(1)]
        for seed in (7, 7, 8)
    ]
    assert asks[0] == asks[1] and asks[0] != asks[2]
    one = Sampler("tpe", SPACE, past, 7, "minimize")
    assert [one.ask(), one.ask()] != [asks[0][0], asks[0][0]]  # a second ask is another proposal
    for p in asks[0]:
        assert 0.0003 <= p["LR"] <= 0.03 and p["HIDDEN"] in (64, 128, 256) and 1 <= p["LAYERS"] <= 3


def test_multivariate_tpe_models_the_knobs_jointly_and_stays_reproducible() -> None:
    """`multivariate: true` proposes from the joint model (other proposals than the independent
    one once past the random start-up trials), and the same trials and seed still give the same."""
    knobs = [{"LR": 0.001 * (i + 1), "HIDDEN": (64, 128, 256)[i % 3], "LAYERS": 1 + i % 3}
             for i in range(8)]  # fmt: skip
    past = [Trial({**k, "ACT": "relu"}, 2.0 - i / 10) for i, k in enumerate(knobs)]
    joint = [Sampler("tpe", SPACE, past, 3, "minimize", multivariate=True).ask() for _ in "ab"]
    apart = Sampler("tpe", SPACE, past, 3, "minimize").ask()
    assert joint[0] == joint[1] and joint[0] != apart
    assert 0.0003 <= joint[0]["LR"] <= 0.03 and joint[0]["HIDDEN"] in (64, 128, 256)


def test_a_value_outside_the_space_still_counts_and_proposals_land_inside() -> None:
    """A trial that ran values outside a (since narrowed) space keeps every knob in the study,
    a value of the wrong kind is left out, and every proposal lands inside the space."""
    past = [Trial({"LR": 0.5, "HIDDEN": 128, "ACT": "gelu", "LAYERS": "two"}, 1.0)]
    past += [Trial({"LR": 0.4 + i / 100, "HIDDEN": 256, "ACT": "gelu"}, 1.1 + i) for i in range(6)]
    sampler = Sampler("tpe", SPACE, past, 0, "minimize", multivariate=True)
    assert sampler.study.trials[0].params == {"LR": 0.5, "HIDDEN": 128, "ACT": "gelu"}
    for _ in range(10):  # the model's best lies beyond the space: proposals are moved inside
        p = sampler.ask()
        assert 0.0003 <= p["LR"] <= 0.03 and p["ACT"] in ("tanh", "relu")
        assert p["HIDDEN"] in (64, 128, 256) and 1 <= p["LAYERS"] <= 3


def test_projection_clips_numbers_and_picks_the_nearest_choice() -> None:
    d = distributions(SPACE)
    assert project(d["LR"], 0.5) == 0.03 and project(d["LR"], 0.001) == 0.001
    assert project(d["LAYERS"], 7) == 3 and project(d["HIDDEN"], 100) == 128
    assert project(d["ACT"], "gelu") == "tanh" and project(d["ACT"], "relu") == "relu"
    wide = widened(d, [Trial({"LR": 0.5, "HIDDEN": 512, "LAYERS": 0}, 1.0)])
    assert wide["LR"].high == 0.5 and wide["LAYERS"].low == 0  # type: ignore[attr-defined]
    assert list(wide["HIDDEN"].choices) == [64, 128, 256, 512]  # type: ignore[attr-defined]
    assert widened(d, []) == d


def test_a_proposal_is_written_where_each_constant_stands() -> None:
    text, change = written(TRAIN, {"LR": 0.0102345, "HIDDEN": 128, "ACT": "relu"}, SPACE)
    assert change == 'LR 0.003 -> 0.0102, ACT "tanh" -> "relu"'  # HIDDEN did not change
    assert (
        text == 'LR = 0.0102  # learning rate\nHIDDEN = 128\nACT = "relu"\nLAYERS = 1\nSEED = 0\n'
    )
    assert written(TRAIN, {"LR": 0.003, "LAYERS": 1}, SPACE) == (TRAIN, "")
    # rounding to three digits never leaves the range
    assert written(TRAIN, {"LR": 0.029996}, SPACE)[1] == "LR 0.003 -> 0.03"


def test_the_engineer_changes_several_knobs_at_once_inside_its_space(tmp_path: Path) -> None:
    engine = run_org(small_org(tmp_path / "org", experiments=8, baseline_runs=1))
    space = engine.org.roles["engineer"].policy.data["space"]
    git = Git(engine.org.root)
    sizes = []
    for e in engine.state.candidates():
        text = git.show(e.commit, "train.py")
        changes = e.description.split(", ")
        sizes.append(len(changes))
        for change in changes:
            name = change.split()[0]
            value, spec = knob(text, name), space[name]
            assert (
                value in spec["choice"]
                if "choice" in spec
                else spec["log"][0] <= value <= spec["log"][1]
            )
    assert max(sizes) > 1 and len(sizes) == 8


class SeededExecutor(InstantExecutor):
    """toy_score plus 0.01 per ORGLOOP_SEED: the baseline runs spread as noise would."""

    def __init__(self) -> None:
        super().__init__(toy_score)

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        got = await super().run(spec, slot)
        noise = 0.01 * spec.seed
        return dataclasses.replace(got, metric=None if got.metric is None else got.metric + noise)


def test_trials_are_the_experiments_with_the_values_they_ran(tmp_path: Path) -> None:
    """One trial per candidate, and one for the baseline runs together, scored by their mean."""
    root = small_org(tmp_path / "org", experiments=4, baseline_runs=3)
    engine = Engine.start(root, brain=OfflineBrain(), executor=SeededExecutor(), durable=False)
    asyncio.run(engine.run())
    ws, state = engine.workspace, engine.state
    got = trials(state, "train.py", ws.read)
    base = [e for e in state.experiments.values() if e.baseline]
    ran = [e for e in state.experiments.values() if not e.baseline and not e.confirm]
    assert len(base) == 3 and len(ran) == 4 and len(got) == 5
    assert got[0].params["LR"] == knob(ws.read(base[0].commit, "train.py") or "", "LR")
    assert len({e.metric for e in base}) == 3  # three values, one trial
    assert got[0].value == pytest.approx(statistics.fmean(e.metric or 0.0 for e in base))
    for t, e in zip(got[1:], ran, strict=True):
        text = ws.read(e.commit, "train.py") or ""
        assert t.params["LR"] == knob(text, "LR") and t.params["ACT"] == knob(text, "ACT")
        assert t.value == e.metric and not t.running


def test_tpe_learns_from_the_run(tmp_path: Path) -> None:
    """Over three seeds, the second half of the candidates scores better than the first half:
    the sampler is fed what the run measured (the first five are random)."""
    gains = []
    for seed in range(3):
        engine = run_org(small_org(tmp_path / f"org{seed}", experiments=16, baseline_runs=1), seed)
        scores = [e.metric or 9.0 for e in engine.state.candidates()]
        gains.append(statistics.fmean(scores[:8]) - statistics.fmean(scores[8:]))
    assert statistics.fmean(gains) > 0, gains


def _cut_after(src: Path, dest: Path, n_engineer_turns: int) -> None:
    """A copy of run folder `src` whose log ends just after the n-th engineer turn committed."""
    shutil.copytree(src, dest)
    lines = (src / "events.jsonl").read_bytes().splitlines(keepends=True)
    seen = 0
    for i, ev in enumerate(read_events(src / "events.jsonl")):
        if ev.kind == "turn_completed" and ev.data["role"] == "engineer":
            seen += 1
            if seen == n_engineer_turns:
                (dest / "events.jsonl").write_bytes(b"".join(lines[: i + 1]))
                return
    raise AssertionError("the run had fewer engineer turns")


@pytest.mark.parametrize("cut", [2, 5])
def test_a_resumed_run_proposes_what_the_uninterrupted_one_did(tmp_path: Path, cut: int) -> None:
    root = small_org(tmp_path / "org", experiments=10, baseline_runs=1)
    whole = run_org(root)
    proposed = [e.description for e in whole.state.candidates()]
    cut_dir = whole.run_dir.parent / "cut"
    _cut_after(whole.run_dir, cut_dir, cut)
    resumed = Engine.resume(cut_dir, brain=OfflineBrain(), executor=InstantExecutor(toy_score))
    state = asyncio.run(resumed.run())
    assert state.finished
    assert [e.description for e in state.candidates()] == proposed


def test_an_outcome_counts_from_its_decision_on(tmp_path: Path) -> None:
    """Read as of a direction: what was decided before it was sent is finished, what was
    decided after it (though back long ago, as here, where experiments take no time) runs."""
    root = small_org(tmp_path / "org", experiments=6, baseline_runs=2)
    engine = Engine.start(root, brain=OfflineBrain(), executor=InstantExecutor(toy_score))
    asyncio.run(engine.run())
    ws, state = engine.workspace, engine.state
    ran = state.candidates()
    directions = [m for m in state.messages.values() if m.kind == "direction"]
    upto = next(m for m in directions if ran[2].decided_seq < m.seq < ran[3].decided_seq)
    got = trials(state, "train.py", ws.read, upto)[1:]  # the baseline runs' trial first
    assert [t.running for t in got[:4]] == [False, False, False, True]
    assert got[2].value == ran[2].metric and all(e.finished_seq < upto.seq for e in ran[:4])
    assert [t.running for t in trials(state, "train.py", ws.read)[1:]] == [False] * 6


class UnevenExecutor(InstantExecutor):
    """toy_score, each experiment taking its own time (0 to 0.3 s): finishes land anywhere
    between the org's turns."""

    def __init__(self) -> None:
        super().__init__(toy_score)
        self.n = 0

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        self.n += 1
        await asyncio.sleep((self.n * 7 % 4) * 0.1)
        return await super().run(spec, slot)


def test_the_proposals_do_not_depend_on_how_long_experiments_take(tmp_path: Path) -> None:
    """The engineer proposes the next experiment while the last one runs (the slot must not
    idle while roles think). Whether that one is back by then depends on the machine, so the
    study counts an outcome only once the org has decided it: fast or slow, one seed gives one
    run."""
    runs = []
    for name, executor in (
        ("instant", InstantExecutor(toy_score)),
        ("slow", InstantExecutor(toy_score, seconds=0.2)),
        ("uneven", UnevenExecutor()),
    ):
        root = small_org(tmp_path / name, experiments=8, baseline_runs=2)
        engine = Engine.start(root, brain=OfflineBrain(), executor=executor, seed=3, durable=False)
        asyncio.run(engine.run())
        runs.append([(e.description, e.metric) for e in engine.state.candidates()])
    assert len(runs[0]) == 8 and runs[0] == runs[1] == runs[2]
