"""`history`: the org's generations from the runs' event logs, with their trials and fates."""

from __future__ import annotations

from pathlib import Path

from orgloop.runtime.core.events import EventLog
from orgloop.runtime.history import Generation, format_history, history, short_diff

from _orgs import small_org


def edited(gen: int, role: str = "pi") -> tuple[str, dict]:
    return "org_edited", {
        "generation": gen, "role": role, "file": f"roles/{role}.md", "commit": f"c{gen}",
        "rationale": f"edit {gen}", "author": "meta", "window": gen, "metric_before": 2.0,
        "evidence": {"experiments": ["e2"]},
        "diff": "--- a/x\n+++ b/x\n-patience: 3\n+patience: 2\n",
    }  # fmt: skip


def trial(gen: int, verdict: str, gain: float) -> tuple[str, dict]:
    return "org_trial", {
        "generation": gen, "verdict": verdict, "pairs": 3, "gain": gain, "sem": 0.01,
        "margin": 0.01, "reason": "over 3 pairs ...", "commit": f"k{gen}",
        "edited": {"experiments": ["e3", "e5", "e7"], "mean": 1.2},
        "previous": {"experiments": ["e4", "e6", "e8"], "mean": 1.3},
    }  # fmt: skip


def write_run(root: Path, run_id: str, items: list[tuple[str, dict]]) -> Path:
    folder = root / ".orgloop" / "runs" / run_id
    folder.mkdir(parents=True)
    log = EventLog(folder / "events.jsonl", durable=False)
    log.append("run_started", {"run_id": run_id, "branch": "b", "base": "c0"}, 0.0)
    for kind, data in items:
        log.append(kind, data, 1.0)
    log.close()
    return folder


def test_history_lists_each_generation_with_its_trial_and_fate(tmp_path: Path) -> None:
    write_run(tmp_path, "r1", [
        edited(1), trial(1, "kept", 0.1),
        edited(2, "engineer"), ("org_reverted", {"generation": 2, "commit": "v2", "reason": "x"}),
        trial(2, "reverted", -0.05),
        edited(3),
    ])  # fmt: skip
    gens = history(tmp_path)
    assert [(g.generation, g.author, g.status) for g in gens] == [
        (1, "meta", "kept"),
        (2, "meta", "reverted"),
        (3, "meta", "unmeasured"),
    ]
    first, second = gens[0], gens[1]
    assert first.trial is not None and first.trial["gain"] == 0.1 and second.trial is not None
    assert first.file == "roles/pi.md" and first.role == "pi" and first.run_id == "r1"
    text = format_history(gens)
    assert "run r1" in text and "-patience: 3" in text and "+patience: 2" in text
    assert (
        "trial: edited e3, e5, e7 (mean 1.200000) vs previous e4, e6, e8 (mean 1.300000); "
        "paired gain +0.100000 ± 0.010000 over 3 pairs, margin 0.010000: kept"
    ) in text
    assert "paired gain -0.050000 ± 0.010000 over 3 pairs, margin 0.010000: reverted" in text


def test_an_older_log_measured_by_windows_still_reads(tmp_path: Path) -> None:
    measured = {"generation": 1, "before": 0.5, "after": 0.6, "verdict": "kept"}
    window = {"id": "m9", "sender": "human", "receiver": "meta", "kind": "window", "body": "",
              "data": {"window": 2, "measured": [measured]}, "turn": None}  # fmt: skip
    write_run(tmp_path, "old", [edited(1), ("message_sent", window)])
    (g,) = history(tmp_path)
    assert (g.status, g.before, g.after, g.trial) == ("kept", 0.5, 0.6, None)
    assert "window 1: +0.500000 -> window 2: +0.600000 (+0.100000)" in format_history([g])


def test_an_org_that_never_ran_has_generation_zero_only(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    assert history(root) == []
    assert "generation 0" in format_history([])


def test_an_unreadable_run_log_is_skipped(tmp_path: Path) -> None:
    run = write_run(tmp_path, "r1", [edited(1), edited(2), edited(3)])
    broken = run.parent / "broken"
    broken.mkdir()
    (broken / "events.jsonl").write_text("not json\n")
    skipped: list[str] = []
    assert len(history(tmp_path, skipped=skipped)) == 3
    assert skipped and "broken" in skipped[0]


def test_short_diff_keeps_only_changed_lines() -> None:
    diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n"
    assert short_diff(diff) == ["-old", "+new"]
    many = "".join(f"+line {i}\n" for i in range(10))
    assert short_diff(many, lines=3)[-1] == "… 7 more changed lines"


def test_a_generation_without_both_windows_has_no_effect() -> None:
    g = Generation("r", 1, "meta", "pi", "roles/pi.md", "abc", "why", "", before=0.1)
    assert g.effect is None
