"""How big an AnthropicBrain prompt is, and how much of it the cache serves.

1. Prompt tokens of a role's first call in a turn (system + tools + first message, estimated as
   JSON characters / 4) with 10, 100 and 1,000 experiments in the ledger: the state is a fold of
   synthetic events, the ledger is `runtime.ledger.summarize`, the request is the brain's own
   `build_request`; the engineer's includes the default org's train.py, as the engine gives it
   to roles that edit the experiment. Goal: flat. Later calls of a turn add that turn's tool
   results, at most `max_steps` of them, each clipped.
2. The share of input tokens served from the cache, cache_read / (input + cache_read +
   cache_write), from the usage in recorded runs: the committed cassette (2 experiments, real
   training) and a fresh recording of a longer run (--experiments N, default 10, instant
   experiments), recorded twice: with every prefix cacheable, and with no prefix under 1,024
   tokens cached, as on the API for many models. Goal: above 80 %. The usage is the local test
   server's accounting (tests/runtime/_messages_server.py), not Anthropic's: the API also expires
   entries after five minutes, and real models write longer answers.

Run: python bench/context.py [--experiments N] [CASSETTE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from orgloop.org import Role, load_org, render_prompt, tool_names
from orgloop.org._model import Org
from orgloop.runtime.brains.anthropic_brain import build_request, estimate_tokens
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.core.events import Event
from orgloop.runtime.core.ledger import summarize
from orgloop.runtime.core.state import Message, RunState
from orgloop.runtime.core.tools import Toolbox, matches
from orgloop.runtime.scaffold import init_org
from orgloop.runtime.testing import RecordingRun

ROOT = Path(__file__).resolve().parents[1]
CASSETTE = ROOT / "tests" / "data" / "cassettes" / "default-org.jsonl"
MIN_CACHE_TOKENS = 1024
"""The API's minimum cacheable prefix for many models; the bench records a run with it too."""
KNOBS = ("LR", "HIDDEN", "CONTEXT", "EMBED", "BATCH", "ACT", "INIT_SCALE")


def synthetic_state(n: int) -> RunState:
    """A run with three baselines and `n` decided experiments, every tenth one kept."""
    state, seq = RunState(), 0

    def emit(kind: str, data: dict[str, Any]) -> None:
        nonlocal seq
        state.apply(Event(seq, float(seq), kind, data))
        seq += 1

    emit("run_started", {"run_id": "bench", "branch": "orgloop/bench", "base": "0" * 40})
    metric = 1.2
    for i in range(1, n + 4):
        baseline = i <= 3
        description = "baseline" if baseline else f"{KNOBS[i % len(KNOBS)]} {i} -> {i + 1}"
        emit(
            "experiment_started",
            {
                "id": f"e{i}",
                "turn": f"t{i}",
                "message": f"m{i}",
                "baseline": baseline,
                "description": description,
            },
        )
        value = 1.2 + 0.001 * (i % 3) if baseline else metric + 0.01 * ((i * 7) % 5 - 1)
        emit(
            "experiment_finished",
            {"id": f"e{i}", "status": "ok", "metric": value, "commit": f"{i:040x}"},
        )
        if not baseline:
            keep = i % 10 == 0 and value < metric
            metric = value if keep else metric
            emit(
                "decision",
                {
                    "experiment": f"e{i}",
                    "verdict": "keep" if keep else "discard",
                    "reason": "bench",
                    "commit": f"{i:040x}" if keep else "",
                },
            )
    return state


def editable_files(org: Org, role: Role) -> dict[str, str]:
    """What the engine gives a role that edits the experiment (Toolbox.incumbent_files): the
    editable files, here as they are on disk, since the bench has no run."""
    if "edit_file" not in tool_names(role) or "window" in role.receives:
        return {}  # the meta-agent edits the org's Markdown, not the experiment
    editable, protected = org.program.experiment.editable, org.program.experiment.protected
    paths = sorted(p.relative_to(org.root).as_posix() for p in org.root.rglob("*") if p.is_file())
    return {
        p: (org.root / p).read_text(encoding="utf-8")
        for p in paths
        if matches(p, editable) and not matches(p, protected)
    }


def first_request(org: Org, role: str, experiments: int) -> dict[str, Any]:
    state = synthetic_state(experiments)
    ledger = summarize(state, org)
    r = org.roles[role]
    files = editable_files(org, r)
    msg = Message("m1", "pi", role, "direction", "Change LR: it helped last time.", {}, "t1")
    ctx = TurnContext(
        org=org,
        role=r,
        message=msg,
        render=lambda: render_prompt(org, r, ledger, ""),
        ledger=ledger,
        state=state,
        box=_Box(RecordingRun(org, state), r, "t1", files=files),
        seed="bench",
    )
    return build_request(ctx, org.program.model, 4096)


class _Box(Toolbox):
    """A toolbox whose editable files are the org folder's, as a brain would see them."""

    def __init__(self, run: RecordingRun, role: Role, turn: str, *, files: dict[str, str]) -> None:
        super().__init__(run, role, turn)
        self._files = files

    def incumbent_files(self) -> dict[str, str]:
        return self._files

    def snapshot_files(self) -> dict[str, str]:
        return {}

    def _list_incumbent(self) -> list[str]:
        root = self.run.org.root
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def cache_share(path: Path) -> tuple[float, int, dict[str, int]]:
    totals = {"input": 0, "cache_read": 0, "cache_write": 0}
    calls = 0
    for line in path.read_text().splitlines():
        usage = json.loads(line)["response"].get("usage", {})
        totals["input"] += usage.get("input_tokens", 0)
        totals["cache_read"] += usage.get("cache_read_input_tokens", 0)
        totals["cache_write"] += usage.get("cache_creation_input_tokens", 0)
        calls += 1
    return totals["cache_read"] / max(1, sum(totals.values())), calls, totals


def record_run(experiments: int, cassette: Path, min_cache_tokens: int = 0) -> None:
    """The default org against the test server's scripted roles, recorded to `cassette`; the
    server caches no prefix shorter than `min_cache_tokens`."""
    sys.path.insert(0, str(ROOT / "tests" / "runtime"))
    from orgloop.runtime.brains.anthropic_brain import AnthropicBrain
    from orgloop.runtime.engine import Engine
    from orgloop.runtime.testing import InstantExecutor

    from _messages_server import MessagesServer, small_org, tinylm_model, toy_score

    server = MessagesServer(tinylm_model, min_cache_tokens=min_cache_tokens)
    with tempfile.TemporaryDirectory() as tmp, server as srv:
        org = small_org(Path(tmp) / "org", budget={"experiments": experiments}, meta={"every": 4})
        brain = AnthropicBrain(api_key="bench", base_url=srv.url, record=cassette)
        engine = Engine.start(org, brain=brain, executor=InstantExecutor(toy_score))
        asyncio.run(engine.run())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("cassettes", nargs="*", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        org = load_org(init_org(Path(tmp) / "org"))
        print("prompt tokens of a turn's first call (JSON chars / 4), by experiments in the ledger")
        print(f"{'role':10} {'10':>8} {'100':>8} {'1,000':>8}")
        for role in ("pi", "engineer", "critic", "reviewer", "meta"):
            sizes = [estimate_tokens(first_request(org, role, n)) for n in (10, 100, 1000)]
            print(f"{role:10} " + " ".join(f"{s:8,}" for s in sizes))
        print()
        paths = args.cassettes or [CASSETTE]
        if not args.cassettes and args.experiments:
            for least in (0, MIN_CACHE_TOKENS):
                name = f"default-org-{args.experiments}-experiments"
                fresh = Path(tmp) / (f"{name}-min-{least}.jsonl" if least else f"{name}.jsonl")
                record_run(args.experiments, fresh, least)
                paths.append(fresh)
        print("share of input tokens read from the cache (goal above 80 %)")
        for path in paths:
            share, calls, t = cache_share(path)
            print(
                f"{path.name}: {share:.1%} over {calls} calls (read {t['cache_read']:,}, "
                f"written {t['cache_write']:,}, uncached {t['input']:,})"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
