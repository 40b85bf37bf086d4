"""AnthropicBrain against a local Messages API server: the real SDK, no network, no key.

The brain is pointed at `_messages_server.MessagesServer` by `base_url`; the server answers from a
script (`tinylm_model` plays every role of the default org) and can fail on purpose. Each test
checks one property: what the SDK sends, how a turn's tool-use loop ends, what is counted, what a
replay gives, what happens when the API misbehaves. Experiments run on `InstantExecutor`, so the
tests measure the brain, not training (test_anthropic_cassette.py trains for real).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anthropic._data import DEPRECATED_MODELS
from anthropic.types.model_param import ModelParam

from orgloop.org import load_org
from orgloop.runtime.brains import BrainChoiceError, make_brain
from orgloop.runtime.brains.anthropic_brain import (
    ALIASES,
    NUDGE,
    AnthropicBrain,
    estimate_tokens,
    resolve_model,
)
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.brains.pricing import PRICES, UNKNOWN, cost, price
from orgloop.runtime.brains.replay import ReplayBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.state import RunState
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor

from _messages_server import (
    DROP,
    MALFORMED,
    MessagesServer,
    Reply,
    read_turn,
    slow,
    small_org,
    status,
    text,
    tinylm_model,
    tool_use,
    toy_score,
)

KEY = "sk-ant-test-0000"
BENCH = Path(__file__).parents[3] / "bench"


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


def brain(srv: MessagesServer, **kw: Any) -> AnthropicBrain:
    kw.setdefault("max_retries", 2)
    kw.setdefault("sleep", no_wait)  # retries come at once: these tests are not about waiting
    return AnthropicBrain(api_key=KEY, base_url=srv.url, **kw)


def start(root: Path, b: Any) -> Engine:
    # Not durable: an fsync per commit would double these tests' time and is not what they test.
    return Engine.start(root, brain=b, executor=InstantExecutor(toy_score), durable=False)


async def run_until(engine: Engine, stop: Callable[[], bool], timeout: float = 20) -> None:
    """Run the engine until it ends or `stop()` holds (then cancel it, like a killed process)."""
    task = asyncio.ensure_future(engine.run())
    async with asyncio.timeout(timeout):
        while not task.done():
            if stop():
                task.cancel()
                break
            await asyncio.sleep(0.02)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def events(engine: Engine, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in read_events(engine.run_dir / "events.jsonl") if e.kind == kind]


def turn_done(engine: Engine, role: str) -> Callable[[], bool]:
    return lambda: engine.state.role_turns[role] > 0


def usage_total(responses: list[dict[str, Any]]) -> int:
    keys = (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
    return sum(r["usage"][k] for r in responses for k in keys)


def pi_only(body: dict[str, Any]) -> Reply:
    """A short run: the PI sends one direction; the engineer does nothing (two calls, a nudge)."""
    t = read_turn(body)
    if t.role == "pi" and t.step == 0:
        return Reply([tool_use("send", kind="direction", body="Change LR: a larger step.")])
    return Reply([text("Done.")])


@dataclass
class Recorded:
    engine: Engine
    state: RunState
    server: MessagesServer
    cassette: Path
    twin: Path
    """A copy of the org taken before the run: the same commits, for a replay to run on."""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """One live run of the default org, recorded; several tests read it."""
    tmp = tmp_path_factory.mktemp("recorded")
    org = small_org(tmp / "org")
    twin = tmp / "twin"
    shutil.copytree(org, twin)
    cassette = tmp / "run.jsonl"
    with MessagesServer(tinylm_model) as srv:
        engine = start(org, brain(srv, record=cassette))
        state = asyncio.run(engine.run())
    yield Recorded(engine, state, srv, cassette, twin)


# ---- what the SDK sends
def test_key_goes_as_bearer_authorization(recorded: Recorded) -> None:
    headers = recorded.server.requests[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in headers
    assert headers["anthropic-version"]


async def test_auth_token_from_env_goes_as_bearer(tmp_path: Path) -> None:
    with MessagesServer(lambda body: Reply([text("no")])) as srv:
        env = {"ANTHROPIC_AUTH_TOKEN": "tok-1", "ANTHROPIC_BASE_URL": srv.url}
        engine = start(small_org(tmp_path / "org"), AnthropicBrain(env=env, max_retries=0))
        await run_until(engine, lambda: len(srv.requests) > 0)
    assert srv.requests[0].headers["authorization"] == "Bearer tok-1"


def test_request_carries_role_prompt_tools_and_cache_breakpoints(recorded: Recorded) -> None:
    first = recorded.server.requests[0].body
    assert first["model"] == "claude-sonnet-5-5"
    assert "You are the principal investigator" in first["system"][0]["text"]
    assert [t["name"] for t in first["tools"]] == ["read_file", "send", "decide", "note"]
    assert "A `kickoff` message from human" in first["messages"][0]["content"][0]["text"]
    marks = [t for t in first["tools"] if "cache_control" in t]
    marks += [b for b in first["system"] if "cache_control" in b]
    marks += [b for m in first["messages"] for b in m["content"] if "cache_control" in b]
    newest = first["messages"][-1]["content"][-1]
    # no breakpoint on the tools: the head's entry, a longer prefix, covers them
    assert marks == [first["system"][0], first["system"][1], newest]
    # the cached head of the system prompt ends where the ledger, which changes, begins
    assert first["system"][1]["text"].startswith("## The ledger\nMetric: val_bpb")
    assert "Metric: val_bpb" not in first["system"][0]["text"]
    # how to act is the same every turn: in the cached head, not in each first message
    assert "You may send: `direction` to engineer (up to 16 a turn)." in first["system"][0]["text"]
    assert "You may send" not in first["messages"][0]["content"][0]["text"]


def test_kickoff_does_not_repeat_the_program_the_prompt_holds(recorded: Recorded) -> None:
    first = recorded.server.requests[0].body
    program = "Train the best character-level language model of a synthetic text"
    assert program in first["system"][0]["text"]
    message = first["messages"][0]["content"][0]["text"]
    assert program not in message and "word for word" in message


def test_every_role_sees_the_program_and_the_org_in_its_cached_head(recorded: Recorded) -> None:
    program = "Train the best character-level language model of a synthetic text"
    heads = {read_turn(r.body).role: r.body["system"][0]["text"] for r in recorded.server.requests}
    assert set(heads) == {"pi", "engineer", "critic", "reviewer", "meta"}
    for role, head in heads.items():
        assert head.count(program) == 1, role  # the PI's own file holds it: it is not added twice
        assert f"- **{role}** (you): " in head
        for other in ("pi", "engineer", "critic", "reviewer", "meta", "trainer"):
            assert f"- **{other}**" in head, (role, other)
    assert "Sends `experiment` to trainer; `question` to pi." in heads["critic"]  # the engineer


def test_the_test_server_caches_no_prefix_under_its_minimum() -> None:
    def request(chars: int) -> dict[str, Any]:
        block = {"type": "text", "text": "x" * chars, "cache_control": {"type": "ephemeral"}}
        return {"system": [block], "messages": [{"role": "user", "content": [text("hi")]}]}

    srv = MessagesServer(tinylm_model, min_cache_tokens=1024)
    short = [srv.usage(request(2_000), []) for _ in range(2)]
    assert short[1]["cache_read_input_tokens"] == short[1]["cache_creation_input_tokens"] == 0
    long = [srv.usage(request(8_000), []) for _ in range(2)]
    assert long[0]["cache_creation_input_tokens"] > 1024 and long[0]["cache_read_input_tokens"] == 0
    assert long[1]["cache_read_input_tokens"] == long[0]["cache_creation_input_tokens"]


def test_model_comes_from_role_then_flag_then_org() -> None:
    assert resolve_model("haiku", "opus", "claude-sonnet-5-5") == "claude-haiku-5-5"
    assert resolve_model("inherit", "opus", "claude-sonnet-5-5") == "claude-opus-5-5"
    assert resolve_model("inherit", None, "claude-sonnet-5-5") == "claude-sonnet-5-5"
    assert resolve_model("claude-opus-4-8", None, "x") == "claude-opus-4-8"


def test_aliases_are_current_sdk_models() -> None:
    known = set(typing.get_args(typing.get_args(ModelParam)[0]))
    for model in ALIASES.values():
        assert model in known
        assert model not in DEPRECATED_MODELS


def test_prices_follow_families_and_unknown_models_cost_the_most() -> None:
    assert price("claude-sonnet-5-5") == PRICES["claude-sonnet-5-5"]
    assert price("claude-sonnet-5-1") == PRICES["claude-sonnet-5"]
    assert price("claude-opus-5-5") == PRICES["claude-opus-5-5"]
    assert price("claude-opus-5") == PRICES["claude-opus-5"]
    assert price("gpt-9") == UNKNOWN
    assert all(UNKNOWN.output >= p.output for p in PRICES.values())
    one = cost("claude-sonnet-5-5", input_tokens=1_000_000)
    assert cost("claude-sonnet-5-5", cache_write=1_000_000) == pytest.approx(1.25 * one)
    assert cost("claude-sonnet-5-5", cache_read=1_000_000) == pytest.approx(0.05 * one)
    assert cost("claude-sonnet-5", cache_read=1_000_000) == pytest.approx(0.1 * one)


# ---- a run
def test_every_role_acts_and_usage_is_accounted(recorded: Recorded) -> None:
    state, srv = recorded.state, recorded.server
    assert state.finished and not state.paused
    calls = events(recorded.engine, "llm_call")
    assert {c["role"] for c in calls} == {"pi", "engineer", "critic", "reviewer", "meta"}
    assert len(calls) == len(srv.responses) == len(srv.requests) == state.llm_calls
    assert state.tokens == usage_total(srv.responses)
    assert state.usd == pytest.approx(sum(c["usd"] for c in calls)) and state.usd > 0
    assert state.cache_read > 0
    assert [e.decision for e in state.candidates()] == ["keep", "keep"]


async def test_replay_of_a_recording_gives_the_same_run(recorded: Recorded) -> None:
    replayed = start(recorded.twin, ReplayBrain(recorded.cassette))  # the server is gone
    state = await replayed.run()
    live = recorded.engine
    tsv = [(e.run_dir / "results.tsv").read_text() for e in (live, replayed)]
    assert tsv[0] == tsv[1] and len(tsv[0].splitlines()) == 4
    assert (state.llm_calls, state.tokens) == (recorded.state.llm_calls, recorded.state.tokens)
    assert state.usd == pytest.approx(recorded.state.usd)

    def calls(engine: Engine) -> list[tuple[Any, ...]]:
        # turns interleave differently (the live server took time to answer): compare by role
        keep = ("role", "step", "input_tokens", "output_tokens", "cache_read", "cache_write")
        return sorted(tuple(c[k] for k in keep) for c in events(engine, "llm_call"))

    assert calls(live) == calls(replayed)
    assert len(recorded.cassette.read_text().splitlines()) == len(recorded.server.responses)


async def test_memory_notes_outlive_the_run(recorded: Recorded) -> None:
    org = Path(recorded.state.config["org"])
    memory = (org / ".orgloop" / "memory" / "pi.md").read_text()
    assert "first directions were LR and HIDDEN" in memory
    with MessagesServer(tinylm_model) as srv:
        engine = start(org, brain(srv))
        await run_until(engine, lambda: len(srv.requests) > 0)
    system = "".join(b["text"] for b in srv.requests[0].body["system"])
    assert "You are the principal investigator" in system
    assert "first directions were LR and HIDDEN" in system


# ---- how a turn ends
async def test_model_that_never_calls_a_tool_ends_after_one_nudge(tmp_path: Path) -> None:
    with MessagesServer(lambda body: Reply([text("I would change the learning rate.")])) as srv:
        engine = start(small_org(tmp_path / "org"), brain(srv))
        state = await engine.run()
    assert state.finished
    assert len(srv.requests) == 2  # the PI's kickoff: one answer, one nudge, nothing sent
    assert srv.requests[1].body["messages"][-1]["content"][0]["text"] == NUDGE
    (turn,) = [t for t in events(engine, "turn_completed") if t["role"] == "pi"]
    assert turn["produced"] == []


async def test_unknown_tool_is_refused_and_the_step_limit_ends_the_turn(tmp_path: Path) -> None:
    def model(body: dict[str, Any]) -> Reply:
        return Reply([tool_use("launch_rockets", target="moon")])

    with MessagesServer(model) as srv:
        state = await start(small_org(tmp_path / "org", turns={"max_steps": 3}), brain(srv)).run()
    assert state.finished
    assert len(srv.requests) == 3
    result = srv.requests[-1].body["messages"][-1]["content"][0]
    assert result["is_error"] is True and "no tool named 'launch_rockets'" in result["content"]


async def test_bad_arguments_go_back_as_error_results(tmp_path: Path) -> None:
    def model(body: dict[str, Any]) -> Reply:
        t = read_turn(body)
        if t.step == 0:
            return Reply([tool_use("send", body="no kind given")])
        if t.step == 1:
            return Reply([tool_use("send", kind="direction", body="Change LR: fixed.")])
        return Reply([text("Done.")])

    with MessagesServer(model) as srv:
        engine = start(small_org(tmp_path / "org"), brain(srv))
        await run_until(engine, turn_done(engine, "pi"))
    refused = srv.requests[1].body["messages"][-1]["content"][0]
    assert refused["is_error"] is True and "bad arguments for send" in refused["content"]
    assert [m["kind"] for m in events(engine, "message_sent")][-1] == "direction"


async def test_token_budget_stops_the_turn_before_the_call(tmp_path: Path) -> None:
    with MessagesServer(tinylm_model) as srv:
        engine = start(small_org(tmp_path / "org", budget={"tokens": 6000}), brain(srv))
        state = await engine.run()
    assert state.finished
    assert 0 < state.tokens <= 6000
    (spent,) = events(engine, "budget_exhausted")[:1]
    assert (spent["budget"], spent["by"]) == ("tokens", "brain")


# ---- when the API misbehaves (a night of it: test_anthropic_faults.py)
async def test_rate_limits_and_overload_are_retried_and_counted_once(tmp_path: Path) -> None:
    with MessagesServer(pi_only) as srv:
        srv.inject(status(429), status(529))
        engine = start(small_org(tmp_path / "org"), brain(srv))
        state = await engine.run()
    assert state.finished and not state.paused
    assert len(srv.requests) == len(srv.responses) + 2
    assert srv.requests[0].body == srv.requests[2].body  # the same call, asked again
    assert state.llm_calls == len(srv.responses)
    assert state.tokens == usage_total(srv.responses)
    assert events(engine, "api_waiting") == []  # two quick retries are a blip, not an outage


@pytest.mark.parametrize("fault", [MALFORMED, DROP, slow(2.5)], ids=["malformed", "drop", "slow"])
async def test_a_passing_fault_is_survived_and_counted_once(tmp_path: Path, fault: Any) -> None:
    with MessagesServer(pi_only) as srv:
        srv.inject(fault)
        b = brain(srv, timeout=1.0)  # generous for a local answer, short of the slow one
        state = await start(small_org(tmp_path / "org"), b).run()
    assert state.finished and not state.paused
    # the slow answer was made (responses[0]), but after the client gave up and asked again
    late = 1 if fault.kind == "slow" else 0
    assert len(srv.requests) == len(srv.responses) + 1 - late
    assert state.llm_calls == len(srv.responses) - late
    assert state.tokens == usage_total(srv.responses[late:])


@pytest.mark.parametrize("config_dir", [False, True], ids=["nothing", "missing-config-dir"])
async def test_missing_credentials_pause_the_run_with_a_clear_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: bool
) -> None:
    org = small_org(tmp_path / "org")
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/anthropic profile
    if config_dir:
        monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path / "no-such-dir"))
    else:
        monkeypatch.delenv("ANTHROPIC_CONFIG_DIR", raising=False)
    # not a local address: a local model server needs no key, so the brain would not ask
    engine = start(org, AnthropicBrain(base_url="https://gateway.example.invalid", env={}))
    await run_until(engine, lambda: engine.state.paused)
    (paused,) = events(engine, "paused")
    assert paused["reason"].startswith("pi: no Anthropic credentials: set ANTHROPIC_API_KEY")


# ---- replay
async def test_replay_that_diverges_says_where(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    line = {
        "turn": "t9",
        "role": "pi",
        "kind": "review",
        "step": 0,
        "seconds": 0.1,
        "request": {},
        "response": {"content": [{"type": "text", "text": "ok"}], "usage": {}},
    }
    cassette.write_text(json.dumps(line) + "\n")
    engine = start(small_org(tmp_path / "org"), ReplayBrain(cassette))
    await run_until(engine, lambda: engine.state.paused)
    (error,) = events(engine, "error")
    assert error["error"].startswith("ReplayDivergence: pi handles a `kickoff` message")
    assert "recorded turn (t9) handled `review`" in error["error"]


# ---- choosing a brain
def test_make_brain_picks_by_name_and_environment(tmp_path: Path) -> None:
    assert isinstance(make_brain(None, env={}), OfflineBrain)
    chosen = make_brain(None, model="opus", env={"ANTHROPIC_API_KEY": "k"})
    assert isinstance(chosen, AnthropicBrain) and chosen.model == "opus"
    assert isinstance(make_brain(None, env={"ANTHROPIC_AUTH_TOKEN": "t"}), AnthropicBrain)
    cassette = tmp_path / "c.jsonl"
    cassette.write_text("")
    assert isinstance(make_brain("replay", cassette=cassette, env={}), ReplayBrain)


@pytest.mark.parametrize(
    ("name", "flags"),
    [
        ("gpt", {}),
        ("replay", {}),
        ("offline", {"record": Path("c.jsonl")}),
        ("anthropic", {"cassette": Path("c.jsonl")}),
        ("offline", {"model": "opus"}),
    ],
)
def test_make_brain_refuses_flags_that_do_not_fit(name: str, flags: dict[str, Any]) -> None:
    with pytest.raises(BrainChoiceError):
        make_brain(name, env={}, **flags)


def test_offline_brain_leaves_the_sdk_unimported() -> None:
    code = (
        "import sys\nfrom orgloop.runtime.brains import make_brain\n"
        "make_brain(None, env={})\nprint('anthropic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- bounded context
def test_prompt_does_not_grow_with_the_run(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_context", BENCH / "context.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    org = load_org(small_org(tmp_path / "org"))
    for role in ("pi", "engineer", "critic", "reviewer", "meta"):
        small, large = (estimate_tokens(bench.first_request(org, role, n)) for n in (10, 1000))
        assert large - small < 100, role  # a few more digits in experiment ids, nothing more


async def test_connecting_waits_seconds_while_an_answer_may_take_minutes() -> None:
    brain = AnthropicBrain(api_key=KEY, base_url="http://127.0.0.1:9")
    async with brain._client() as client:
        timeout = client.timeout
    assert not isinstance(timeout, float | int | None)
    assert (timeout.connect, timeout.read) == (10.0, 600.0)
