"""A night left alone: the built-in org with the anthropic brain through eight hours of API faults.

The org is `orgloop init`'s (tinylm: PI, engineer, critic, reviewer, meta-agent, trainer) with a
night's budget: `--experiments` (default 80), eight hours of wall time, $50. The Messages API is
the local test server (tests/runtime/_messages_server.py) over loopback, reached by the real SDK:
it plays every role (`tinylm_model`) and fails on a scripted timeline (`NIGHT`, below) — bursts of
529 lasting half an hour, 429 with retry-after, dropped connections, replies cut at max_tokens mid
tool_use, refusals, pause_turn, bodies that are not JSON, a hang after the headers, a 401 and a
403. Experiments are `InstantExecutor`s scoring train.py with `toy_score`, each taking
`--minutes` (default 3.5) of virtual time. Engine, brain, server and executor share one
`VirtualClock`, so the night passes in well under a minute of real time.

A 401 or 403 pauses the run at once (waiting would not cure it); the bench then plays the person
who fixes it: twenty virtual minutes later it resumes the run (`orgloop resume`, as
`Engine.resume` with a fresh brain) and the night goes on.

Figures, each computed from the run's events.jsonl and the server's own record of what it
answered (never from the brain's say-so):

- experiments run: candidates, kept, baselines and confirmation reruns; how the run ended.
- turns lost (goal 0): `turn_undone` events (a turn that ended without its role's duty done) plus
  messages a turn started on that no turn ever completed.
- tool calls executed from cut-off replies (goal 0): `tool_call` events of a turn between an
  `llm_call` whose stop_reason is max_tokens and that turn's next call; and, as a check from the
  server's side, executed calls whose tool and arguments equal the cut-off call a cut reply ended
  on.
- calls counted twice (goal 0): `llm_call` events beyond the answers the server gave with that
  usage (input, output, cache read and write tokens); and answered calls never counted.
- paid turns after the budget was spent (goal 0): turns with a model call that started after a
  budget ran out and could not serve an experiment already run: any turn after the run's tokens,
  dollars or wall time ran out; after the experiment budget ran out, a turn on a `direction`, a
  `question` or a `kickoff`, or one of the role that sends experiments.
- dollars by role: the fold's cost per role (the test server's usage at the price table's rates
  for the org's model), with calls and the share of the prompt read from the cache.

What it does not measure: real model quality (the roles are scripted), real training, or the
Anthropic API's own accounting (the server estimates tokens as JSON characters / 4).

Run: python bench/night.py [--experiments N] [--minutes M] [--hours H]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtime"))

from orgloop.runtime.brains.anthropic_brain import AnthropicBrain
from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.core.ledger import by_role
from orgloop.runtime.core.state import RunState
from orgloop.runtime.core.text import duration
from orgloop.runtime.engine import Engine
from orgloop.runtime.scaffold import init_org
from orgloop.runtime.testing import InstantExecutor, VirtualClock

from _messages_server import (
    DROP,
    MALFORMED,
    PAUSE,
    REFUSE,
    MessagesServer,
    Reply,
    Window,
    hang,
    prompt_file,
    read_turn,
    status,
    tinylm_model,
    tool_use,
    toy_score,
)

Block = dict[str, Any]
MINUTE, HOUR = 60.0, 3600.0
KEY = "sk-ant-bench-0000"
FIX_AFTER = 20 * MINUTE
"""How long after a 401 or 403 paused the run the person resumes it."""
HTTP_TIMEOUT = 2.0
"""Real seconds the brain waits for an answer: what a hang after the headers costs each time."""


def at(hours: float, minutes: float = 0.0) -> float:
    return hours * HOUR + minutes * MINUTE


NIGHT: list[tuple[str, Window]] = [
    ("529 overloaded for 30 minutes", Window(at(0, 20), at(0, 50), status(529, None))),
    ("429 with retry-after 30 s", Window(at(1, 10), at(1, 20), status(429, retry_after=30))),
    ("dropped connections for 10 minutes", Window(at(1, 40), at(1, 50), DROP)),
    ("refusals, one call in five", Window(at(2, 50), at(3, 10), REFUSE, every=5, limit=4)),
    ("pause_turn, one call in three", Window(at(3, 20), at(3, 40), PAUSE, every=3, limit=6)),
    ("bodies that are not JSON for 15 minutes", Window(at(3, 50), at(4, 5), MALFORMED)),
    ("hangs after the headers", Window(at(4, 20), at(4, 30), hang(30), limit=3)),
    ("401: a key revoked", Window(at(4, 50), at(5, 0), status(401, None), limit=1)),
    ("500s, one call in five", Window(at(5, 30), at(6, 0), status(500, None), every=5)),
    ("403: permission withdrawn", Window(at(6, 10), at(6, 20), status(403, None), limit=1)),
    ("529 overloaded again, for 25 minutes", Window(at(6, 40), at(7, 5), status(529, None))),
]
"""The night's faults, in hours and minutes after the run started (the server's clock). Replies
cut at max_tokens mid tool_use come from the model, not the server: see `LONG`."""


CHOICES = {
    "LR": tuple(round(0.5 + i / 100, 2) for i in range(151)),  # a factor of the incumbent's
    "HIDDEN": tuple(range(32, 769, 16)),
    "CONTEXT": (2, 4, 6, 8, 10, 12),
    "EMBED": (8, 16, 24, 32),
    "BATCH": (32, 64, 128, 256),
}
"""What the scripted engineer tries (toy_score reads LR and HIDDEN; the other knobs are changes
that measure the same, as many real ones do)."""
KNOBS = ("LR", "HIDDEN") * 4 + ("CONTEXT", "EMBED", "BATCH")
LONG = (at(2, 10), at(2, 40))
"""When one reply in three is long: ~10,000 tokens in its first tool call, which the first limit
(8,192) cuts off mid tool_use and a limit twice as large holds."""
LONG_CHARS = 40_000


def _digest(body: dict[str, Any]) -> int:
    """A number fixed by the request, not by its `max_tokens`: a retry with a larger limit is
    answered as the cut-off call was."""
    same = {k: v for k, v in body.items() if k != "max_tokens"}
    text = json.dumps(same, sort_keys=True, default=str)
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def night_model(clock: VirtualClock, t0: list[float]) -> Callable[[dict[str, Any]], Reply]:
    """`tinylm_model` with an engineer that varies its change the way a model would — the knob
    and the step follow from the prompt (the ledger moves after every experiment), and a change
    the toolbox refuses as a repeat is replaced by the next one (the tests' scripted engineer
    repeats a discarded change from the same incumbent, and the org runs dry within the hour) —
    and, during `LONG`, one reply in three that is too long for the first limit."""

    def model(body: dict[str, Any]) -> Reply:
        reply = _engineer(body) or tinylm_model(body)
        if LONG[0] <= clock() - t0[0] < LONG[1] and _digest(body) % 3 == 0:
            reply = Reply(_padded(reply.content), reply.stop_reason, reply.stop_details)
        return reply

    return model


def _padded(content: list[Block]) -> list[Block]:
    """The reply with its first tool call's text argument ~10,000 tokens long."""
    out, done = [], False
    for block in content:
        if block.get("type") == "tool_use" and not done:
            args = dict(block.get("input") or {})
            key = next((k for k in ("body", "text", "reason") if k in args), None)
            if key is not None:
                why = "The ledger says so, and here is why at length. "
                args[key] = f"{args[key]}\n\n" + why * (LONG_CHARS // len(why))
                block, done = {**block, "input": args}, True
        out.append(block)
    return out


def _engineer(body: dict[str, Any]) -> Reply | None:
    t = read_turn(body)
    source = prompt_file(t.system, "train.py")
    if t.role != "engineer" or source is None:
        return None
    if t.step > 0 and not (t.results and t.results[-1].get("is_error")):
        return Reply([])  # sent (or given up): the turn is done
    tried = [  # the changes this turn sent, each refused as a repeat
        (m.group(1), m.group(3))
        for msg in body["messages"]
        if msg["role"] == "assistant"
        for b in msg["content"]
        if b.get("type") == "tool_use" and b.get("name") == "send"
        if (m := re.match(r"(\w+) (\S+) -> (\S+):", str((b.get("input") or {}).get("body", ""))))
    ]
    lines = {knob: _incumbent_line(t.system, source, knob) for knob in CHOICES}

    def pick(attempt: int) -> tuple[str, str]:
        """A change drawn from the prompt: the ledger moves after every experiment."""
        h = hashlib.sha256(f"{t.system}{t.body}{attempt}".encode()).digest()
        knob = KNOBS[h[0] % len(KNOBS)]
        values = CHOICES[knob]
        value = values[int.from_bytes(h[1:5], "big") % len(values)]
        if knob == "LR":
            return knob, f"{float(lines['LR']) * float(value):.3g}"
        return knob, str(value)

    left = [c for c in map(pick, range(20)) if c not in tried and c[1] != lines[c[0]]]
    if not left:
        return Reply([tool_use("send", kind="question", body="Every change I know is tried.")])
    knob, new = left[0]
    calls: list[Block] = []
    was, value = tried[-1] if tried else (knob, lines[knob])
    if was != knob:  # the turn's copy holds the refused change: undo it first
        calls.append(_edit(f"{was} = {value}", f"{was} = {lines[was]}"))
        value = lines[knob]
    calls.append(_edit(f"{knob} = {value}", f"{knob} = {new}"))
    change = f"{knob} {lines[knob]} -> {new}: {t.body}"
    return Reply([*calls, tool_use("send", kind="experiment", body=change)])


def _incumbent_line(system: str, source: str, knob: str) -> str:
    """The knob's value in the incumbent: the prompt's train.py, or the diff kept since."""
    added = re.findall(rf"^\+{knob} = (.+)$", system, re.MULTILINE)
    found = re.search(rf"^{knob} = (.+)$", source, re.MULTILINE)
    assert found is not None, f"train.py has no {knob} line"
    return added[-1] if added else found.group(1)


def _edit(old: str, new: str) -> Block:
    return tool_use("edit_file", path="train.py", old_string=old, new_string=new)


@dataclass
class Night:
    run_dir: Path
    server: MessagesServer
    clock: VirtualClock
    pauses: list[str]
    real_seconds: float

    def events(self) -> list[Event]:
        return read_events(self.run_dir / "events.jsonl")


def make_org(root: Path, experiments: int, hours: float) -> Path:
    init_org(root)
    path = root / "ORG.md"
    text = path.read_text(encoding="utf-8")
    budget = f"budget: {{experiments: {experiments}, wall: {hours:g}h, usd: 50.00}}"
    text = text.replace(
        "budget: {experiments: 10, wall: 15m, usd: 5.00, tokens: 2000000}", budget, 1
    )
    assert budget in text, "the built-in ORG.md's budget line moved; update bench/night.py"
    path.write_text(text, encoding="utf-8")
    Git(root).commit_all("a night's budget")
    return root


def brain(server: MessagesServer, clock: VirtualClock) -> AnthropicBrain:
    return AnthropicBrain(
        api_key=KEY,
        base_url=server.url,
        timeout=HTTP_TIMEOUT,
        clock=clock,
        sleep=clock.sleep,
    )


async def run_night(root: Path, minutes: float) -> Night:
    clock = VirtualClock()
    t0 = [clock()]
    server = MessagesServer(night_model(clock, t0), clock=clock, timeline=[w for _, w in NIGHT])
    pauses: list[str] = []
    start = time.perf_counter()
    with server:
        t0[0] = server.t0
        executor = InstantExecutor(toy_score, seconds=minutes * MINUTE, sleep=clock.sleep)
        engine = Engine.start(root, brain=brain(server, clock), executor=executor, clock=clock)
        run_dir = engine.run_dir
        state = await engine.run()
        while state.paused and not state.finished:
            pauses.append(str(_last(engine.run_dir, "paused").get("reason", "")))
            if len(pauses) > 10:
                break
            await clock.sleep(FIX_AFTER)  # someone reads the reason and fixes what it names
            (run_dir / "control.jsonl").open("a").write('{"cmd": "resume"}\n')
            engine = Engine.resume(
                run_dir, brain=brain(server, clock), executor=executor, clock=clock
            )
            state = await engine.run()
    return Night(run_dir, server, clock, pauses, time.perf_counter() - start)


def _last(run_dir: Path, kind: str) -> dict[str, Any]:
    found = [e.data for e in read_events(run_dir / "events.jsonl") if e.kind == kind]
    return found[-1] if found else {}


# ---- the figures
def turns_lost(events: list[Event]) -> tuple[int, int]:
    """(turns undone, messages started on and never completed)."""
    undone = sum(1 for e in events if e.kind == "turn_undone")
    started = {e.data["message"] for e in events if e.kind == "turn_started"}
    completed = {e.data["message"] for e in events if e.kind == "turn_completed"}
    return undone, len(started - completed)


CUT = frozenset({"max_tokens", "model_context_window_exceeded"})


def executed_from_cuts(events: list[Event], responses: list[dict[str, Any]]) -> tuple[int, int]:
    """(tool calls run after a cut-off reply and before the turn's next call, executed calls
    equal to the cut-off call a cut reply ended on)."""
    after_cut: dict[str, bool] = {}
    ran = 0
    calls: list[tuple[str, str]] = []
    for e in events:
        turn = str(e.data.get("turn", ""))
        if e.kind == "llm_call":
            after_cut[turn] = e.data.get("stop_reason") in CUT
        elif e.kind == "tool_call":
            ran += after_cut.get(turn, False)
            calls.append((str(e.data["tool"]), repr(e.data.get("args"))))
    partial = Counter(
        (str(r["content"][-1]["name"]), repr(r["content"][-1].get("input")))
        for r in responses
        if r.get("stop_reason") in CUT and r["content"] and r["content"][-1]["type"] == "tool_use"
    )
    same = sum(1 for c in calls if c in partial)
    return ran, same


def _usage(d: dict[str, Any]) -> tuple[int, int, int, int]:
    return (
        int(d.get("input_tokens") or 0),
        int(d.get("output_tokens") or 0),
        int(d.get("cache_read") or d.get("cache_read_input_tokens") or 0),
        int(d.get("cache_write") or d.get("cache_creation_input_tokens") or 0),
    )


def counted(events: list[Event], responses: list[dict[str, Any]]) -> tuple[int, int]:
    """(llm_call events beyond the server's answers of that usage, answers never counted)."""
    ours = Counter(_usage(e.data) for e in events if e.kind == "llm_call")
    theirs = Counter(_usage(r["usage"]) for r in responses)
    return sum((ours - theirs).values()), sum((theirs - ours).values())


def paid_after_budget(events: list[Event], makers: set[str]) -> tuple[int, int, int]:
    """(paid turns that could serve nothing once a budget ran out, their model calls, paid
    turns after the experiment budget ran out in all)."""
    spent_run = spent_experiments = False
    wasted: dict[str, int] = {}
    after: set[str] = set()
    turns: dict[str, bool] = {}
    messages: dict[str, str] = {}
    for e in events:
        d = e.data
        if e.kind == "message_sent":
            messages[d["id"]] = d["kind"]
        elif e.kind == "budget_exhausted" and d.get("scope") != "role":
            if d["budget"] == "experiments":
                spent_experiments = True
            else:
                spent_run = True
        elif e.kind == "turn_started":
            kind = messages.get(d["message"], "")
            useless = spent_run or (
                spent_experiments
                and (kind in ("direction", "question", "kickoff") or d["role"] in makers)
            )
            turns[d["turn"]] = useless
            if spent_experiments or spent_run:
                after.add(d["turn"])
        elif e.kind == "llm_call" and turns.get(d["turn"]):
            wasted[d["turn"]] = wasted.get(d["turn"], 0) + 1
    paid = {e.data["turn"] for e in events if e.kind == "llm_call"} & after
    return len(wasted), sum(wasted.values()), len(paid)


def _figures(n: Night, root: Path) -> Iterable[str]:
    events = n.events()
    state = RunState()
    for e in events:
        state.apply(e)
    cands = state.candidates()
    base = [e for e in state.experiments.values() if e.baseline]
    confirm = [e for e in state.experiments.values() if e.confirm]
    kept = sum(1 for e in cands if e.decision == "keep")
    hours = state.wall_seconds() / HOUR
    waits = [e.data for e in events if e.kind == "api_waiting"]
    cuts = [e.data for e in events if e.kind == "reply_cut"]
    dropped = sum(len(c.get("dropped") or []) for c in cuts)
    refusals = sum(1 for e in events if e.kind == "refusal")
    undone, never = turns_lost(events)
    ran, same = executed_from_cuts(events, n.server.responses)
    twice, uncounted = counted(events, n.server.responses)
    from orgloop.org import load_org

    org = load_org(root)
    makers = {r.name for r in org.roles.values() if any(s.kind == "experiment" for s in r.sends)}
    wasted, wasted_calls, paid_after = paid_after_budget(events, makers)
    faults = Counter(f.kind if f.kind != "status" else str(f.status) for _, f in n.server.faulted)

    yield f"night: {hours:.2f} h of virtual time in {n.real_seconds:.1f} s of real time"
    yield (
        f"faults the server gave: {sum(faults.values())} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(faults.items()))
        + ")"
    )
    yield (
        f"API waits: {len(waits)} events, the longest outage "
        f"{duration(max((w['waited'] + w['retry_in'] for w in waits), default=0.0))}; "
        f"replies cut: {len(cuts)} ({dropped} tool calls in them not run); refusals: {refusals}"
    )
    for reason in n.pauses:
        yield f"paused, resumed {duration(FIX_AFTER)} later: {reason[:150]}"
    yield f"run: {state.finish_reason or 'not finished'}"
    yield ""
    yield (
        f"experiments run: {len(cands)} ({kept} kept), plus {len(base)} baseline and "
        f"{len(confirm)} confirmation runs"
    )
    yield f"turns lost: {undone + never} (goal 0; {undone} undone, {never} never completed)"
    yield (
        f"tool calls executed from cut-off replies: {ran} (goal 0; executed calls equal to a "
        f"cut-off one: {same})"
    )
    yield (
        f"calls counted twice: {twice} (goal 0; {state.llm_calls} calls counted, "
        f"{len(n.server.responses)} answered, {uncounted} answered and not counted)"
    )
    yield (
        f"paid turns after the budget was spent: {wasted} (goal 0; {wasted_calls} calls; "
        f"{paid_after} paid turns after it in all, the rest checking, reviewing and deciding "
        "experiments already run)"
    )
    rows = by_role(state)
    yield f"dollars by role: ${state.usd:.4f} in all, {org.program.model}"
    for role, r in rows.items():
        share = "—" if r["cache_share"] is None else f"{r['cache_share']:.1%}"
        yield (
            f"  {role:10} ${r['usd']:8.4f}  {r['calls']:4} calls  {r['tokens']:>10,} tokens  "
            f"{share} read from cache"
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=80)
    parser.add_argument("--minutes", type=float, default=3.5, help="virtual minutes each")
    parser.add_argument("--hours", type=float, default=8.0, help="the wall budget")
    parser.add_argument("--keep", type=Path, help="make the org here and keep it")
    args = parser.parse_args(argv)
    print("the night's faults (hours after the start):")
    faults = [(w.start, w.end, what) for what, w in NIGHT]
    faults.append((*LONG, "one reply in three ~10,000 tokens long: cut at 8,192 mid tool_use"))
    for start, end, what in sorted(faults):
        print(f"  {duration(start):>7} to {duration(end):>7}  {what}")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_org(args.keep or Path(tmp) / "org", args.experiments, args.hours)
        n = asyncio.run(run_night(root, args.minutes))
        print()
        for line in _figures(n, root):
            print(line)


if __name__ == "__main__":
    main(sys.argv[1:])


__all__ = ["NIGHT", "main"]
