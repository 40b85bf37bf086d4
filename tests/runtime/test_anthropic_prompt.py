"""What AnthropicBrain puts in a role's system prompt, and in which cached block.

A role that edits the experiment gets the incumbent's editable files in a block of their own,
between the head (the same for all of its turns) and the ledger (new after every experiment), so
it need not read them each turn and they are written to the cache once per kept experiment. The
run tests go through the local Messages API server and real git; experiments are instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orgloop.runtime.anthropic_brain import (
    MAX_FILES_CHARS,
    MAX_RESULT_CHARS,
    AnthropicBrain,
    files_block,
    system_blocks,
)
from orgloop.runtime.engine import Engine
from orgloop.runtime.events import read_events
from orgloop.runtime.offline import OfflineBrain
from orgloop.runtime.testing import InstantExecutor
from orgloop.runtime.tools import Toolbox

from _messages_server import (
    MessagesServer,
    prompt_file,
    read_turn,
    small_org,
    tinylm_model,
    toy_score,
)


def requests_of(srv: MessagesServer, role: str) -> list[dict[str, Any]]:
    """The first request of each of the role's turns."""
    bodies = [r.body for r in srv.requests]
    return [b for b in bodies if read_turn(b).role == role and read_turn(b).step == 0]


async def test_the_engineer_sees_the_incumbent_files_and_a_keep_changes_them(
    tmp_path: Path,
) -> None:
    org = small_org(tmp_path / "org")
    original = (org / "train.py").read_text(encoding="utf-8")
    with MessagesServer(tinylm_model) as srv:
        brain = AnthropicBrain(api_key="sk-ant-test", base_url=srv.url, max_retries=0)
        engine = Engine.start(org, brain=brain, executor=InstantExecutor(toy_score), durable=False)
        state = await engine.run()
    assert state.finished and not state.paused
    turns = requests_of(srv, "engineer")
    seen = [prompt_file("".join(b["text"] for b in t["system"]), "train.py") for t in turns]
    assert seen[0] == original  # the engineer's first turns run on the baseline
    # its own block, cached apart from the head and from the ledger after it
    block = turns[0]["system"][1]
    assert "cache_control" in block and '<file path="train.py">' in block["text"]
    assert "Metric: val_bpb" not in block["text"]
    assert turns[0]["system"][2]["text"].startswith("## The ledger")
    kept = [
        e.data["commit"]
        for e in read_events(engine.run_dir / "events.jsonl")
        if e.kind == "decision" and e.data["verdict"] == "keep"
    ]
    first_keep = engine.read_at(kept[0], "train.py")
    assert first_keep is not None and first_keep != original
    assert first_keep in seen  # a later turn saw the kept change, not the baseline
    # with the file in its prompt, the engineer never had to read it
    reads = [
        e.data
        for e in read_events(engine.run_dir / "events.jsonl")
        if e.kind == "tool_call" and e.data["role"] == "engineer" and e.data["tool"] == "read_file"
    ]
    assert reads == []
    for role in ("pi", "critic", "reviewer", "meta"):
        for body in requests_of(srv, role):
            assert "<file path=" not in "".join(b["text"] for b in body["system"]), role


def test_incumbent_files_are_the_editable_unprotected_ones_of_roles_that_edit(
    tmp_path: Path,
) -> None:
    root = small_org(tmp_path / "org", experiment={"editable": ["*.py"]})
    engine = Engine.start(root, brain=OfflineBrain(), durable=False)
    roles = engine.org.roles
    files = Toolbox(engine, roles["engineer"], "t1").incumbent_files()
    meta = Toolbox(engine, roles["meta"], "t2").incumbent_files()
    critic = Toolbox(engine, roles["critic"], "t3").incumbent_files()
    text = files["train.py"]
    engine.log.close()
    assert list(files) == ["train.py"]  # prepare.py matches *.py but is protected
    assert text == (root / "train.py").read_text(encoding="utf-8")
    # the meta-agent edits the org's Markdown, the critic edits nothing
    assert meta == {} and critic == {}


def test_files_block_clips_large_files_and_names_those_that_do_not_fit() -> None:
    files = {"a.py": "a" * 30_000, "b.py": "b" * 20_000, "c.py": "c = 1"}
    block = files_block(files)
    assert '<file path="a.py">' in block and "[…18000 more chars]" in block
    assert '<file path="b.py">' not in block
    assert "Not shown, for want of room (use read_file): b.py, c.py." in block
    assert len(block) < MAX_FILES_CHARS + 1_000
    assert files_block({"small.py": "x = 1"}).count("x = 1") == 1
    assert files_block({}) == ""
    assert MAX_RESULT_CHARS < MAX_FILES_CHARS  # one clipped file always fits


def test_the_ledger_heading_goes_with_the_ledger_and_files_sit_between() -> None:
    prompt = "You are X.\n\n## The ledger\nSUMMARY\n\n## Notes\nn"
    head, files, tail = (b["text"] for b in system_blocks(prompt, "SUMMARY", "FILES", "RULES"))
    assert (head, files) == ("You are X.RULES", "FILES")
    assert tail == "## The ledger\nSUMMARY\n\n## Notes\nn"
    # no ledger in the prompt: the whole prompt is the head
    assert [b["text"] for b in system_blocks("Only this.", "SUMMARY")] == ["Only this."]
