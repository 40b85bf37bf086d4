"""report.md and progress.png: the true numbers of a real run, and a report from damaged logs."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from orgloop.runtime._batch_plot import best_so_far
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.report import ReportError, load_run, render_markdown, write_report

from _orgs import small_org

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, short run of the built-in org: 2 baselines and 3 experiments of a few seconds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYLM_BUDGET", "0.05")
        root = small_org(tmp_path_factory.mktemp("report") / "org", experiments=3, baseline_runs=2)
        engine = Engine.start(root, brain=OfflineBrain())
        asyncio.run(engine.run())
    return engine.run_dir


def raw_events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def kept_decisions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["kind"] == "decision" and e["data"]["verdict"] == "keep"]


def expected(run_dir: Path) -> dict[str, Any]:
    """The report's headline numbers, from events.jsonl with nothing of orgloop's fold."""
    events = raw_events(run_dir)
    bound = events[0]["data"]["metric"]["bound"]
    baseline_ids = {
        e["data"]["id"]
        for e in events
        if e["kind"] == "experiment_started" and e["data"].get("baseline")
    }
    base = [
        e["data"]["metric"]
        for e in events
        if e["kind"] == "experiment_finished"
        and e["data"]["id"] in baseline_ids
        and e["data"]["status"] == "ok"
    ]
    kept = kept_decisions(events)
    baseline = sum(base) / len(base)
    best = kept[-1]["metric"] if kept else baseline
    return {
        "baseline": baseline,
        "best": best,
        "gap": (baseline - best) / (baseline - bound),  # tinylm minimizes val_bpb
        "kept": len(kept),
    }


def stated(report: str) -> dict[str, Any]:
    """The same numbers as report.md states them."""

    def grab(pattern: str) -> str:
        m = re.search(pattern, report, re.MULTILINE)
        assert m, f"report.md has no line matching {pattern!r}"
        return m.group(1)

    return {
        "baseline": float(grab(r"^- Baseline: ([-\d.]+)")),
        "best": float(grab(r"^- Best: ([-\d.]+)")),
        "gap": float(grab(r"^- Gap closed: ([-\d.]+)%")) / 100,
        "kept": int(grab(r"^- Kept: (\d+) of")),
    }


@pytest.mark.slow  # uses the real run
def test_report_states_the_true_numbers_of_a_real_run(real_run: Path) -> None:
    result = write_report(real_run)
    assert result.paths == [real_run / "report.md", real_run / "progress.png"]
    got, want = stated((real_run / "report.md").read_text()), expected(real_run)
    assert got["kept"] == want["kept"]
    assert got["baseline"] == pytest.approx(want["baseline"], abs=1e-6)
    assert got["best"] == pytest.approx(want["best"], abs=1e-6)
    assert got["gap"] == pytest.approx(want["gap"], abs=0.0006)  # printed to 0.1%
    assert (real_run / "progress.png").read_bytes().startswith(PNG)
    assert result.missing == []  # a finished run with two baselines lacks nothing
    assert not list(real_run.glob(".*.tmp"))  # written through temporaries, none left


@pytest.mark.slow  # uses the real run
def test_report_names_the_commit_that_holds_the_best(real_run: Path) -> None:
    write_report(real_run)
    events = raw_events(real_run)
    start = events[0]["data"]
    kept = kept_decisions(events)
    commit = kept[-1]["commit"] if kept else start["base"]
    assert Git(Path(start["org"])).head(start["branch"]) == commit  # the branch holds it
    text = (real_run / "report.md").read_text()
    assert f"`{commit[:12]}` on branch `{start['branch']}`" in text


@pytest.mark.slow  # uses the real run
def test_a_torn_last_line_is_left_out_and_said(real_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    with open(run / "events.jsonl", "a") as f:
        f.write('{"seq": 99999, "t": 1, "kind": "decis')
    result = write_report(run)
    assert any("torn" in note for note in result.missing)
    write_report(real_run)
    assert stated((run / "report.md").read_text()) == stated((real_run / "report.md").read_text())


@pytest.mark.slow  # uses the real run
def test_a_killed_run_reports_what_is_there_at_every_cut(real_run: Path, tmp_path: Path) -> None:
    lines = (real_run / "events.jsonl").read_text().splitlines(keepends=True)
    run = tmp_path / "run"
    run.mkdir()
    for cut in range(1, len(lines)):
        (run / "events.jsonl").write_text("".join(lines[:cut]))
        summary = load_run(run)
        assert "run did not finish" in summary.missing[0]
        text = render_markdown(summary)
        assert "run did not finish" in text
        if summary.baseline is None:
            assert any(n.startswith("no baseline") for n in summary.missing)
    (run / "events.jsonl").write_text("".join(lines[: len(lines) // 2]))
    write_report(run)
    assert (run / "progress.png").read_bytes().startswith(PNG)


@pytest.mark.slow  # uses the real run
def test_an_older_format_is_reported_with_notes(real_run: Path, tmp_path: Path) -> None:
    events = raw_events(real_run)
    del events[0]["data"]["metric"]  # older run_started: no metric (the org snapshot has it)
    events[0]["data"]["someday"] = {"new": "field"}
    first_finish = next(e for e in events if e["kind"] == "experiment_finished")
    del first_finish["data"]["id"]  # an event the fold cannot apply
    events.insert(3, {"seq": 3, "t": events[2]["t"], "kind": "checkpoint", "data": {}})
    run = tmp_path / "run"
    shutil.copytree(real_run / "org", run / "org")
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    result = write_report(run)
    notes = " | ".join(result.missing)
    assert "checkpoint" in notes and "could not be applied" in notes and "snapshot" in notes
    assert result.summary.metric.name == "val_bpb"
    assert "Missing or incomplete" in (run / "report.md").read_text()


Item = tuple[str, dict[str, Any]]


def write_log(folder: Path, items: list[Item]) -> None:
    lines = [
        json.dumps({"seq": n, "t": 100.0 + n, "kind": kind, "data": data}) + "\n"
        for n, (kind, data) in enumerate(items)
    ]
    (folder / "events.jsonl").write_text("".join(lines))


def started(goal: str, bound: float) -> Item:
    metric = {"name": "acc", "goal": goal, "bound": bound}
    return "run_started", {"run_id": "r", "branch": "b", "base": "c0", "slots": 1, "metric": metric}


def measured(exp: str, value: float, baseline: bool = False) -> list[Item]:
    return [
        ("experiment_started", {"id": exp, "turn": "t", "message": "m", "baseline": baseline,
                                "description": f"change {exp}"}),
        ("experiment_finished", {"id": exp, "status": "ok", "metric": value, "seconds": 1.0}),
    ]  # fmt: skip


def test_a_maximized_metric_closes_the_gap_upward(tmp_path: Path) -> None:
    write_log(tmp_path, [
        started("maximize", 1.0), *measured("e1", 0.5, True), *measured("e2", 0.6, True),
        *measured("e3", 0.8), ("decision", {"experiment": "e3", "verdict": "keep", "commit": "c"}),
    ])  # fmt: skip
    summary = load_run(tmp_path)
    assert summary.gap_closed == pytest.approx((0.8 - 0.55) / (1.0 - 0.55))
    assert summary.best == 0.8 and summary.experiments_to_best == 1
    assert summary.duty_cycle == pytest.approx(3.0 / 7.0)  # 3 s of experiments, 7 s of run


def test_org_edits_are_listed_with_the_metric_before_and_after(tmp_path: Path) -> None:
    edit = {"file": "roles/pi.md", "commit": "c1", "generation": 1, "rationale": "explore more"}
    write_log(tmp_path, [
        started("minimize", 0.5), *measured("e1", 2.0, True), *measured("e2", 2.0, True),
        ("org_edited", edit), *measured("e3", 1.5),
        ("decision", {"experiment": "e3", "verdict": "keep", "commit": "c3"}),
        ("org_reverted", {"generation": 1, "commit": "c4", "reason": "worse"}),
    ])  # fmt: skip
    result = write_report(tmp_path)
    edits = [(e.kind, e.before, e.after) for e in result.summary.org_events]
    assert edits == [("org_edited", 2.0, 1.5), ("org_reverted", 1.5, 1.5)]
    text = (tmp_path / "report.md").read_text()
    assert "| org_edited | 1 | roles/pi.md |  | explore more | 2.000000 | 1.500000 |" in text


@pytest.mark.parametrize("content", [None, b"", b"hello\nworld\n", b"\x00\x01\x02\n"])
def test_an_unreadable_folder_is_a_clear_error(tmp_path: Path, content: bytes | None) -> None:
    if content is not None:
        (tmp_path / "events.jsonl").write_bytes(content)
    with pytest.raises(ReportError, match=r"run folder|no orgloop events"):
        write_report(tmp_path)
    with pytest.raises(ReportError, match="no such run folder"):
        write_report(tmp_path / "absent")


def test_the_best_commit_is_the_keep_not_a_later_org_edit(tmp_path: Path) -> None:
    edit = {"file": "roles/pi.md", "commit": "c5", "generation": 1, "author": "meta"}
    write_log(tmp_path, [
        started("minimize", 0.5), *measured("e1", 2.0, True), *measured("e2", 1.5),
        ("decision", {"experiment": "e2", "verdict": "keep", "commit": "c3keep"}),
        ("org_edited", edit), *measured("e3", 1.8),
        ("decision", {"experiment": "e3", "verdict": "discard", "commit": ""}),
    ])  # fmt: skip
    result = write_report(tmp_path)
    assert result.summary.state.incumbent == "c5"  # the branch head is the edit...
    text = (tmp_path / "report.md").read_text()
    assert "(e2) at commit `c3keep` on branch `b`" in text  # ...the best is the keep


def test_kept_changes_are_listed_in_the_order_they_were_kept(tmp_path: Path) -> None:
    """e3 and e4 both ran from e2's code; e4 came back and was kept first, then e3 beat it. Each
    keep's delta is over the incumbent it beat, not over the keep with the id before it."""
    write_log(tmp_path, [
        started("minimize", 0.5), *measured("e1", 2.0, True), *measured("e2", 1.8),
        ("decision", {"experiment": "e2", "verdict": "keep", "commit": "c2"}),
        *measured("e3", 1.2), *measured("e4", 1.5),
        ("decision", {"experiment": "e4", "verdict": "keep", "commit": "c4"}),
        ("decision", {"experiment": "e3", "verdict": "keep", "commit": "c3"}),
    ])  # fmt: skip
    result = write_report(tmp_path)
    assert [e.id for e in result.summary.kept] == ["e2", "e4", "e3"]
    assert best_so_far(result.summary) == [1.8, 1.2, 1.2]  # batch.png's curve: e4 is no step up
    text = (tmp_path / "report.md").read_text()
    kept = text.split("## Kept changes, in order")[1].split("\n## ")[0]
    rows = [r.split(" | ") for r in kept.splitlines() if re.match(r"\| e\d", r)]
    assert [(r[0], r[3]) for r in rows] == [("| e2", "0.200000"), ("| e4", "0.300000"),
                                            ("| e3", "0.300000")]  # fmt: skip
