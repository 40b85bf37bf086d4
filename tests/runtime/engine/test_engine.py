"""The engine: event sequence, scheduler order, transactions, budgets, determinism."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from orgloop.org import OrgError
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine, RunError
from orgloop.runtime.testing import FunctionBrain, InstantExecutor, NoopBrain

from _orgs import small_org, toy_score


def run(engine: Engine) -> Engine:
    asyncio.run(engine.run())
    return engine


def start(root: Path, brain=None, **kw) -> Engine:
    return Engine.start(
        root, brain=brain or OfflineBrain(), executor=InstantExecutor(toy_score), **kw
    )


def kinds(engine: Engine) -> list[str]:
    return [e.kind for e in read_events(engine.run_dir / "events.jsonl")]


def test_run_starts_with_baselines_then_kickoff(tmp_path: Path) -> None:
    engine = run(start(small_org(tmp_path / "org", baseline_runs=2)))
    events = read_events(engine.run_dir / "events.jsonl")
    assert [e.kind for e in events[:4]] == [
        "run_started",
        "message_sent",
        "message_sent",
        "message_sent",
    ]
    sent = [e.data for e in events[1:4]]
    assert [(m["receiver"], m["kind"]) for m in sent] == [
        ("trainer", "experiment"),
        ("trainer", "experiment"),
        ("pi", "kickoff"),
    ]
    assert events[-1].kind == "run_finished"
    assert events[-1].data["reason"] == "experiment budget spent"


def test_every_message_is_consumed_exactly_once(tmp_path: Path) -> None:
    engine = run(start(small_org(tmp_path / "org")))
    events = read_events(engine.run_dir / "events.jsonl")
    consumed = Counter(e.data["message"] for e in events if e.kind == "turn_completed")
    assert consumed and max(consumed.values()) == 1
    assert not engine.state.pending


def test_experiment_budget_is_exact(tmp_path: Path) -> None:
    engine = run(start(small_org(tmp_path / "org", experiments=5)))
    assert len(engine.state.candidates()) == 5
    assert all(e.decision for e in engine.state.candidates())
    assert "experiments" in engine.state.exhausted


def test_keep_advances_the_run_branch_and_results_agree(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=8)
    engine = run(start(root))
    git = Git(root)
    kept = [e for e in engine.state.candidates() if e.decision == "keep"]
    assert kept, "the toy score rewards LR and HIDDEN changes; some should be kept"
    log = git.run("rev-list", "--reverse", engine.state.branch).split()
    assert [k.branch_commit for k in kept] == [
        c for c in log if c in {k.branch_commit for k in kept}
    ]
    assert git.head(engine.state.branch) == engine.state.incumbent == kept[-1].branch_commit
    rows = (engine.run_dir / "results.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["commit", "val_bpb", "memory_gb", "status", "description"]
    keep_rows = [r.split("\t") for r in rows[1:] if r.split("\t")[3] == "keep"]
    assert [r[0] for r in keep_rows] == [k.branch_commit[:7] for k in kept]
    assert git.run("rev-parse", "--abbrev-ref", "HEAD").strip() == "main"  # user's branch untouched


def test_every_experiment_commit_stays_reachable_kept_or_not(tmp_path: Path) -> None:
    engine = run(start(small_org(tmp_path / "org", experiments=4)))
    git = Git(engine.org.root)
    assert any(e.decision == "discard" for e in engine.state.candidates())
    for e in engine.state.candidates():
        ref = f"refs/orgloop/{engine.state.run_id}/{e.id}"
        assert git.run("rev-parse", ref).strip() == e.commit


def test_same_seed_gives_same_events_and_results(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=6)
    a = run(start(root, seed=7))
    b = run(start(root, seed=7))
    c = run(start(root, seed=8))
    ra, rb = (x.run_dir / "results.tsv" for x in (a, b))
    assert ra.read_text() == rb.read_text()

    def strip(eng):
        return [
            (e.kind, json.dumps(e.data, sort_keys=True, default=str))
            for e in read_events(eng.run_dir / "events.jsonl")
            if e.kind not in ("run_started", "run_finished")
        ]

    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


def test_scheduler_order_is_delivery_order_and_one_turn_per_role(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    running: set[str] = set()

    async def brain(ctx: TurnContext) -> None:
        assert ctx.role.name not in running, "a role never runs two turns at once"
        running.add(ctx.role.name)
        seen.append((ctx.role.name, ctx.message.id))
        await asyncio.sleep(0)
        running.discard(ctx.role.name)

    engine = start(
        small_org(tmp_path / "org", experiments=1, baseline_runs=1), FunctionBrain(brain)
    )
    for body in ("one", "two", "three"):
        engine.send("human", "critic", "result", body, {})
    run(engine)
    critic = [m for r, m in seen if r == "critic"]
    assert critic == sorted(critic, key=lambda m: int(m[1:]))
    assert len(critic) == 3


def test_send_outside_the_graph_is_a_tool_error_not_a_crash(tmp_path: Path) -> None:
    results = []

    def brain(ctx: TurnContext) -> None:
        if ctx.role.name == "pi":
            results.append(ctx.call("send", kind="experiment", body="skip the engineer"))
            results.append(ctx.call("send", kind="direction", body="x", to="critic"))
            results.append(ctx.call("decide", experiment="e99", verdict="keep", reason=""))
            results.append(ctx.call("shell_out", command="rm -rf /"))

    engine = run(
        start(small_org(tmp_path / "org", experiments=1, baseline_runs=1), FunctionBrain(brain))
    )
    assert [r.ok for r in results] == [False, False, False, False]
    assert "cannot send 'experiment'" in results[0].content
    assert "goes to engineer" in results[1].content
    assert engine.state.finished


def test_a_role_that_never_sends_ends_the_run_stalled(tmp_path: Path) -> None:
    engine = run(start(small_org(tmp_path / "org", baseline_runs=1), NoopBrain()))
    # nothing ran: the run says so, and `orgloop run` exits 1 (test_cli_run), not 0
    assert engine.state.finish_reason == "stalled: no experiment ran"
    assert engine.state.experiments["e1"].baseline


def test_brain_failure_pauses_and_resume_handles_the_message_once(tmp_path: Path) -> None:
    def broken(ctx: TurnContext) -> None:
        if ctx.role.name == "pi":
            raise RuntimeError("model fell over")

    root = small_org(tmp_path / "org", experiments=2, baseline_runs=1)
    engine = run(start(root, FunctionBrain(broken)))
    assert engine.state.paused and not engine.state.finished
    kickoff = next(m for m in engine.state.messages.values() if m.kind == "kickoff")
    assert kickoff.id in engine.state.pending
    resumed = Engine.resume(
        engine.run_dir, brain=OfflineBrain(), executor=InstantExecutor(toy_score)
    )
    run(resumed)
    events = read_events(engine.run_dir / "events.jsonl")
    done = [e for e in events if e.kind == "turn_completed" and e.data["message"] == kickoff.id]
    assert len(done) == 1
    assert resumed.state.finished


@pytest.mark.parametrize("budget", ["tokens", "usd"])
def test_token_and_dollar_budgets_stop_the_run(tmp_path: Path, budget: str) -> None:
    def spender(ctx: TurnContext) -> None:
        ctx.record_usage(input_tokens=600, output_tokens=400, usd=0.4)
        if ctx.role.name == "pi":
            OfflineBrain()._lead(ctx, random.Random(0))

    root = small_org(tmp_path / "org", experiments=50, baseline_runs=1)
    limit = {"tokens": 2500} if budget == "tokens" else {"usd": 1.0}
    from _orgs import set_frontmatter

    set_frontmatter(root / "ORG.md", budget={"experiments": 50, **limit})
    Git(root).commit_all("budget")
    engine = run(start(root, FunctionBrain(spender)))
    assert engine.state.finish_reason == f"{budget} budget spent"
    assert budget in engine.state.exhausted
    spent = engine.state.tokens if budget == "tokens" else engine.state.usd
    assert spent >= next(iter(limit.values()))
    assert engine.state.llm_calls <= 3  # checked before every turn: at most one turn past it


def test_wall_budget_uses_the_engine_clock(tmp_path: Path) -> None:
    now = [1000.0]

    def clock() -> float:
        now[0] += 7.0  # every event is seven seconds after the one before
        return now[0]

    root = small_org(tmp_path / "org", experiments=50, baseline_runs=1)
    from _orgs import set_frontmatter

    set_frontmatter(root / "ORG.md", budget={"experiments": 50, "wall": "2m"})
    Git(root).commit_all("wall")
    engine = run(start(root, clock=clock))
    assert engine.state.finish_reason == "wall budget spent"
    assert 120 <= engine.state.wall_seconds() < 200


def test_visits_per_edge_bound_a_loop(tmp_path: Path) -> None:
    def chatty(ctx: TurnContext) -> None:
        if ctx.role.name == "pi":
            ctx.call("send", kind="direction", body="again")
        elif ctx.role.name == "engineer":
            ctx.call("send", kind="question", body="why?")

    root = small_org(tmp_path / "org", experiments=1, baseline_runs=1)
    engine = run(start(root, FunctionBrain(chatty)))
    # the engineer's `question` edge has max: 5 in roles/engineer.md
    assert engine.state.visits[("engineer", "pi", "question")] == 5
    assert engine.state.finished


def test_an_org_that_fails_lint_never_runs(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    (root / "roles" / "critic.md").write_text(
        (root / "roles" / "critic.md").read_text().replace("checked: reviewer", "checked: nobody")
    )
    with pytest.raises(OrgError, match="unknown role 'nobody'"):
        start(root)
    assert not (root / ".orgloop" / "runs").exists()


def test_corrupt_or_foreign_logs_are_clear_errors(tmp_path: Path) -> None:
    engine = run(start(small_org(tmp_path / "org", experiments=1, baseline_runs=1)))
    log = engine.run_dir / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:3]) + b"{not json}\n" + b"".join(lines[3:]))
    with pytest.raises(RunError, match=r"events.jsonl:4: not an orgloop event"):
        Engine.resume(engine.run_dir, brain=OfflineBrain())
    log.write_text('{"hello": "world"}\n')
    with pytest.raises(RunError, match="not an orgloop event"):
        Engine.resume(engine.run_dir, brain=OfflineBrain())
    with pytest.raises(RunError, match="no such event log"):
        Engine.resume(tmp_path, brain=OfflineBrain())


def test_a_torn_last_line_is_trimmed_and_the_run_resumes(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org", experiments=3, baseline_runs=1)
    engine = run(start(root))
    log = engine.run_dir / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    cut = len(lines) // 2
    log.write_bytes(b"".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2])
    resumed = Engine.resume(
        engine.run_dir, brain=OfflineBrain(), executor=InstantExecutor(toy_score)
    )
    run(resumed)
    assert resumed.state.finished
    assert len(resumed.state.candidates()) == 3
