"""What AnthropicBrain puts in a role's system prompt, and in which cached block.

A role that edits the experiment gets its editable files in a block of their own, between the head
(the same for all of its turns) and the ledger (new after every experiment), so it need not read
them each turn: whole as the run last took them (the snapshot), with the changes kept since as a
diff after them, so a keep adds a few lines to the prompt rather than rewriting the files. The
run tests go through the local Messages API server and real git; experiments are instant.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from orgloop.runtime.brains.anthropic_brain import (
    MAX_FILES_CHARS,
    AnthropicBrain,
    files_block,
    kept_block,
    system_blocks,
)
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.core.text import PAGE_CHARS, page
from orgloop.runtime.core.tools import Toolbox
from orgloop.runtime.engine import Engine
from orgloop.runtime.testing import InstantExecutor

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


async def test_the_engineer_sees_the_files_whole_and_what_was_kept_since_as_a_diff(
    tmp_path: Path,
) -> None:
    org = small_org(tmp_path / "org", budget={"experiments": 6})
    original = (org / "train.py").read_text(encoding="utf-8")
    with MessagesServer(tinylm_model) as srv:
        brain = AnthropicBrain(api_key="sk-ant-test", base_url=srv.url, max_retries=0)
        engine = Engine.start(org, brain=brain, executor=InstantExecutor(toy_score), durable=False)
        state = await engine.run()
    assert state.finished and not state.paused
    turns = requests_of(srv, "engineer")
    # its own block, cached apart from the head and from what changes after every experiment
    block = turns[0]["system"][1]
    assert "cache_control" in block and '<file path="train.py">' in block["text"]
    assert "Metric: val_bpb" not in block["text"]
    assert turns[0]["system"][2]["text"].startswith("## The ledger")
    # a few one-line keeps stay under the slack: the file is shown as the run took it, always,
    # so its cached block is never rewritten
    systems = ["".join(b["text"] for b in t["system"]) for t in turns]
    assert {prompt_file(text, "train.py") for text in systems} == {original}
    kept = {engine.workspace.read(c, "train.py") for c in state.kept}
    assert len(kept) >= 2 and original not in kept
    # and the diff after it, applied by git to the file, gives the incumbent of a keep
    diffs = [
        text.split("```diff\n", 1)[1].split("```", 1)[0] for text in systems if "```diff" in text
    ]
    assert diffs and all("## Changes kept since" in s for s in systems if "```diff" in s)
    incumbents = {apply_diff(tmp_path / "apply", original, diff) for diff in diffs}
    assert incumbents <= kept and engine.workspace.read(state.kept[0], "train.py") in incumbents
    # the incumbent's lines were in the prompt, so the engineer never had to read the file
    reads = [
        e.data
        for e in read_events(engine.run_dir / "events.jsonl")
        if e.kind == "tool_call" and e.data["role"] == "engineer" and e.data["tool"] == "read_file"
    ]
    edits = [
        e.data
        for e in read_events(engine.run_dir / "events.jsonl")
        if e.kind == "tool_call" and e.data["role"] == "engineer" and e.data["tool"] == "edit_file"
    ]
    assert reads == [] and edits and all(e["ok"] for e in edits)
    for role in ("pi", "critic", "reviewer", "meta"):
        for body in requests_of(srv, role):
            assert "<file path=" not in "".join(b["text"] for b in body["system"]), role


def apply_diff(where: Path, text: str, diff: str) -> str:
    """`text` as train.py with `diff` applied by `git apply`."""
    where.mkdir(exist_ok=True)
    (where / "train.py").write_text(text, encoding="utf-8")
    (where / "kept.diff").write_text(diff, encoding="utf-8")
    subprocess.run(["git", "apply", "kept.diff"], cwd=where, check=True, capture_output=True)
    return (where / "train.py").read_text(encoding="utf-8")


def test_the_snapshot_moves_only_when_the_kept_diff_outgrows_its_slack(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    engine = Engine.start(root, brain=OfflineBrain(), durable=False)
    base, original = engine.state.incumbent, (root / "train.py").read_text(encoding="utf-8")
    repo, state = engine.repo, engine.state

    def keep(text: str) -> str:
        commit = repo.commit_files(state.incumbent, {"train.py": text}, "kept")
        state.kept.append(commit)
        state.incumbent = commit
        return commit

    def snapshot() -> tuple[str, str]:
        box = Toolbox(engine, engine.org.roles["engineer"], "t")
        shown = box.snapshot_files()
        return shown["train.py"], kept_block(shown, box.incumbent_files())

    small = original.replace("LR = ", "LR = 0.5 * ", 1)
    keep(small)
    shown, diff = snapshot()
    assert shown == original and "+LR = 0.5 * " in diff
    # a change bigger than a quarter of the file: the snapshot moves to it, the diff is gone
    big = small + "\n".join(f"# note {i}: " + "x" * 60 for i in range(40)) + "\n"
    keep(big)
    shown, diff = snapshot()
    assert (shown, diff) == (big, "")
    # and stays there while later keeps are small
    keep(big.replace("# note 0:", "# note zero:"))
    shown, diff = snapshot()
    assert shown == big and "+# note zero:" in diff
    # the same answer from a fresh engine's memo, and the brain shows both
    engine.workspace.snapshots.clear()
    assert snapshot() == (shown, diff)
    engine.close()
    assert base != state.incumbent


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
    engine.close()
    assert list(files) == ["train.py"]  # prepare.py matches *.py but is protected
    assert text == (root / "train.py").read_text(encoding="utf-8")
    # the meta-agent edits the org's Markdown, the critic edits nothing
    assert meta == {} and critic == {}


def numbered(n: int, width: int = 70) -> str:
    return "".join(f"{i:05d} " + "x" * (width - 7) + "\n" for i in range(1, n + 1))


def test_files_block_shows_whole_files_cuts_a_long_one_at_a_line_and_names_the_rest() -> None:
    autoresearch_sized = numbered(400)  # 28,000 characters: whole
    block = files_block({"train.py": autoresearch_sized, "util.py": "u = 1\n"})
    assert autoresearch_sized in block and "u = 1" in block and "[…" not in block
    huge = numbered(1_000)  # 70,000: cut after a whole line, with where to go on
    block = files_block({"a.py": huge, "b.py": numbered(300), "c.py": "c = 1"})
    shown = MAX_FILES_CHARS // 70
    assert f"lines 1-{shown} of 1000 shown; read_file with offset={shown + 1} reads on" in block
    assert '<file path="b.py">' not in block
    assert "Not shown, for want of room (use read_file): b.py, c.py." in block
    assert len(block) < MAX_FILES_CHARS + 1_000
    assert files_block({"small.py": "x = 1"}).count("x = 1") == 1
    assert files_block({}) == ""


def test_pages_count_lines_as_git_does() -> None:
    text = "form\x0cfeed\r\nsecond\nthird"  # one line with a form feed, CRLF, no final newline
    assert page(text, 2) == "second\n" + "third"
    assert (
        page(text, 1, 1)
        == "form\x0cfeed\r\n[… lines 1-1 of 3 shown; read_file with offset=2 reads on]"
    )
    assert page("", 1) == ""


def test_read_file_pages_a_long_file_by_whole_lines(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    (root / "big.txt").write_text(numbered(500))
    Git(root).commit_all("a long file")
    engine = Engine.start(root, brain=OfflineBrain(), durable=False)
    box = Toolbox(engine, engine.org.roles["engineer"], "t1")
    first = box.call("read_file", {"path": "big.txt"})
    per_page = PAGE_CHARS // 70
    assert first.ok and first.value == numbered(500)  # in-process brains get it whole
    assert first.content.startswith("00001 ") and f"{per_page:05d} " in first.content
    assert f"offset={per_page + 1} reads on" in first.content
    assert f"{per_page + 1:05d} " not in first.content
    rest = box.call("read_file", {"path": "big.txt", "offset": per_page + 1, "limit": 3})
    assert rest.content.splitlines()[0].startswith(f"{per_page + 1:05d} ")
    assert len(rest.content.splitlines()) == 3 + 1  # three lines, and where to go on
    last = box.call("read_file", {"path": "big.txt", "offset": 500})
    assert last.content == numbered(500).splitlines(keepends=True)[-1]
    # bad paging arguments come back as errors the model can act on
    for args, says in (
        ({"offset": 0}, "offset must be a line number from 1"),
        ({"offset": 501}, "big.txt has 500 lines; offset 501 is past its end"),
        ({"limit": 0}, "limit must be a number of lines from 1"),
        ({"offset": "3"}, "offset must be a line number from 1"),
    ):
        result = box.call("read_file", {"path": "big.txt", **args})
        assert not result.ok and says in result.content, args
    engine.close()


def test_the_ledger_heading_goes_with_the_ledger_and_files_sit_between() -> None:
    prompt = "You are X.\n\n## The ledger\nSUMMARY\n\n## Notes\nn"
    head, files, tail = (b["text"] for b in system_blocks(prompt, "SUMMARY", "FILES", "RULES"))
    assert (head, files) == ("You are X.RULES", "FILES")
    assert tail == "## The ledger\nSUMMARY\n\n## Notes\nn"
    # no ledger in the prompt: the whole prompt is the head
    assert [b["text"] for b in system_blocks("Only this.", "SUMMARY")] == ["Only this."]


async def test_each_role_is_told_what_it_may_do_and_nothing_it_may_not(tmp_path: Path) -> None:
    org = small_org(tmp_path / "org")
    with MessagesServer(tinylm_model) as srv:
        brain = AnthropicBrain(api_key="sk-ant-test", base_url=srv.url, max_retries=0)
        engine = Engine.start(org, brain=brain, executor=InstantExecutor(toy_score), durable=False)
        await engine.run()
    system = {
        role: "".join(b["text"] for b in requests_of(srv, role)[0]["system"])
        for role in ("pi", "engineer", "critic", "reviewer", "meta")
    }
    tools = {
        role: [t["name"] for t in requests_of(srv, role)[0]["tools"]]
        for role in ("engineer", "meta")
    }
    # the engineer: the experiment timeout, and no reading of files its prompt already shows
    engineer = system["engineer"]
    assert "An experiment is killed after 1m30s (ORG.md's experiment.timeout)" in engineer
    assert "within the experiment timeout (90 seconds, training" in engineer
    assert '<file path="train.py">' in engineer
    assert "edit them from there without reading them first" in engineer
    assert "Read the current" not in engineer
    for role in ("pi", "critic", "reviewer", "meta"):
        assert "experiment.timeout" not in system[role], role
    # the critic may only send `checked`: it is not told to ask anyone for anything
    assert "You may send: `checked` to reviewer (once a turn)." in system["critic"]
    assert "ask for a rerun" not in system["critic"]
    # the meta-agent: the paths it may edit, and a tool that lists the org's files
    assert "## Files you may edit\n\n`roles/critic.md`, `roles/engineer.md`" in system["meta"]
    assert "list_files" in tools["meta"] and "`list_files` shows every file" in system["meta"]
    listed = Toolbox(engine, engine.org.roles["meta"], "t9").call("list_files", {})
    assert listed.ok and "roles/engineer.md" in listed.content.splitlines()
