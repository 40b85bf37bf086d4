"""program.md's simplicity criterion as the reviewer's policy: added lines must be paid for by
improvement, and deleting code for an equal result is a keep — in the rule the engine enforces,
and in a real run of an autoresearch folder whose engineer only edits comments."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from orgloop.org import load_org
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import Event, read_events
from orgloop.runtime.core.rules import worth_keeping
from orgloop.runtime.core.state import ExperimentRecord, RunState
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor

FIXTURE = Path(__file__).parents[2] / "data" / "autoresearch_mini"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "ar", ignore=shutil.ignore_patterns(".*")))


def quiet_state(noise: float) -> RunState:
    state = RunState()
    for i, metric in enumerate((1.0, 1.0 + noise * 2**0.5)):
        state.experiments[f"e{i + 1}"] = ExperimentRecord(
            f"e{i + 1}", "t", "m", True, "baseline", "", status="ok", metric=metric
        )
    return state


def test_added_lines_must_be_paid_for(folder: Path) -> None:
    org = load_org(folder)  # program.md has a simplicity criterion: 0.001 per 20 lines
    state = quiet_state(0.0001)  # margin: max(min_delta 0.0005, 2 sigma) = 0.0005
    assert worth_keeping(org, state, 0.002, added=10, removed=0) == ""
    assert worth_keeping(org, state, 0.002, added=60, removed=20) == (
        "it adds 40 line(s) for 0.002000; the simplicity criterion asks more than 0.002000 "
        "(0.001 per 20 lines)"
    )
    assert "not more than the noise margin 0.000500" in worth_keeping(org, state, 0.0004, 1, 0)


def test_deleting_code_is_kept_at_no_loss_beyond_the_noise(folder: Path) -> None:
    org, state = load_org(folder), quiet_state(0.0001)
    assert worth_keeping(org, state, 0.0, added=0, removed=12) == ""
    assert worth_keeping(org, state, -0.0004, added=1, removed=12) == ""
    assert worth_keeping(org, state, -0.01, added=0, removed=12).startswith("it removes 12")


def test_without_the_criterion_only_the_noise_counts(folder: Path) -> None:
    program = folder / "program.md"
    program.write_text(program.read_text().replace("**Simplicity criterion**", "**Style**"))
    org, state = load_org(folder), quiet_state(0.0001)
    assert "simplicity" not in org.role("reviewer").policy.data
    assert worth_keeping(org, state, 0.002, added=60, removed=0) == ""
    assert worth_keeping(org, state, 0.0, added=0, removed=12) != ""


class CommentEditor:
    """Offline policies, but the engineer deletes a comment line, then adds three: changes that
    leave the score exactly as it was."""

    name = "comments"

    def __init__(self) -> None:
        self.offline = OfflineBrain()
        self.turns = 0

    async def turn(self, ctx: TurnContext) -> None:
        if ctx.role.name != "engineer":
            await self.offline.turn(ctx)
            return
        self.turns += 1
        text = str(ctx.call("read_file", path="train.py").value)
        if self.turns == 1:
            edit = {"old_string": "# Model size\n", "new_string": ""}
        else:
            edit = {"old_string": "EMBED = 16\n", "new_string": "EMBED = 16\n# a\n# b\n# c\n"}
        assert edit["old_string"] in text
        ctx.call("edit_file", path="train.py", **edit)
        ctx.call("send", kind="experiment", body=f"comments {self.turns}")


def test_a_run_keeps_the_simpler_code_and_discards_the_longer(folder: Path) -> None:
    engine = Engine.start(folder, brain=CommentEditor(), executor=InstantExecutor(lambda f: 1.0))
    decisions: list[Event] = []

    def listener(ev: Event) -> None:
        if ev.kind == "decision":
            decisions.append(ev)
            if len(decisions) == 2:
                with open(engine.run_dir / "control.jsonl", "a") as f:
                    f.write(json.dumps({"cmd": "stop"}) + "\n")

    engine.listeners.append(listener)
    asyncio.run(engine.run())
    started = {
        e.data["id"]: e.data["description"]
        for e in read_events(engine.run_dir / "events.jsonl")
        if e.kind == "experiment_started"
    }
    verdicts = {started[e.data["experiment"]]: e.data["verdict"] for e in decisions}
    assert verdicts == {"comments 1": "keep", "comments 2": "discard"}
