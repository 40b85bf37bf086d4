"""run_batch: seeds and orgs side by side on shared slots; a failed run never stops the others."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from orgloop.org import Metric, OrgError, builtin_org_dir
from orgloop.runtime.batch import BatchError, SharedSlots, run_batch, set_experiment_budget
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.executors import ExperimentResult, ExperimentSpec
from orgloop.runtime.testing import FunctionBrain, InstantExecutor

from _orgs import small_org, toy_score


@pytest.mark.slow
def test_two_seeds_of_a_real_org_give_a_table_with_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TINYLM_BUDGET", "0.002")  # a fraction of a second of training each
    org = small_org(tmp_path / "tinylm", experiments=5, baseline_runs=1)
    result = run_batch(
        [org], [0, 1], out=tmp_path / "out", brain_factory=OfflineBrain, budget_experiments=1,
        progress=print,
    )  # fmt: skip
    assert [(r.label, r.seed, r.ok) for r in result.runs] == [("tinylm", 0, True),
                                                              ("tinylm", 1, True)]  # fmt: skip
    for r in result.runs:
        assert r.summary is not None and len(r.summary.state.candidates()) == 1  # budget set
        assert r.summary.state.config["seed"] == r.seed
        assert (r.run_dir / "report.md").exists() and (r.run_dir / "progress.png").exists()
    table = result.format_table()
    assert "| tinylm | 0 | ok |" in table and "| tinylm | 1 | ok |" in table
    assert "± " in table.splitlines()[2]
    assert (tmp_path / "out" / "batch.md").read_text().endswith(table)
    rows = list(csv.DictReader((tmp_path / "out" / "runs.csv").read_text().splitlines()))
    assert [(row["seed"], row["status"]) for row in rows] == [("0", "ok"), ("1", "ok")]
    assert "tinylm seed 1: done" in capsys.readouterr().out


def test_orgs_that_cannot_run_stop_the_batch_before_anything_is_made(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "ORG.md").write_text("---\nname: [unclosed\n---\n")
    with pytest.raises(OrgError) as e:
        run_batch(
            [builtin_org_dir(), broken, tmp_path / "absent"], [3], out=tmp_path / "out",
            brain_factory=OfflineBrain, budget_experiments=2, executor=InstantExecutor(toy_score),
        )  # fmt: skip
    where = {f.path for f in e.value.findings}
    assert where == {str(broken / "ORG.md"), str(tmp_path / "absent")}  # the user's files
    assert e.value.unreadable and not (tmp_path / "out").exists()


def test_experiments_on_an_autoresearch_folder_is_refused_before_anything_is_made(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ar"
    folder.mkdir()
    (folder / "program.md").write_text("# Improve val_bpb\n")
    (folder / "train.py").write_text("print('---')\nprint('val_bpb: 1.0')\n")
    with pytest.raises(BatchError, match="has none"):
        run_batch([folder], [0], out=tmp_path / "out", brain_factory=OfflineBrain,
                  budget_experiments=1)  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_a_run_whose_brain_fails_is_failed_and_the_other_finishes(tmp_path: Path) -> None:
    offline = OfflineBrain()

    async def flaky(ctx: TurnContext) -> None:
        if ctx.state.config["seed"] == 1 and ctx.role.name == "engineer":
            raise RuntimeError("the model went away")
        await offline.turn(ctx)

    result = run_batch(
        [builtin_org_dir()], [0, 1], out=tmp_path / "out",
        brain_factory=lambda: FunctionBrain(flaky), budget_experiments=2,
        executor=InstantExecutor(toy_score),
    )  # fmt: skip
    good, bad = result.runs
    assert good.ok and len(good.summary.state.candidates()) == 2
    assert not bad.ok and "the model went away" in bad.error and "orgloop resume" in bad.error


class Counting:
    """Records how many experiments run at once and on which slot; scores like InstantExecutor
    when given a score, else answers 1.0 without touching git."""

    def __init__(self, slots: int, *, instant: bool = True) -> None:
        self.slots = slots
        self.inner = InstantExecutor(toy_score) if instant else None
        self.now = self.peak = 0
        self.devices: list[int] = []

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.devices.append(slot)
        await asyncio.sleep(0.02)
        self.now -= 1
        if self.inner is None:
            return ExperimentResult("ok", 1.0)
        return await self.inner.run(spec, slot)


def test_engines_share_the_slots(tmp_path: Path) -> None:
    executor = Counting(slots=2)
    orgs = [small_org(tmp_path / name, experiments=1) for name in ("a", "b")]
    result = run_batch(orgs, [0], out=tmp_path / "out", brain_factory=OfflineBrain,
                       executor=executor)  # fmt: skip
    assert all(r.ok for r in result.runs)
    assert executor.peak == 2 and set(executor.devices) == {0, 1}


def test_shared_slots_never_run_more_than_the_inner_slots(tmp_path: Path) -> None:
    inner = Counting(slots=1, instant=False)
    shared = SharedSlots(inner)
    spec = ExperimentSpec("e1", tmp_path, "HEAD", {}, "true", Metric("m"), 1.0, tmp_path)

    async def many() -> None:
        await asyncio.gather(*(shared.run(spec, n) for n in range(5)))

    asyncio.run(many())
    assert inner.peak == 1 and inner.devices == [0] * 5


def test_a_batch_refuses_an_out_that_holds_its_runs(tmp_path: Path) -> None:
    (tmp_path / "out" / "tinylm-seed0").mkdir(parents=True)
    with pytest.raises(BatchError, match="already holds"):
        run_batch([], [0], out=tmp_path / "out", brain_factory=OfflineBrain)
    with pytest.raises(BatchError, match="no seeds"):
        run_batch([], [], out=tmp_path / "out2", brain_factory=OfflineBrain)


def test_the_budget_is_set_in_the_copy_and_the_rest_kept(tmp_path: Path) -> None:
    small_org(tmp_path / "org", experiments=9)
    text = (tmp_path / "org" / "ORG.md").read_text()
    set_experiment_budget(tmp_path / "org", 2)
    new = (tmp_path / "org" / "ORG.md").read_text()
    assert "experiments: 2" in new and new.split("---\n", 2)[2] == text.split("---\n", 2)[2]


# ---- yardsticks: classic search over the same task, budget and seeds
def test_vs_tpe_and_random_run_beside_the_org_on_the_same_seeds_and_budget(
    tmp_path: Path,
) -> None:
    executor = InstantExecutor(toy_score)
    claude_like = FunctionBrain(OfflineBrain().turn)  # the org's own brain; yardsticks go offline
    result = run_batch(
        [builtin_org_dir()], [0, 1], out=tmp_path / "out", brain_factory=lambda: claude_like,
        budget_experiments=4, executor=executor, vs=("tpe", "random"),
    )  # fmt: skip
    assert [(r.label, r.seed, r.vs) for r in result.runs] == [
        ("tinylm", 0, ""), ("tinylm", 1, ""), ("tpe", 0, "tpe"), ("tpe", 1, "tpe"),
        ("random", 0, "random"), ("random", 1, "random"),
    ]  # fmt: skip
    assert all(r.ok for r in result.runs), [r.error for r in result.runs]
    for r in result.runs:
        s = r.summary
        assert s is not None and len(s.state.candidates()) == 4 and s.state.config["seed"] == r.seed
        assert s.confirmation is not None  # judged by the same reruns on fresh seeds
        if r.vs:
            assert s.state.config["brain"] == "offline"
            roles = sorted(p.name for p in (r.folder / "roles").iterdir())
            assert roles == ["pi.md", "trainer.md"]
            pi = (r.folder / "roles" / "pi.md").read_text()
            assert f"kind: {r.vs}" in pi and "LR:" in pi and "receives:\n- kickoff\n- result" in pi
            trainer = (r.folder / "roles" / "trainer.md").read_text()
            assert "memory: 16G" in trainer  # the org's sandbox, limits and all
            assert all(e.decision for e in s.state.candidates())
            assert not [m for m in s.state.messages.values() if m.kind == "review"]
    table = (tmp_path / "out" / "batch.md").read_text()
    assert "Paired by seed" in table
    assert "| tinylm | tpe | 2 |" in table and "| tinylm | random | 2 |" in table
    assert (tmp_path / "out" / "batch.png").read_bytes().startswith(b"\x89PNG")
    (tpe,) = [p for p in result.comparisons() if p.b == "tpe"]
    gaps = result.gap_by_seed()
    assert list(tpe.diffs) == [gaps["tinylm"][s] - gaps["tpe"][s] for s in (0, 1)]  # type: ignore[operator]


def test_a_yardstick_over_a_task_with_no_knobs_fails_and_the_org_still_runs(
    tmp_path: Path,
) -> None:
    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    train = root / "train.py"
    train.write_text("\n".join(li for li in train.read_text().splitlines() if " = " not in li[:30]))
    engineer = root / "roles" / "engineer.md"
    engineer.write_text(engineer.read_text().replace("space:", "old_space:"))
    from orgloop.runtime.core.git import Git

    Git(root).commit_all("no knobs")
    result = run_batch(
        [root], [0], out=tmp_path / "out", brain_factory=OfflineBrain,
        executor=InstantExecutor(lambda files: 1.0), vs=("tpe",),
    )  # fmt: skip
    org, stick = result.runs
    assert org.ok and org.summary is not None  # the org ran (its engineer had nothing to change)
    assert stick.vs == "tpe" and not stick.ok
    assert (
        "could not make the tpe yardstick" in stick.error
        and "no module-level constants" in stick.error
    )


def test_an_unknown_yardstick_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="no yardstick 'grid'"):
        run_batch([], [0], out=tmp_path / "out", brain_factory=OfflineBrain, vs=("grid",))
    assert not (tmp_path / "out").exists()
