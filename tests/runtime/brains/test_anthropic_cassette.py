"""The committed cassette: the default org with real (tiny) training, replayed with no network.

tests/data/cassettes/default-org.jsonl is what `AnthropicBrain(record=...)` wrote while the default
org (made small by `small_org`: two experiments, one baseline run, TINYLM_BUDGET=0.001) ran against
the local Messages API server and its scripted roles. default-org.results.tsv is the results.tsv
that run produced. Replaying the cassette trains the same models again and must reach the same
results, with every recorded turn used.

Re-record both (after changing the brain's loop, the roles or the task) with:

    python tests/runtime/brains/test_anthropic_cassette.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest

from orgloop.runtime.brains.anthropic_brain import AnthropicBrain
from orgloop.runtime.brains.replay import ReplayBrain
from orgloop.runtime.engine import Engine

from _messages_server import MessagesServer, small_org, tinylm_model

CASSETTES = Path(__file__).parents[2] / "data" / "cassettes"
CASSETTE = CASSETTES / "default-org.jsonl"
RESULTS = CASSETTES / "default-org.results.tsv"
TINY = "0.001"


def rows(tsv: str) -> list[list[str]]:
    """results.tsv without its commit column: commit ids depend on when the org was made."""
    return [line.split("\t")[1:] for line in tsv.splitlines()]


@pytest.mark.slow
async def test_committed_cassette_replays_to_the_recorded_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYLM_BUDGET", TINY)
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    brain = ReplayBrain(CASSETTE)
    engine = Engine.start(small_org(tmp_path / "org"), brain=brain, durable=False)
    state = await engine.run()
    assert state.finished and not state.paused
    assert brain.remaining == 0
    got, want = rows((engine.run_dir / "results.tsv").read_text()), rows(RESULTS.read_text())
    assert [r[1:] for r in got] == [r[1:] for r in want]  # memory, status, description
    assert [float(r[0]) for r in got[1:]] == pytest.approx([float(r[0]) for r in want[1:]], 1e-4)


def record() -> None:
    """Run the default org live against the local server and keep its cassette and results."""
    os.environ["TINYLM_BUDGET"] = TINY
    CASSETTE.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp, MessagesServer(tinylm_model) as srv:
        brain = AnthropicBrain(api_key="sk-ant-local", base_url=srv.url, record=CASSETTE)
        engine = Engine.start(small_org(Path(tmp) / "org"), brain=brain)
        state = asyncio.run(engine.run())
        RESULTS.write_text((engine.run_dir / "results.tsv").read_text())
    print(f"{state.llm_calls} calls, {state.tokens} tokens: {CASSETTE}", file=sys.stderr)


if __name__ == "__main__":
    record()
