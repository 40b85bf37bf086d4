"""The meta desk: guardrails on proposals, accepted edits in git, windows, measurement, approval."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orgloop.org import parse_role
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor, NoopBrain

from _orgs import knob, set_frontmatter, small_org, toy_score, use_engineer

ENGINEER = "roles/engineer.md"


def make_org(path: Path, experiments: int = 4, baseline_runs: int = 2, **meta: object) -> Path:
    """The small built-in org with `meta` settings merged into ORG.md's `meta`."""
    root = small_org(path, experiments=experiments, baseline_runs=baseline_runs)
    set_frontmatter(root / "ORG.md", meta={"every": 100, **meta})
    Git(root).commit_all("meta settings")
    return root


def started(root: Path) -> Engine:
    return Engine.start(root, brain=NoopBrain(), executor=InstantExecutor(toy_score), durable=False)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = started(make_org(tmp_path / "org"))
    yield e
    e.close()


def head(engine: Engine) -> str:
    return Git(engine.org.root).head(f"refs/heads/{engine.state.branch}")


def events(engine: Engine, kind: str) -> list[Event]:
    engine.log.commit()
    return [e for e in read_events(engine.run_dir / "events.jsonl") if e.kind == kind]


def propose(engine: Engine, edits: dict[str, str], turn: str = "t9999") -> None:
    meta = engine.org.roles["meta"]
    engine.apply(
        engine.meta.propose(meta, edits, "because the ledger says so", turn, engine.state.incumbent)
    )


def answer(engine: Engine, verdict: str, generation: object) -> str:
    """A human's approve or reject, applied as the engine applies a control command."""
    problem, moves = engine.meta.answer(verdict, generation)
    engine.apply(moves)
    return problem


def current(engine: Engine, path: str) -> str:
    text = engine.workspace.read(engine.state.incumbent, path)
    assert text is not None
    return text


def assert_rejected(engine: Engine, edits: dict[str, str], why: str) -> None:
    before, org = head(engine), engine.org
    propose(engine, edits)
    rejected = events(engine, "org_rejected")
    assert rejected, "the proposal should have been rejected"
    assert why in rejected[-1].data["reason"]
    assert rejected[-1].data["author"] == "meta"
    assert head(engine) == before == engine.state.incumbent
    assert engine.org is org and not events(engine, "org_edited")


# ---- guardrails: each refusal is an event, and the org and the branch stay as they were
def test_a_proposal_that_breaks_the_policy_yaml_is_rejected(engine: Engine) -> None:
    text = current(engine, ENGINEER).replace("kind: tpe", "kind: [tpe")
    assert_rejected(engine, {ENGINEER: text}, "not valid YAML")


def test_a_proposal_that_removes_the_entry_role_is_rejected(engine: Engine) -> None:
    text = current(engine, "roles/pi.md").replace("name: pi", "name: boss", 1)
    assert_rejected(engine, {"roles/pi.md": text}, "entry role 'pi' is not a role")


def test_a_proposal_that_edits_prepare_py_is_rejected(engine: Engine) -> None:
    text = current(engine, "prepare.py") + "\nLEAK = True\n"
    assert_rejected(engine, {"prepare.py": text}, "prepare.py is protected")


def test_a_proposal_that_edits_the_meta_roles_own_file_is_rejected(engine: Engine) -> None:
    text = current(engine, "roles/meta.md").replace("min_trials: 2", "min_trials: 1")
    assert_rejected(engine, {"roles/meta.md": text}, "roles/meta.md is protected")


def test_a_proposal_that_raises_a_budget_is_rejected(engine: Engine) -> None:
    text = current(engine, "ORG.md").replace("experiments: 4", "experiments: 400")
    assert_rejected(engine, {"ORG.md": text}, "ORG.md is protected")


def test_a_proposal_that_changes_the_sandbox_limits_is_rejected(engine: Engine) -> None:
    text = current(engine, "roles/trainer.md").replace("memory: 16G", "memory: 512G")
    assert_rejected(engine, {"roles/trainer.md": text}, "roles/trainer.md is protected")


def test_a_proposal_ten_times_too_large_is_rejected(engine: Engine) -> None:
    prose = "".join(f"- note {i}: try harder\n" for i in range(200))
    text = current(engine, ENGINEER).replace("## Rules\n", "## Rules\n" + prose)
    assert_rejected(engine, {ENGINEER: text}, "changes 200 lines; meta.max_lines is 20")


def test_a_proposal_touching_two_role_files_is_rejected(engine: Engine) -> None:
    pi = current(engine, "roles/pi.md").replace("patience: 3", "patience: 2")
    eng = current(engine, ENGINEER).replace("kind: tpe", "kind: mutate")
    assert_rejected(engine, {"roles/pi.md": pi, ENGINEER: eng}, "one role file per proposal")


def test_a_proposal_that_gives_a_role_limits_is_rejected(engine: Engine) -> None:
    text = current(engine, ENGINEER).replace("model: inherit", "model: inherit\nlimits: {cpu: 9}")
    assert_rejected(engine, {ENGINEER: text}, "kind and limits are protected")


def test_a_proposal_that_adds_a_role_file_is_rejected(engine: Engine) -> None:
    text = current(engine, "roles/critic.md").replace("name: critic", "name: critic2")
    assert_rejected(engine, {"roles/critic2.md": text}, "not a file of the org")


# ---- an accepted edit
def test_an_accepted_edit_is_committed_by_meta_with_its_evidence(engine: Engine) -> None:
    old_head = head(engine)
    text = current(engine, ENGINEER).replace(
        "LR: {log: [0.0003, 0.03]}", "LR: {log: [0.001, 0.01]}"
    )
    propose(engine, {ENGINEER: text})
    (edited,) = events(engine, "org_edited")
    d = edited.data
    assert (d["generation"], d["role"], d["file"], d["author"]) == (1, "engineer", ENGINEER, "meta")
    assert d["rationale"] == "because the ledger says so"
    assert "metric_before" in d and "experiments" in d["evidence"]
    assert "+  LR: {log: [0.001, 0.01]}" in d["diff"]
    git = Git(engine.org.root)
    assert head(engine) == d["commit"] == engine.state.incumbent
    assert git.run("rev-parse", f"{d['commit']}^").strip() == old_head
    author = git.run("log", "-1", "--format=%an <%ae>", d["commit"]).strip()
    assert author == "orgloop meta <meta@orgloop.localhost>"
    message = git.run("log", "-1", "--format=%B", d["commit"])
    assert "Generation: 1" in message and "because the ledger says so" in message
    assert "Evidence:" in message and "val_bpb before:" in message
    assert git.run("diff", "--name-only", old_head, d["commit"]).split() == [ENGINEER]
    # the running org is reloaded; the user's working tree is not touched
    assert engine.org.roles["engineer"].policy.data["space"]["LR"] == {"log": [0.001, 0.01]}
    assert "0.0003" in (engine.org.root / ENGINEER).read_text()


def test_a_policy_edit_keeps_the_rest_of_the_file_byte_identical(engine: Engine) -> None:
    from orgloop.runtime.brains._policy_edit import _set_policy

    text = current(engine, ENGINEER)
    new = _set_policy(text, ("space", "LR"), {"log": [0.001, 0.01]})
    assert new is not None
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == [("  LR: {log: [0.0003, 0.03]}", "  LR: {log: [0.001, 0.01]}")]
    dropped = _set_policy(text, ("space", "ACT"), None)
    assert dropped is not None and "ACT:" not in dropped.split("```policy")[1]
    assert len(text.splitlines()) - len(dropped.splitlines()) == 1


# ---- approval by a human
def test_with_human_approval_an_edit_waits_then_lands_on_approve(tmp_path: Path) -> None:
    root = make_org(tmp_path / "org", approve="human")
    engine = started(root)
    before = head(engine)
    text = current(engine, "roles/pi.md").replace("patience: 3", "patience: 2")
    propose(engine, {"roles/pi.md": text})
    (proposed,) = events(engine, "org_proposed")
    assert proposed.data["generation"] == 1 and head(engine) == before
    assert answer(engine, "approve", 7).startswith("no meta edit with generation 7")
    control = json.dumps({"cmd": "approve", "generation": 1}) + "\n"
    (engine.run_dir / "control.jsonl").write_text(control)
    engine.poll_control()
    (edited,) = events(engine, "org_edited")
    assert edited.data["generation"] == 1 and head(engine) == edited.data["commit"]
    assert engine.org.roles["pi"].policy.data["patience"] == 2
    assert engine.meta.waiting() == []
    engine.close()


def test_with_human_approval_a_rejected_edit_never_lands(tmp_path: Path) -> None:
    root = make_org(tmp_path / "org", approve="human")
    engine = started(root)
    before = head(engine)
    text = current(engine, "roles/pi.md").replace("patience: 3", "patience: 2")
    propose(engine, {"roles/pi.md": text})
    assert answer(engine, "reject", 1) == ""
    (rejected,) = events(engine, "org_rejected")
    assert rejected.data["generation"] == 1 and "rejected by a human" in rejected.data["reason"]
    assert head(engine) == before and not events(engine, "org_edited")
    assert engine.meta.waiting() == []
    engine.close()


# ---- windows and measurement, in whole runs
class ScriptedMeta(OfflineBrain):
    """The offline org, with a meta role that always lowers the PI's patience by one."""

    async def turn(self, ctx: TurnContext) -> None:
        if ctx.role.name != "meta":
            return await super().turn(ctx)
        text = ctx.call("read_file", path="roles/pi.md").content
        new = text.replace("patience: 3", "patience: 2")
        if new != text:
            ctx.call("edit_file", path="roles/pi.md", content=new, rationale="be less patient")


def scores(values: list[float]) -> InstantExecutor:
    it = iter(values)
    return InstantExecutor(lambda files: next(it, 9.0))


def test_a_plateau_closes_a_window_early(tmp_path: Path) -> None:
    root = make_org(tmp_path / "org", experiments=4, baseline_runs=1, plateau=2)
    engine = Engine.start(
        root, brain=OfflineBrain(), executor=InstantExecutor(lambda f: 1.0), durable=False
    )
    asyncio.run(engine.run())
    windows = [m.data for m in engine.state.messages.values() if m.kind == "window"]
    assert [(w["window"], w["trigger"], len(w["experiments"])) for w in windows] == [
        (1, "plateau", 2),
        (2, "plateau", 2),
    ]


class QualityBrain(OfflineBrain):
    """An engineer whose changes are as good as its role file says (`quality: good` in its
    policy sets LR near the toy optimum, anything else far from it), and a meta role that makes
    one edit, `edit(text) -> text`, at its first window."""

    def __init__(self, edit: Callable[[str], str]) -> None:
        self.edit = edit

    async def turn(self, ctx: TurnContext) -> None:
        if ctx.role.name == "engineer":
            good = ctx.role.policy.data.get("quality") == "good"
            lr = (0.01 if good else 0.001) * (1 + 0.01 * len(ctx.state.experiments))
            text = ctx.call("read_file", path="train.py").value
            line = next(li for li in text.splitlines() if li.startswith("LR = "))
            ctx.call("edit_file", path="train.py", old_string=line, new_string=f"LR = {lr:.5g}")
            ctx.call("send", kind="experiment", body=f"LR -> {lr:.5g}")
        elif ctx.role.name == "meta":
            if not ctx.state.org_edits:
                text = ctx.call("read_file", path=ENGINEER).value
                ctx.call("edit_file", path=ENGINEER, content=self.edit(text), rationale="try it")
        else:
            await super().turn(ctx)


def trial_run(tmp_path: Path, edit: Callable[[str], str], start: str = "") -> Engine:
    root = make_org(tmp_path / "org", experiments=12, baseline_runs=1, every=2, trial=3)
    if start:
        path = root / ENGINEER
        path.write_text(path.read_text().replace("kind: tpe\n", f"kind: tpe\n{start}\n"))
        Git(root).commit_all("the engineer's quality")
    engine = Engine.start(
        root, brain=QualityBrain(edit), executor=InstantExecutor(toy_score), durable=False
    )
    asyncio.run(engine.run())
    return engine


def good(text: str) -> str:
    return text.replace("kind: tpe\n", "kind: tpe\nquality: good\n")


def test_an_edit_whose_arm_beats_the_other_is_kept_by_a_commit_that_says_why(
    tmp_path: Path,
) -> None:
    engine = trial_run(tmp_path, good)
    (edited,) = events(engine, "org_edited")
    (judged,) = events(engine, "org_trial")
    d = judged.data
    assert d["generation"] == 1 and d["verdict"] == "kept" and d["pairs"] == 3
    arms = {e.id: e.arm["arm"] for e in engine.state.candidates() if e.arm}
    assert [arms[i] for i in d["edited"]["experiments"]] == ["edited"] * 3
    assert [arms[i] for i in d["previous"]["experiments"]] == ["previous"] * 3
    assert d["gain"] > d["margin"] > 0 and d["edited"]["mean"] < d["previous"]["mean"]
    git = Git(engine.org.root)
    git.run("merge-base", "--is-ancestor", edited.data["commit"], d["commit"])
    assert git.run("diff", "--name-only", f"{d['commit']}^", d["commit"]).strip() == ""
    message = git.run("log", "-1", "--format=%B", d["commit"])
    assert message.startswith("meta: keep generation 1 (roles/engineer.md)")
    assert "Trial: edited e" in message and "noise margin" in message
    assert not events(engine, "org_reverted")
    assert engine.org.roles["engineer"].policy.data["quality"] == "good"
    # the edited arm ran the edited file, the previous arm the version before it
    good_lr = [e for e in engine.state.candidates() if e.arm.get("arm") == "edited"]
    assert all(float(e.description.split()[-1]) > 0.009 for e in good_lr)


def test_an_edit_whose_arm_does_worse_is_reverted_by_a_commit_that_says_why(
    tmp_path: Path,
) -> None:
    engine = trial_run(tmp_path, lambda t: t.replace("quality: good\n", ""), "quality: good")
    (judged,) = events(engine, "org_trial")
    (reverted,) = events(engine, "org_reverted")
    d = judged.data
    assert d["verdict"] == "reverted" and d["gain"] < 0 and d["commit"] == reverted.data["commit"]
    git = Git(engine.org.root)
    message = git.run("log", "-1", "--format=%B", d["commit"])
    assert message.startswith("meta: revert generation 1") and "does not beat" in message
    assert "quality: good" in git.show(d["commit"], ENGINEER)
    assert engine.state.org_edits[0]["reverted"]


def test_a_no_op_edit_is_not_kept_without_evidence(tmp_path: Path) -> None:
    engine = trial_run(tmp_path, lambda t: t.replace("## Rules\n", "## Rules\n\n"))
    (judged,) = events(engine, "org_trial")
    assert judged.data["verdict"] == "reverted"  # both arms propose alike: no gain beyond noise


def test_the_trial_is_a_row_in_history(tmp_path: Path) -> None:
    from orgloop.runtime.history import format_history, history

    engine = trial_run(tmp_path, good)
    (g,) = history(engine.org.root)
    assert g.status == "kept" and g.trial is not None
    text = format_history([g])
    assert "trial: edited e" in text and "vs previous e" in text and ": kept" in text
    assert "paired gain +" in text and "margin" in text


def test_keeps_after_an_org_edit_do_not_undo_it(tmp_path: Path) -> None:
    root = make_org(tmp_path / "org", experiments=12, baseline_runs=1, every=3)
    engine = Engine.start(
        root, brain=OfflineBrain(), executor=InstantExecutor(toy_score), durable=False
    )
    asyncio.run(engine.run())
    git = Git(root)
    assert events(engine, "org_edited"), "the offline meta should have edited the org"
    last: dict[str, str] = {}
    for e in read_events(engine.run_dir / "events.jsonl"):
        if e.kind in ("org_edited", "org_reverted"):
            last[e.data["file"]] = e.data["commit"]
    for path, commit in last.items():
        assert git.show(head(engine), path) == git.show(commit, path)
    assert any(e.decision == "keep" for e in engine.state.candidates())


def test_offline_meta_narrows_the_range_of_a_winning_knob(tmp_path: Path) -> None:
    root = use_engineer(
        make_org(tmp_path / "org", experiments=2, baseline_runs=1, every=2), "mutate"
    )
    engine = Engine.start(
        root, brain=OfflineBrain(), executor=scores([2.0, 1.5, 1.6]), durable=False
    )
    asyncio.run(engine.run())
    (edited,) = events(engine, "org_edited")
    kept = next(e for e in engine.state.candidates() if e.decision == "keep")
    knob = kept.description.split()[0]
    assert edited.data["file"] == ENGINEER and f"narrow {knob}" in edited.data["rationale"]
    assert kept.id in edited.data["rationale"]


def test_offline_meta_narrows_a_search_engineers_space_around_the_incumbent(
    tmp_path: Path,
) -> None:
    root = make_org(tmp_path / "org", experiments=2, baseline_runs=1, every=2)
    engine = Engine.start(
        root, brain=OfflineBrain(), executor=scores([2.0, 1.5, 1.6]), durable=False
    )
    asyncio.run(engine.run())
    (edited,) = events(engine, "org_edited")
    kept = next(e for e in engine.state.candidates() if e.decision == "keep")
    assert edited.data["file"] == ENGINEER and kept.id in edited.data["rationale"]
    assert "narrow the search space around the incumbent" in edited.data["rationale"]
    git = Git(root)
    (tmp_path / "edited.md").write_text(git.show(edited.data["commit"], ENGINEER))
    (tmp_path / "before.md").write_text(git.show(edited.data["parent"], ENGINEER))
    space = {
        name: parse_role(tmp_path / f"{name}.md", []).policy.data["space"]  # type: ignore[union-attr]
        for name in ("edited", "before")
    }
    incumbent = git.show(kept.commit, "train.py")
    narrower = 0
    for name, spec in space["edited"].items():
        value, wide = knob(incumbent, name), space["before"][name]
        if "choice" in spec:
            assert value in spec["choice"] and set(spec["choice"]) <= set(wide["choice"])
            narrower += len(spec["choice"]) < len(wide["choice"])
        else:
            assert wide["log"][0] <= spec["log"][0] <= value <= spec["log"][1] <= wide["log"][1]
            narrower += spec["log"] != wide["log"]
    assert narrower >= 2  # several knobs at once, each around the kept value


def test_an_edit_waiting_for_approval_survives_a_resume(tmp_path: Path) -> None:
    engine = started(make_org(tmp_path / "org", approve="human"))
    text = current(engine, "roles/pi.md").replace("patience: 3", "patience: 2")
    propose(engine, {"roles/pi.md": text})
    engine.close()
    resumed = Engine.resume(engine.run_dir, brain=NoopBrain(), executor=InstantExecutor(toy_score))
    assert resumed.meta.waiting() == [1]
    assert answer(resumed, "approve", "1") == ""
    assert resumed.org.roles["pi"].policy.data["patience"] == 2
    assert head(resumed) == resumed.state.incumbent == resumed.state.org_edits[0]["commit"]
    resumed.close()


def test_the_offline_patience_edit_applies_and_parses(engine: Engine) -> None:
    """Setting a scalar in the policy block writes `patience: 2` and nothing after it: PyYAML's
    `...` end marker of a scalar document must not land in the fence."""
    from orgloop.runtime.brains._policy_edit import _set_policy

    text = current(engine, "roles/pi.md")
    new = _set_policy(text, ("patience",), 2)
    assert new is not None and "..." not in new.split("```policy")[1].split("```")[0]
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == [("patience: 3", "patience: 2")]
    propose(engine, {"roles/pi.md": new})
    assert not events(engine, "org_rejected")
    assert engine.org.roles["pi"].policy.data["patience"] == 2
