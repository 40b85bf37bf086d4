"""The toolbox against a Run with no engine behind it (RecordingRun): the role's tools list, paths
confined to the org, refusals as results, and every effect buffered until the turn commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgloop.org import load_org
from orgloop.runtime.core.git import Git
from orgloop.runtime.core.tools import Toolbox
from orgloop.runtime.scaffold import init_org
from orgloop.runtime.testing import RecordingRun


@pytest.fixture
def run(tmp_path: Path) -> RecordingRun:
    root = init_org(tmp_path / "org")
    head = Git(root).head()
    run = RecordingRun(load_org(root))
    run.emit("run_started", {"run_id": "r", "branch": "b", "base": head})
    return run


def box(run: RecordingRun, role: str) -> Toolbox:
    return Toolbox(run, run.org.roles[role], "t1")


def test_a_tool_the_role_lacks_is_refused_and_logged(run: RecordingRun) -> None:
    critic = box(run, "critic")
    result = critic.call("edit_file", {"path": "train.py", "content": "x"})
    assert not result.ok and "may not call edit_file" in result.content
    assert run.events[-1].kind == "tool_call" and run.events[-1].data["ok"] is False


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.py", ".git/config"])
def test_paths_outside_the_org_are_refused(run: RecordingRun, path: str) -> None:
    result = box(run, "engineer").call("read_file", {"path": path})
    assert not result.ok


def test_edits_and_sends_stay_in_the_box_until_the_turn_commits(run: RecordingRun) -> None:
    engineer = box(run, "engineer")
    before = len(run.events)
    text = engineer.call("read_file", {"path": "train.py"}).value
    line = next(li for li in text.splitlines() if li.startswith("LR = "))
    edit = engineer.call(
        "edit_file", {"path": "train.py", "old_string": line, "new_string": "LR = 0.5"}
    )
    sent = engineer.call("send", {"kind": "experiment", "body": "LR -> 0.5"})
    assert edit.ok and sent.ok
    assert engineer.edits["train.py"].count("LR = 0.5") == 1
    assert engineer.sent[0]["data"]["files"]["train.py"] == engineer.edits["train.py"]
    kinds = {e.kind for e in run.events[before:]}
    assert kinds == {"tool_call"}  # no message, no commit: the engine does those
    assert Git(run.org.root).run("status", "--porcelain") == ""


def test_protected_and_non_editable_files_are_refused(run: RecordingRun) -> None:
    engineer = box(run, "engineer")
    for path in ("prepare.py", "ORG.md", "roles/pi.md"):
        result = engineer.call("edit_file", {"path": path, "content": "x"})
        assert not result.ok and "not editable" in result.content


def test_bad_arguments_are_a_result_not_an_exception(run: RecordingRun) -> None:
    result = box(run, "engineer").call("read_file", {"path": "train.py", "bogus": 1})
    assert not result.ok and "bad arguments for read_file" in result.content


def test_sending_a_change_the_run_has_measured_names_it_and_its_score(run: RecordingRun) -> None:
    first = box(run, "engineer")
    text = first.call("read_file", {"path": "train.py"}).value
    changed = text.replace("LR = 0.003", "LR = 0.01")
    first.call("edit_file", {"path": "train.py", "content": changed})
    assert first.call("send", {"kind": "experiment", "body": "LR 0.003 -> 0.01"}).ok
    sent = first.sent[0]
    run.send("engineer", "trainer", "experiment", sent["body"], sent["data"])  # as committed
    mid = next(iter(run.state.pending))
    run.emit(
        "experiment_started",
        {
            "id": "e4",
            "turn": "t2",
            "message": mid,
            "description": sent["body"],
            "base": run.state.incumbent,
        },
    )
    run.emit("experiment_finished", {"id": "e4", "status": "ok", "metric": 1.25})
    again = Toolbox(run, run.org.roles["engineer"], "t3")
    again.call("edit_file", {"path": "train.py", "content": changed})
    result = again.call("send", {"kind": "experiment", "body": "LR 0.003 -> 0.01 again"})
    assert not result.ok and again.sent == []
    assert "repeats e4 (LR 0.003 -> 0.01)" in result.content and "1.250000" in result.content
    other = Toolbox(run, run.org.roles["engineer"], "t4")
    other.call(
        "edit_file", {"path": "train.py", "content": text.replace("LR = 0.003", "LR = 0.02")}
    )
    assert other.call("send", {"kind": "experiment", "body": "LR 0.003 -> 0.02"}).ok


def test_a_keep_during_a_turn_leaves_the_files_it_shows_and_edits_as_they_were(
    run: RecordingRun,
) -> None:
    engineer = box(run, "engineer")
    before = engineer.incumbent_files()["train.py"]  # what its prompt shows
    # the PI keeps another change while the engineer's turn is under way
    kept = before.replace("HIDDEN = 128", "HIDDEN = 256")
    commit = Git(run.org.root).commit_files(run.state.incumbent, {"train.py": kept}, "keep e4")
    run.emit("experiment_started", {"id": "e4", "turn": "t0", "message": "m0", "base": ""})
    run.emit("experiment_finished", {"id": "e4", "status": "ok", "metric": 1.0, "commit": commit})
    run.emit("decision", {"experiment": "e4", "verdict": "keep", "commit": commit})
    assert run.state.incumbent == commit != engineer.base
    assert engineer.call("read_file", {"path": "train.py"}).value == before
    edit = engineer.call(
        "edit_file", {"path": "train.py", "old_string": "LR = 0.003", "new_string": "LR = 0.01"}
    )
    assert edit.ok and "HIDDEN = 128" in engineer.edits["train.py"]
    assert engineer.call("send", {"kind": "experiment", "body": "LR 0.003 -> 0.01"}).ok
    assert engineer.sent[0]["data"]["base"] == engineer.base  # tested where it was written
    # the next turn sees the keep
    assert "HIDDEN = 256" in box(run, "engineer").call("read_file", {"path": "train.py"}).value
