"""`history`: the org's generations from the runs' event logs, with their measured effect."""

from __future__ import annotations

import asyncio
from pathlib import Path

from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.history import Generation, format_history, history, short_diff
from orgloop.runtime.testing import InstantExecutor

from _orgs import set_frontmatter, small_org


class LessPatient(OfflineBrain):
    async def turn(self, ctx: TurnContext) -> None:
        if ctx.role.name != "meta":
            return await super().turn(ctx)
        text = ctx.call("read_file", path="roles/pi.md").content
        for old, new in (("patience: 3", "patience: 2"), ("patience: 2", "patience: 1")):
            if old in text:
                ctx.call(
                    "edit_file",
                    path="roles/pi.md",
                    content=text.replace(old, new),
                    rationale=f"{old} -> {new}",
                )
                return


def run_org(root: Path, values: list[float]) -> Engine:
    small_org(root, experiments=6, baseline_runs=1)
    set_frontmatter(root / "ORG.md", meta={"every": 2})
    Git(root).commit_all("every 2")
    it = iter(values)
    engine = Engine.start(
        root,
        brain=LessPatient(),
        executor=InstantExecutor(lambda files: next(it, 9.0)),
        durable=False,
    )
    asyncio.run(engine.run())
    return engine


def test_history_lists_each_generation_with_its_effect_and_fate(tmp_path: Path) -> None:
    # baseline 2.0; window 1 gains 0.5; window 2 gains 0.6 (gen 1 kept); window 3 none (gen 2
    # reverted); gen 3 is made after the last window and stays unmeasured
    engine = run_org(tmp_path / "org", [2.0, 1.5, 1.6, 0.9, 1.0, 1.1, 1.2])
    gens = history(tmp_path / "org")
    assert [(g.generation, g.author, g.status) for g in gens] == [
        (1, "meta", "kept"),
        (2, "meta", "reverted"),
        (3, "meta", "unmeasured"),
    ]
    first, second = gens[0], gens[1]
    assert (first.before, first.after) == (0.5, 0.6) and first.effect is not None
    assert second.effect is not None and second.effect < 0 and "window 3" in second.reason
    assert first.file == "roles/pi.md" and first.role == "pi"
    assert first.commit == engine.state.org_edits[0]["commit"]
    assert first.run_id == engine.state.run_id
    text = format_history(gens)
    assert f"run {engine.state.run_id}" in text
    assert "-patience: 3" in text and "+patience: 2" in text
    assert "reverted: window 3" in text


def test_an_org_that_never_ran_has_generation_zero_only(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    assert history(root) == []
    assert "generation 0" in format_history([])


def test_an_unreadable_run_log_is_skipped(tmp_path: Path) -> None:
    engine = run_org(tmp_path / "org", [2.0, 1.5, 1.6, 0.9, 1.0, 1.1, 1.2])
    broken = engine.run_dir.parent / "broken"
    broken.mkdir()
    (broken / "events.jsonl").write_text("not json\n")
    assert len(history(tmp_path / "org")) == 3


def test_short_diff_keeps_only_changed_lines() -> None:
    diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n"
    assert short_diff(diff) == ["-old", "+new"]
    many = "".join(f"+line {i}\n" for i in range(10))
    assert short_diff(many, lines=3)[-1] == "… 7 more changed lines"


def test_a_generation_without_both_windows_has_no_effect() -> None:
    g = Generation("r", 1, "meta", "pi", "roles/pi.md", "abc", "why", "", before=0.1)
    assert g.effect is None
