"""Each offline policy, one property a test, through a real engine on the built-in org."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import replace
from pathlib import Path

from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain, _sample
from orgloop.runtime.core import rules
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors import ExperimentResult, ExperimentSpec
from orgloop.runtime.testing import FunctionBrain, InstantExecutor

from _orgs import knob, small_org, toy_score, use_engineer


def offline_run(root: Path, **kw) -> Engine:
    engine = Engine.start(root, brain=OfflineBrain(), executor=InstantExecutor(toy_score), **kw)
    asyncio.run(engine.run())
    return engine


def test_the_pi_sends_one_direction_per_slot_plus_runahead_at_kickoff(tmp_path: Path) -> None:
    engine = offline_run(small_org(tmp_path / "org", experiments=3))
    kickoff_turn = next(
        t for t, m in ((m.turn, m) for m in engine.state.messages.values()) if m.kind == "direction"
    )
    first = [m for m in engine.state.messages.values() if m.turn == kickoff_turn]
    assert len(first) == 1 + 1  # parallel 1, runahead 1


def test_the_mutate_engineer_changes_one_knob_inside_its_space(tmp_path: Path) -> None:
    engine = offline_run(use_engineer(small_org(tmp_path / "org", experiments=6), "mutate"))
    space = engine.org.roles["engineer"].policy.data["space"]
    git = Git(engine.org.root)
    base = git.show(engine.state.config["base"], "train.py")
    for e in engine.state.candidates():
        name, old, new = re.match(r"(\w+) (.+) -> (.+)", e.description).groups()
        assert name in space
        assert old != new
        spec = space[name]
        value = eval(new)
        if "choice" in spec:
            assert value in spec["choice"]
        else:
            lo, hi = spec["log"]
            assert lo <= value <= hi
        changed = [
            line
            for line in git.run("diff", f"{e.base}..{e.commit}").splitlines()
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        ]
        assert changed == [f"-{name} = {old}", f"+{name} = {new}"]
    assert knob(base, "LR") == 0.003


def test_the_critic_flags_failures_and_the_reviewer_never_recommends_them(tmp_path: Path) -> None:
    class CandidatesCrash(InstantExecutor):
        """The baseline measures (else the run stops at once); every change crashes."""

        async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
            result = await super().run(spec, slot)
            return replace(result, status="crash", metric=None) if spec.files else result

    root = small_org(tmp_path / "org", experiments=3, baseline_runs=1)
    engine = Engine.start(root, brain=OfflineBrain(), executor=CandidatesCrash(toy_score))
    asyncio.run(engine.run())
    checked = [m for m in engine.state.messages.values() if m.kind == "checked"]
    reviews = [m for m in engine.state.messages.values() if m.kind == "review"]
    assert checked and all("crash" in m.data["flags"] for m in checked)
    assert reviews and all(m.data["recommend"] == "discard" for m in reviews)
    assert all(e.decision == "discard" for e in engine.state.candidates())


def test_the_reviewer_keeps_only_beyond_k_sigma_of_the_baseline_noise(tmp_path: Path) -> None:
    engine = offline_run(small_org(tmp_path / "org", experiments=8))
    margin = rules.keep_margin(engine.org, engine.state)
    for m in engine.state.messages.values():
        if m.kind == "review" and m.data["gain"] is not None:
            assert (m.data["recommend"] == "keep") == (m.data["gain"] > margin)
    kept = [e for e in engine.state.candidates() if e.decision == "keep"]
    assert kept, "the toy score has an optimum every knob moves toward"


def test_the_pi_keeps_only_what_the_reviewer_recommends_and_still_beats_the_incumbent(
    tmp_path: Path,
) -> None:
    engine = offline_run(small_org(tmp_path / "org", experiments=8))
    reviews = {
        m.data["experiment"]: m.data["recommend"]
        for m in engine.state.messages.values()
        if m.kind == "review"
    }
    for e in engine.state.candidates():
        if reviews[e.id] == "discard":
            assert e.decision == "discard"
        elif e.decision == "discard":  # a keep since the review moved the incumbent past it
            assert "not more than the noise margin" in e.reason


def test_sampling_stays_in_range_and_moves() -> None:
    rng = random.Random(0)
    for _ in range(200):
        v = _sample({"log": [0.001, 0.01]}, 0.003, rng)
        assert 0.001 <= v <= 0.01
        c = _sample({"choice": [1, 2, 3]}, 2, rng)
        assert c in (1, 3)
    assert _sample({"choice": [2]}, 2, rng) is None


def test_gpu_seconds_budget_stops_the_run(tmp_path: Path) -> None:
    from orgloop.runtime.executors import ExperimentResult

    class Slow(InstantExecutor):
        async def run(self, spec, slot):  # type: ignore[no-untyped-def]
            r = await super().run(spec, slot)
            return ExperimentResult(r.status, r.metric, commit=r.commit, seconds=40.0)

    from _orgs import set_frontmatter

    root = small_org(tmp_path / "org", experiments=20, baseline_runs=1)
    set_frontmatter(root / "ORG.md", budget={"experiments": 20, "gpu_seconds": 100})
    Git(root).commit_all("gpu budget")
    engine = Engine.start(root, brain=OfflineBrain(), executor=Slow(toy_score))
    asyncio.run(engine.run())
    assert engine.state.finish_reason == "gpu_seconds budget spent"
    assert 100 <= engine.state.gpu_seconds <= 100 + 2 * 40


def test_an_inline_policy_brain_is_all_a_test_needs(tmp_path: Path) -> None:
    """A FunctionBrain stands in for any role: the runtime's rules still apply to it."""
    seen: list[str] = []

    def brain(ctx: TurnContext) -> None:
        seen.append(ctx.role.name)

    engine = Engine.start(
        small_org(tmp_path / "org", baseline_runs=1),
        brain=FunctionBrain(brain),
        executor=InstantExecutor(toy_score),
    )
    asyncio.run(engine.run())
    assert seen == ["pi"]


def test_the_engineer_never_sends_a_change_twice_from_the_same_incumbent(tmp_path: Path) -> None:
    root = use_engineer(small_org(tmp_path / "org", experiments=10), "mutate")
    path = root / "roles" / "engineer.md"  # a space so small that a repeat is near certain
    text = path.read_text()
    start, end = text.index("space:\n"), text.index("```\n", text.index("space:\n"))
    small = "space:\n  ACT: {choice: [tanh, relu, gelu]}\n  BATCH: {choice: [64, 128]}\n"
    path.write_text(text[:start] + small + text[end:])
    Git(root).commit_all("a small space")
    engine = offline_run(root)
    seen: dict[tuple[str, str], str] = {}
    for e in engine.state.candidates():
        d = engine.state.messages[e.message].data
        key = (d["base"], d["files"]["train.py"])
        assert key not in seen, f"{e.id} repeats {seen[key]}"
        seen[key] = e.id
    assert len(seen) >= 3
