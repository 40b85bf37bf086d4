"""A night of Messages API faults, each one a test: the run waits out what passes, never runs a
tool call from a cut-off reply, counts every answered call once, and ends finished by its budget
— or, when the org could do nothing, paused or failed, never "finished" with exit 0.

Time is a `VirtualClock` shared by the engine, the brain and the server's fault timeline, so a
burst of 529s lasting half an hour, or an outage of hours, passes in a second. The real SDK talks
to `_messages_server.MessagesServer` over loopback; experiments are instant and take no virtual
time, so the clock moves only while a brain waits and a fault window starts when the run does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orgloop.runtime.brains import default_brain_name, make_brain
from orgloop.runtime.brains.anthropic_brain import LOCAL_KEY, STREAM_OVER, AnthropicBrain
from orgloop.runtime.brains.pricing import price
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.core.state import RunState
from orgloop.runtime.engine import Engine
from orgloop.runtime.progress import Progress
from orgloop.runtime.report import write_report
from orgloop.runtime.runner import EXIT_ERROR, EXIT_OK, _closing
from orgloop.runtime.testing import InstantExecutor, VirtualClock

from _messages_server import (
    DROP,
    MALFORMED,
    PAUSE,
    REFUSE,
    MessagesServer,
    Reply,
    Window,
    cut,
    hang,
    prompt_file,
    read_turn,
    small_org,
    status,
    text,
    tinylm_model,
    tool_use,
    toy_score,
)
from _orgs import set_frontmatter

KEY = "sk-ant-test-0000"
MINUTE, HOUR = 60.0, 3600.0


@dataclass
class Night:
    engine: Engine
    server: MessagesServer
    clock: VirtualClock

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e.data for e in read_events(self.engine.run_dir / "events.jsonl") if e.kind == kind]

    @property
    def state(self) -> RunState:
        return self.engine.state


def org(tmp: Path, roles: dict[str, dict[str, Any]] | None = None, **settings: Any) -> Path:
    """The small default org (one baseline, two experiments, a night's wall time), with role
    frontmatter changes."""
    settings["experiment"] = {"baseline_runs": 1, **settings.get("experiment", {})}
    settings["budget"] = {
        "experiments": 2,
        "wall": "12h",
        "usd": 100.0,
        **settings.get("budget", {}),
    }
    root = small_org(tmp / "org", **settings)
    for name, changes in (roles or {}).items():
        set_frontmatter(root / "roles" / f"{name}.md", **changes)
    if roles:
        Git(root).commit_all("role settings")
    return root


@contextlib.contextmanager
def night(
    root: Path,
    model: Callable[[dict[str, Any]], Reply] = tinylm_model,
    *,
    timeline: list[Window] | None = None,
    experiment_seconds: float = 0.0,
    **brain: Any,
) -> Iterator[Night]:
    clock = VirtualClock()
    with MessagesServer(model, clock=clock, timeline=timeline or []) as srv:
        brain.setdefault("max_retries", 2)
        b = AnthropicBrain(api_key=KEY, base_url=srv.url, clock=clock, sleep=clock.sleep, **brain)
        executor = InstantExecutor(toy_score, seconds=experiment_seconds, sleep=clock.sleep)
        engine = Engine.start(root, brain=b, executor=executor, durable=False, clock=clock)
        yield Night(engine, srv, clock)


async def until(n: Night, stop: Callable[[], bool] = lambda: False, limit: float = 30) -> None:
    """Run the night until the run ends (or `stop()` holds, then cancel it like a kill)."""
    task = asyncio.ensure_future(n.engine.run())
    async with asyncio.timeout(limit):
        while not task.done():
            if stop():
                task.cancel()
                break
            await asyncio.sleep(0.01)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def counted_once(n: Night) -> None:
    """Every answered call is one llm_call event, and none is counted twice."""
    calls = n.events("llm_call")
    assert len(calls) == len(n.server.responses) == n.state.llm_calls
    assert sum(c["output_tokens"] for c in calls) == sum(
        r["usage"]["output_tokens"] for r in n.server.responses
    )


def exit_code(n: Night) -> int:
    return _closing(n.engine, Progress(json_lines=True, file=io.StringIO()))


# ---- outages waited out
async def test_a_burst_of_529s_lasting_half_an_hour_is_waited_out(tmp_path: Path) -> None:
    burst = Window(0, 30 * MINUTE, status(529, None))
    with night(org(tmp_path), timeline=[burst]) as n:
        await until(n)
    assert n.state.finished and n.state.finish_reason == "experiment budget spent"
    assert len(n.state.candidates()) == 2 and not n.events("paused")
    waits = n.events("api_waiting")
    assert waits and {w["status"] for w in waits} == {529}
    assert waits[0]["what"] == "API overloaded (529)" and waits[0]["since"] == n.server.t0
    assert waits[-1]["waited"] + waits[-1]["retry_in"] >= 30 * MINUTE  # the whole burst
    growing = [w["retry_in"] for w in waits[:4]]
    assert growing == sorted(growing) and growing[-1] > 3 * growing[0]  # backing off
    assert all(w["retry_in"] <= 330 for w in waits)  # never more than ~5 minutes between tries
    counted_once(n)
    assert exit_code(n) == EXIT_OK


async def test_a_429_with_retry_after_is_asked_again_no_sooner(tmp_path: Path) -> None:
    limited = Window(0, 20.0, status(429, retry_after=2))
    with night(org(tmp_path), timeline=[limited]) as n:
        await until(n)
    assert n.state.finished and len(n.state.candidates()) == 2
    times = [r.t for r in n.server.requests]
    limited_times = [t for t, f in n.server.faulted]
    gaps = [b - a for a, b in itertools.pairwise(limited_times)]
    assert len(limited_times) >= 8 and all(g >= 2.0 for g in gaps)  # retry-after honoured
    assert times[len(limited_times)] - times[0] >= 20.0  # the first answer came after the window
    counted_once(n)


@pytest.mark.parametrize(
    "fault", [DROP, MALFORMED, hang(30)], ids=["dropped-connections", "malformed-json", "hang"]
)
async def test_ten_minutes_of_broken_answers_are_waited_out(tmp_path: Path, fault: Any) -> None:
    with night(org(tmp_path), timeline=[Window(0, 10 * MINUTE, fault)], timeout=0.3) as n:
        await until(n)
    assert n.state.finished and len(n.state.candidates()) == 2
    waits = n.events("api_waiting")
    assert waits and all(w["status"] is None for w in waits)
    counted_once(n)


async def test_an_outage_past_brain_outage_pauses_and_resume_goes_on(tmp_path: Path) -> None:
    root = org(tmp_path, brain={"outage": "20m"})
    with night(root, timeline=[Window(0, 2 * HOUR, status(529, None))]) as n:
        await until(n, lambda: n.state.paused)
        (paused,) = n.events("paused")
        assert paused["reason"].startswith("pi: the Messages API has been failing for 1")
        assert "longer than brain.outage (20m00s)" in paused["reason"]
        assert n.state.llm_calls == 0 and not n.state.finished
        n.clock.now += 2 * HOUR  # the night goes on; the API is back
        (n.engine.run_dir / "control.jsonl").write_text('{"cmd": "resume"}\n')
        brain = AnthropicBrain(
            api_key=KEY, base_url=n.server.url, clock=n.clock, sleep=n.clock.sleep
        )
        executor = InstantExecutor(toy_score, seconds=MINUTE, sleep=n.clock.sleep)
        n.engine = Engine.resume(n.engine.run_dir, brain=brain, executor=executor, clock=n.clock)
        await until(n)
    assert n.state.finished and len(n.state.candidates()) == 2
    counted_once(n)


async def test_the_wall_budget_keeps_counting_while_the_api_is_down(tmp_path: Path) -> None:
    root = org(tmp_path, budget={"wall": "1h"})
    with night(root, timeline=[Window(0, 5 * HOUR, status(529, None))]) as n:
        await until(n)
    assert n.state.finished and n.state.finish_reason == "wall budget spent"
    assert not n.events("paused")  # ended by its budget, not left paused
    assert HOUR <= n.state.wall_seconds() <= HOUR + 10 * MINUTE


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (401, "refused the credentials (401 authentication_error"),
        (403, "denied permission (403 permission_error"),
        (402, "cannot pay for more calls (402 billing_error"),
    ],
)
async def test_credential_permission_and_billing_errors_pause_at_once(
    tmp_path: Path, code: int, says: str
) -> None:
    with night(org(tmp_path), timeline=[Window(0, HOUR, status(code, None))]) as n:
        await until(n, lambda: n.state.paused)
    (paused,) = n.events("paused")
    assert says in paused["reason"]
    if code == 403:
        assert (
            "credentials work" in paused["reason"]
            and "check ANTHROPIC_API_KEY" not in paused["reason"]
        )
    assert len(n.server.requests) == 1 and not n.events("api_waiting")  # not retried


# ---- replies cut off, refused, paused
def pi_cut_once(body: dict[str, Any]) -> Reply:
    """tinylm's script, with a PI whose kickoff reply is long: it fits only a larger limit."""
    t = read_turn(body)
    if t.role == "pi" and t.kind == "kickoff" and t.step == 0:
        why = "the ledger says the step is too small; " * 250  # ~2,500 tokens of reasoning
        return Reply(
            [
                text(why),
                tool_use("send", kind="direction", body="Try a larger LR: " + why),
                tool_use("send", kind="direction", body="Change HIDDEN: try a wider layer."),
            ]
        )
    return tinylm_model(body)


async def test_a_reply_cut_at_max_tokens_runs_none_of_its_tools_and_is_asked_again(
    tmp_path: Path,
) -> None:
    with night(org(tmp_path), pi_cut_once, max_tokens=2048) as n:
        await until(n)
    pi_cuts = [c for c in n.events("reply_cut") if c["role"] == "pi"]
    assert [(c["max_tokens"], c["retry_with"]) for c in pi_cuts] == [(2048, 4096), (4096, 8192)]
    assert pi_cuts[1]["dropped"] == ["send"]  # cut inside its first send: none of it ran
    first, second = n.server.requests[0].body, n.server.requests[1].body
    assert (first["max_tokens"], second["max_tokens"]) == (2048, 4096)
    assert first["messages"] == second["messages"]  # the same question, with room to answer
    kickoff = pi_cuts[0]["turn"]
    directions = [m for m in n.events("message_sent") if m["turn"] == kickoff]
    assert [d["body"][:13] for d in directions] == ["Try a larger ", "Change HIDDEN"]
    assert len(directions[0]["body"]) > 5000  # whole, never the cut-off start
    assert n.state.finished and len(n.state.candidates()) == 2
    counted_once(n)


async def test_replies_always_cut_mid_tool_call_fail_the_turn_and_the_run(tmp_path: Path) -> None:
    root = org(tmp_path, roles={"pi": {"max_tokens": 4000}})
    with night(root, timeline=[Window(0, 8 * HOUR, cut(30))], max_tokens=1000) as n:
        await until(n)
    cuts = n.events("reply_cut")
    assert [c["max_tokens"] for c in cuts] == [1000, 2000, 4000]  # up to the role's ceiling
    assert [c["retry_with"] for c in cuts] == [2000, 4000, None]
    assert not n.events("tool_call")  # not one cut-off call ran: no "Try a" direction, ever
    assert not [m for m in n.events("message_sent") if m["kind"] == "direction"]
    (undone,) = n.events("turn_undone")
    assert undone["role"] == "pi" and "cut off at max_tokens 4,000" in undone["reason"]
    assert n.state.finished and n.state.finish_reason.startswith("stalled: no experiment ran")
    assert exit_code(n) == EXIT_ERROR  # a run that did nothing never exits 0


def engineer_rewrites(body: dict[str, Any]) -> Reply:
    """tinylm's script, with an engineer that rewrites train.py whole (a long edit_file)."""
    t = read_turn(body)
    if t.role == "engineer" and t.step == 0:
        source = re_file(t.system)
        new = source.replace("HIDDEN = 128", "HIDDEN = 256")
        return Reply(
            [
                tool_use("edit_file", path="train.py", content=new),
                tool_use("send", kind="experiment", body="HIDDEN 128 -> 256: a wider layer"),
            ]
        )
    return tinylm_model(body)


def re_file(system: str) -> str:
    found = prompt_file(system, "train.py")
    assert found is not None
    return found


async def test_an_edit_cut_mid_content_is_never_written(tmp_path: Path) -> None:
    with night(org(tmp_path), engineer_rewrites, max_tokens=1024) as n:
        await until(n)
    cuts = [c for c in n.events("reply_cut") if c["role"] == "engineer"]
    assert cuts and cuts[0]["dropped"] == ["edit_file"]  # cut inside it: the send never came
    edits = [c for c in n.events("tool_call") if c["tool"] == "edit_file"]
    assert edits and all(c["ok"] for c in edits)
    git, first = Git(n.engine.org.root), n.state.candidates()[0]
    whole = git.show(n.state.config["base"], "train.py").replace("HIDDEN = 128", "HIDDEN = 256")
    assert git.show(first.commit, "train.py") == whole  # the whole file was tested, not its start
    assert first.status == "ok"


def pi_writes_at_length(body: dict[str, Any]) -> Reply:
    """tinylm's script, with a PI whose kickoff reply is 25,000 tokens long."""
    t = read_turn(body)
    if t.role == "pi" and t.kind == "kickoff" and t.step == 0:
        return Reply([text("x" * 100_000), *tinylm_model(body).content])
    return tinylm_model(body)


async def test_a_limit_past_what_the_sdk_answers_whole_is_streamed(tmp_path: Path) -> None:
    root = org(tmp_path, roles={"pi": {"max_tokens": 60000}})
    with night(root, pi_writes_at_length, max_tokens=16000) as n:
        await until(n)
    limits = [r.body["max_tokens"] for r in n.server.requests[:2]]
    assert limits == [16000, 32000] and limits[1] > STREAM_OVER
    assert [bool(r.body.get("stream")) for r in n.server.requests[:2]] == [False, True]
    assert [c["max_tokens"] for c in n.events("reply_cut")] == [16000]
    streamed = n.events("llm_call")[1]  # read back from the events as a whole message
    assert streamed["stop_reason"] == "tool_use" and streamed["output_tokens"] > 25_000
    assert len([m for m in n.events("message_sent") if m["kind"] == "direction"]) >= 2
    assert n.state.finished and len(n.state.candidates()) == 2


async def test_a_refusal_is_asked_once_more(tmp_path: Path) -> None:
    with night(org(tmp_path)) as n:
        n.server.inject(REFUSE)
        await until(n)
    (refusal,) = n.events("refusal")
    assert refusal["role"] == "pi" and refusal["retried"] is True
    assert refusal["category"] == "general_harms"
    assert n.state.finished and len(n.state.candidates()) == 2 and not n.events("turn_undone")


async def test_a_second_refusal_ends_the_turn_visibly(tmp_path: Path) -> None:
    with night(org(tmp_path), timeline=[Window(0, 8 * HOUR, REFUSE)]) as n:
        await until(n)
    assert [r["retried"] for r in n.events("refusal")] == [True, False]
    (undone,) = n.events("turn_undone")
    assert (undone["role"], undone["kind"], undone["reason"]) == (
        "pi",
        "kickoff",
        "the model refused twice",
    )
    assert n.state.finish_reason.startswith("stalled: no experiment ran (pi: the model refused")
    assert exit_code(n) == EXIT_ERROR


async def test_a_refusal_after_an_answer_is_asked_once_more_too(tmp_path: Path) -> None:
    """Two refusals end a turn only in a row: the meta-agent's first call and its second are
    each refused once, and each is asked once more."""

    def refuse_meta_once_a_step(body: dict[str, Any]) -> Reply:
        t = read_turn(body)
        if t.role == "meta" and t.step < 2 and t.step not in refused:
            refused.add(t.step)
            return Reply([], "refusal", {"type": "refusal", "category": "cyber"})
        return tinylm_model(body)

    refused: set[int] = set()
    with night(org(tmp_path), refuse_meta_once_a_step) as n:
        await until(n)
    refusals = [(r["role"], r["retried"]) for r in n.events("refusal")]
    assert refusals == [("meta", True), ("meta", True)]
    assert [c["tool"] for c in n.events("tool_call") if c["role"] == "meta"] == [
        "read_file",
        "note",
    ]
    assert not n.events("turn_undone")
    assert n.state.finished and len(n.state.candidates()) == 2


async def test_refusals_after_the_duty_is_done_lose_nothing(tmp_path: Path) -> None:
    def critic_sends_then_refuses(body: dict[str, Any]) -> Reply:
        t = read_turn(body)
        if t.role == "critic" and t.step > 0:
            return Reply([], "refusal", {"type": "refusal", "category": "cyber"})
        return tinylm_model(body)

    with night(org(tmp_path), critic_sends_then_refuses) as n:
        await until(n)
    assert [r["retried"] for r in n.events("refusal")][:2] == [True, False]
    assert not n.events("turn_undone")  # its `checked` went out: the turn did its duty
    assert n.state.finished and len(n.state.candidates()) == 2
    assert sum(1 for e in n.state.experiments.values() if e.decision) == 2


def engineer_repeats(body: dict[str, Any]) -> Reply:
    """tinylm's script, with an engineer that sends the baseline's LR again, every time."""
    t = read_turn(body)
    if t.role == "engineer" and t.step == 0:
        return Reply(
            [
                tool_use(
                    "edit_file", path="train.py", old_string="LR = 0.003", new_string="LR = 0.01"
                ),
                tool_use("send", kind="experiment", body="LR 0.003 -> 0.01: as the PI says"),
            ]
        )
    return tinylm_model(body)


async def test_an_edit_whose_experiment_was_refused_is_a_turn_undone(tmp_path: Path) -> None:
    with night(org(tmp_path, budget={"experiments": 3}), engineer_repeats) as n:
        await until(n)
    refused = [c for c in n.events("tool_call") if c["tool"] == "send" and not c["ok"]]
    assert refused and "this change repeats e" in refused[0]["result"]
    undone = [u for u in n.events("turn_undone") if u["role"] == "engineer"]
    assert undone and undone[0]["kind"] == "direction"
    assert undone[0]["turn"] == refused[0]["turn"]  # edited, but its duty was the experiment
    write_report(n.engine.run_dir)
    report = (n.engine.run_dir / "report.md").read_text()
    assert f"- engineer on `direction` {undone[0]['message']}: " in report


async def test_pause_turn_goes_on_with_the_paused_reply(tmp_path: Path) -> None:
    with night(org(tmp_path)) as n:
        n.server.inject(PAUSE)
        await until(n)
    second = n.server.requests[1].body["messages"]
    assert [m["role"] for m in second] == ["user", "assistant"]
    assert second[-1]["content"][0]["text"] == "Working on it…"
    assert n.state.finished and len(n.state.candidates()) == 2
    assert not n.events("turn_undone")


# ---- sends per turn and the budget
def critic_repeats(body: dict[str, Any]) -> Reply:
    t = read_turn(body)
    if t.role == "critic" and t.step == 0:
        return Reply([tool_use("send", kind="checked", body=f"{t.body}\n\nno flags")] * 3)
    return tinylm_model(body)


async def test_a_kind_is_sent_at_most_as_often_per_turn_as_the_role_allows(tmp_path: Path) -> None:
    with night(org(tmp_path, budget={"experiments": 1}), critic_repeats) as n:
        await until(n)
    calls = [c for c in n.events("tool_call") if c["role"] == "critic"]
    assert [c["ok"] for c in calls] == [True, False, False]
    assert "critic sends `checked` at most once a turn" in calls[1]["result"]
    checked = [m for m in n.events("message_sent") if m["kind"] == "checked"]
    assert len(checked) == 1


async def test_no_direction_reaches_the_engineer_once_the_budget_is_spent(tmp_path: Path) -> None:
    with night(org(tmp_path, budget={"experiments": 2})) as n:
        await until(n)
    log = read_events(n.engine.run_dir / "events.jsonl")
    spent = next(e.seq for e in log if e.kind == "budget_exhausted")
    late = [e for e in log if e.kind == "turn_started" and e.seq > spent]
    assert late and all(e.data["role"] != "engineer" for e in late)
    refused = [
        c
        for c in n.events("tool_call")
        if c["role"] == "pi" and not c["ok"] and c["tool"] == "send"
    ]
    assert refused and "no experiment can come of a `direction`" in refused[0]["result"]
    assert n.state.finish_reason == "experiment budget spent"


async def test_every_role_is_told_the_budget_left(tmp_path: Path) -> None:
    with night(
        org(tmp_path, budget={"usd": 5.0, "wall": "8h"}, roles={"pi": {"budget": {"usd": 1.0}}})
    ) as n:
        await until(n)
    first = n.server.requests[0].body["messages"][0]["content"][0]["text"]
    assert (
        "Budget left: 2 of 2 experiments, $5.00 of $5.00, 2,000,000 of 2,000,000 tokens, 8h00m "
        "of 8h00m; yours: $1.00 of $1.00." in first
    )
    later = [r.body for r in n.server.requests if read_turn(r.body).role == "pi"][-1]
    assert "Budget left: 0 of 2 experiments" in later["messages"][0]["content"][0]["text"]


async def test_a_role_budget_ends_that_roles_turns(tmp_path: Path) -> None:
    with night(
        org(tmp_path, budget={"experiments": 6}, roles={"critic": {"budget": {"tokens": 3000}}})
    ) as n:
        await until(n)
    spent = [e for e in n.events("budget_exhausted") if e.get("scope") == "role"]
    assert spent and spent[0]["role"] == "critic" and spent[0]["budget"] == "tokens"
    assert n.state.by_role["critic"].tokens <= 3000
    assert n.state.finished and n.state.finish_reason == "critic's tokens budget spent"


# ---- local models
async def test_a_local_model_server_needs_no_key_and_costs_nothing(tmp_path: Path) -> None:
    """docs/brains.md's recipe: ANTHROPIC_BASE_URL and --model, as the CLI makes the brain, with
    no key in the environment."""
    clock = VirtualClock()
    with MessagesServer(tinylm_model, clock=clock) as srv:
        env = {"ANTHROPIC_BASE_URL": srv.url}
        assert default_brain_name(env) == "anthropic"
        brain = make_brain(None, model="qwen3-coder:30b", env=env)
        assert isinstance(brain, AnthropicBrain)
        brain.clock, brain.sleep = clock, clock.sleep
        engine = Engine.start(
            org(tmp_path),
            brain=brain,
            executor=InstantExecutor(toy_score),
            durable=False,
            clock=clock,
        )
        state = await engine.run()
    assert state.finished and len(state.candidates()) == 2
    assert {r.body["model"] for r in srv.requests} == {"qwen3-coder:30b"}
    assert {r.headers["authorization"] for r in srv.requests} == {f"Bearer {LOCAL_KEY}"}
    assert state.llm_calls > 0 and state.usd == 0.0


# ---- what people see
async def test_the_progress_line_and_the_report_say_what_the_night_was(tmp_path: Path) -> None:
    out = io.StringIO()
    burst = Window(0, 30 * MINUTE, status(529, None))
    with night(org(tmp_path), pi_cut_once, timeline=[burst], max_tokens=2048) as n:
        n.engine.listeners.append(Progress(file=out))
        await until(n)
    text = out.getvalue()
    assert re.search(r"API overloaded \(529\), retry in \d+s, waiting since \d\d:\d\d \(pi\)", text)
    assert re.search(r"API back after 3\dm\d\ds \(pi\)", text)
    assert "reply cut off at 4,096 tokens (pi): send not run; asked again with 8,192" in text
    assert re.search(r"cost: \$\d+\.\d\d \(pi \$\d+\.\d\d, ", text)
    report = write_report(n.engine.run_dir).summary
    md = (n.engine.run_dir / "report.md").read_text()
    assert "| role | calls | tokens | dollars | read from cache |" in md
    for role in ("pi", "engineer", "critic", "reviewer"):
        assert re.search(rf"\| {role} \| \d+ \| [\d,]+ \| \$\d+\.\d{{4}} \| \d+\.\d%", md), role
    assert "- Replies cut off at their token limit: 3 (none of their tool calls ran)" in md
    assert report.state.by_role["pi"].usd > 0


# ---- model settings and the cache's lifetime
def first_requests(n: Night, role: str) -> list[dict[str, Any]]:
    bodies = [r.body for r in n.server.requests]
    return [b for b in bodies if read_turn(b).role == role and read_turn(b).step == 0]


def system_ttls(body: dict[str, Any]) -> set[str]:
    return {b["cache_control"].get("ttl", "5m") for b in body["system"]}


async def test_a_roles_effort_and_thinking_reach_its_requests(tmp_path: Path) -> None:
    roles = {"pi": {"effort": "low", "thinking": 2048}, "engineer": {"thinking": "adaptive"}}
    with night(org(tmp_path, roles=roles), max_tokens=4096) as n:
        await until(n)
    pi, engineer, critic = (first_requests(n, r)[0] for r in ("pi", "engineer", "critic"))
    assert pi["output_config"] == {"effort": "low"}
    assert pi["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert pi["max_tokens"] == 4096 + 2048  # thinking counts against the limit
    assert engineer["thinking"] == {"type": "adaptive"} and "output_config" not in engineer
    assert "thinking" not in critic and "output_config" not in critic
    assert n.state.finished and len(n.state.candidates()) == 2


async def test_the_cache_lives_an_hour_when_an_experiment_may_outlast_five_minutes(
    tmp_path: Path,
) -> None:
    with night(org(tmp_path, experiment={"timeout": "10m"})) as n:
        await until(n)
    for body in (r.body for r in n.server.requests):
        assert system_ttls(body) == {"1h"}
        newest = body["messages"][-1]["content"][-1]["cache_control"]
        assert newest == {"type": "ephemeral"}  # the next call of the turn, seconds away
    calls = n.events("llm_call")
    assert sum(c["cache_write_1h"] for c in calls) > 0
    first = calls[0]  # priced at the one-hour rate: 2x input, not 1.25x
    p = price(first["model"])
    five = first["cache_write"] - first["cache_write_1h"]
    expected = (
        first["input_tokens"] * p.input
        + first["output_tokens"] * p.output
        + five * p.write_5m()
        + first["cache_write_1h"] * p.write_1h()
        + first["cache_read"] * p.read()
    ) / 1e6
    assert first["usd"] == pytest.approx(expected, rel=1e-6) and first["cache_write_1h"] > 0


async def test_turns_further_apart_than_five_minutes_write_for_an_hour(tmp_path: Path) -> None:
    with night(org(tmp_path), experiment_seconds=6 * MINUTE) as n:
        await until(n)
    critic = [system_ttls(b) for b in first_requests(n, "critic")]
    assert critic[0] == {"5m"} and critic[-1] == {"1h"}  # once a gap was measured
    assert n.state.turn_gaps["critic"] > 5 * MINUTE


async def test_brain_cache_ttl_forces_the_lifetime(tmp_path: Path) -> None:
    root = org(tmp_path, experiment={"timeout": "10m"}, brain={"cache_ttl": "5m"})
    with night(root) as n:
        await until(n)
    assert all(system_ttls(r.body) == {"5m"} for r in n.server.requests)
    assert sum(c["cache_write_1h"] for c in n.events("llm_call")) == 0


async def test_json_lines_carry_the_cost_of_each_role_and_its_cache_share(tmp_path: Path) -> None:
    out = io.StringIO()
    with night(org(tmp_path)) as n:
        n.engine.listeners.append(Progress(json_lines=True, file=out))
        await until(n)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    (finished,) = [e["data"] for e in lines if e["kind"] == "run_finished"]
    roles = finished["by_role"]
    assert set(roles) == {"pi", "engineer", "critic", "reviewer", "meta"}
    assert sum(r["usd"] for r in roles.values()) == pytest.approx(finished["usd"], abs=1e-3)
    assert all(0 < r["cache_share"] < 1 and r["calls"] > 0 for r in roles.values())
    assert finished["turns_undone"] == 0 and finished["replies_cut"] == 0
