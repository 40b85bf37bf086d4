"""Confirmation reruns: before a run ends, the best and the baseline run again on fresh seeds,
paired by seed; the closing figures, report.md and results.tsv say whether the win replicates."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from orgloop.org import Metric
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.confirm import Confirmation
from orgloop.runtime.core.events import read_events
from orgloop.runtime.engine import Engine
from orgloop.runtime.executors import ExperimentResult, ExperimentSpec
from orgloop.runtime.report import write_report
from orgloop.runtime.testing import InstantExecutor

from _orgs import small_org, toy_score

MIN = Metric("val_bpb", "minimize", 0.5)


class Seeded(InstantExecutor):
    """The toy score plus a seed effect shared by every run of a seed (pairs by seed cancel it).
    With `luck`, every change scores `worse` than the baseline, except on seed 0 (every
    candidate's) where it looks `luck` better than that."""

    def __init__(self, luck: float = 0.0, worse: float = 0.0) -> None:
        super().__init__(toy_score)
        self.luck, self.worse = luck, worse
        self.seeds: list[tuple[str, int, str]] = []
        self.base, self.base_metric = "", 0.0

    async def run(self, spec: ExperimentSpec, slot: int) -> ExperimentResult:
        result = await super().run(spec, slot)
        self.seeds.append((spec.id, spec.seed, spec.base))
        assert result.metric is not None
        if not self.base:  # the first run is a baseline, at the run's base
            self.base, self.base_metric = spec.base, result.metric
        metric = result.metric + 0.05 * spec.seed
        if self.luck and (spec.files or spec.base != self.base):
            lucky = self.luck if spec.seed == 0 else 0.0
            metric = self.base_metric + self.worse + 0.05 * spec.seed - lucky
        return ExperimentResult("ok", metric, commit=result.commit)


def run(root: Path, executor: InstantExecutor) -> Engine:
    engine = Engine.start(root, brain=OfflineBrain(), executor=executor, durable=False)
    asyncio.run(engine.run())
    return engine


def finished(engine: Engine) -> dict:
    (ev,) = [e for e in read_events(engine.run_dir / "events.jsonl") if e.kind == "run_finished"]
    return ev.data


def test_the_best_and_the_baseline_rerun_on_fresh_seeds_before_the_end(tmp_path: Path) -> None:
    ex = Seeded()
    engine = run(small_org(tmp_path / "org", experiments=6, baseline_runs=2, confirm=3), ex)
    state = engine.state
    best = state.experiments[state.incumbent_exp]
    assert best.decision == "keep"
    reruns = [e for e in state.experiments.values() if e.confirm]
    assert [e.confirm for e in reruns] == ["best", "baseline"] * 3
    seeds = {spec_id: (seed, base) for spec_id, seed, base in ex.seeds}
    assert [seeds[e.id][0] for e in reruns] == [2, 2, 3, 3, 4, 4]  # baselines used 0 and 1
    assert {seeds[e.id][1] for e in reruns if e.confirm == "best"} == {best.branch_commit}
    assert {seeds[e.id][1] for e in reruns if e.confirm == "baseline"} == {state.config["base"]}
    assert len(state.candidates()) == 6 and state.experiments_sent == 6  # not in the budget
    assert all(not e.decision for e in reruns)
    d = finished(engine)
    c = d["confirmed"]
    assert c["experiment"] == best.id and c["seeds"] == [2, 3, 4] and c["replicates"]
    base = sum(c["baseline"]) / 3
    gain = sum(b - a for a, b in zip(c["best"], c["baseline"], strict=True)) / 3
    assert d["gap_closed"] == pytest.approx(gain / (base - 0.604422))
    assert d["gap_closed_search"] is not None


def test_a_lucky_win_is_reported_as_not_replicating(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=4, baseline_runs=2, confirm=2)
    engine = run(root, Seeded(luck=0.5, worse=0.1))
    d = finished(engine)
    assert d["confirmed"]["seeds"] == [2, 3] and not d["confirmed"]["replicates"]
    assert d["confirmed"]["delta"] < 0  # the change is worse than the baseline, as it is
    assert d["gap_closed"] < 0 < d["gap_closed_search"]
    report = write_report(engine.run_dir)
    text = (engine.run_dir / "report.md").read_text()
    assert "does not replicate" in text and "## Confirmation on fresh seeds" in text
    assert report.summary.gap_closed == pytest.approx(d["gap_closed"])
    rows = [r.split("\t") for r in (engine.run_dir / "results.tsv").read_text().splitlines()]
    assert all(len(r) == 5 for r in rows)
    assert [r[3] for r in rows].count("confirm") == 4
    best = next(r for r in rows if r[4].startswith(f"{d['best_experiment']} "))
    assert "[confirmed: Δ" in best[4] and "does not replicate" in best[4]


@pytest.mark.parametrize("case", ["confirm off", "nothing kept", "stopped"])
def test_no_reruns_when_off_when_nothing_was_kept_or_when_stopped(
    tmp_path: Path, case: str
) -> None:
    root = small_org(
        tmp_path / "org", experiments=3, baseline_runs=1, confirm=0 if case == "confirm off" else 3
    )
    executor = InstantExecutor(lambda files: 1.0) if case == "nothing kept" else Seeded()
    engine = Engine.start(root, brain=OfflineBrain(), executor=executor, durable=False)
    if case == "stopped":
        engine.listeners.append(
            lambda ev: (
                (engine.run_dir / "control.jsonl").write_text('{"cmd": "stop"}\n')
                if ev.kind == "decision"
                else None
            )
        )
    asyncio.run(engine.run())
    assert engine.state.finished
    assert not [e for e in engine.state.experiments.values() if e.confirm]
    assert finished(engine)["confirmed"] is None


def test_a_run_cut_during_confirmation_resumes_without_asking_twice(tmp_path: Path) -> None:
    whole = run(small_org(tmp_path / "org", experiments=4, baseline_runs=1, confirm=3), Seeded())
    events = read_events(whole.run_dir / "events.jsonl")
    cut = next(
        i
        for i, e in enumerate(events)
        if e.kind == "experiment_finished" and whole.state.experiments[e.data["id"]].confirm
    )
    dest = whole.run_dir.parent / "cut"
    shutil.copytree(whole.run_dir, dest)
    raw = (whole.run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
    (dest / "events.jsonl").write_bytes(b"".join(raw[: cut + 1]))
    resumed = Engine.resume(dest, brain=OfflineBrain(), executor=Seeded())
    state = asyncio.run(resumed.run())
    asks = [m for m in state.messages.values() if m.data.get("confirm")]
    assert len(asks) == 6 and all(
        m.id in {e.message for e in state.experiments.values()} for m in asks
    )
    assert finished(resumed)["confirmed"] == finished(whole)["confirmed"]


def test_the_figures_pair_the_reruns_by_seed() -> None:
    c = Confirmation("e7", (3, 4, 5), (1.0, 1.1, None), (1.5, 1.4, 1.6), MIN)
    assert c.deltas == pytest.approx([0.5, 0.3])  # seed 5's best failed: no pair
    assert c.delta == pytest.approx(0.4) and c.sem == pytest.approx(0.1)
    assert c.replicates and c.baseline_mean == pytest.approx(1.5)
    assert c.gap_closed() == pytest.approx(0.4 / (1.5 - 0.5))
    assert c.line() == "Δ +0.400000 ± 0.100000 over 2 fresh seeds: replicates"
    one = Confirmation("e7", (3,), (1.0,), (1.5,), MIN)
    assert one.delta == pytest.approx(0.5) and one.sem is None and not one.replicates
    assert json.dumps(c.to_dict())


def test_autoresearchs_results_tsv_keeps_its_statuses_and_tells_the_confirmation(
    tmp_path: Path,
) -> None:
    from orgloop.org import load_org
    from orgloop.runtime.core import autoresearch

    engine = run(small_org(tmp_path / "org", experiments=3, baseline_runs=1, confirm=2), Seeded())
    text = autoresearch.results_tsv(engine.state, load_org(engine.org.root))
    rows = [r.split("\t") for r in text.splitlines()[1:]]
    assert {r[3] for r in rows} <= {"keep", "discard", "crash"} and len(rows) == 1 + 3
    best = engine.state.incumbent_exp
    (row,) = [r for r in rows if r[4].startswith(f"{best} ")]
    assert row[4].startswith(f"{best} [confirmed: Δ ") and "replicates]" in row[4]
