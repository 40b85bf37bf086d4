"""Resolving RUN and ORG arguments: what each command is pointed at, and what it says otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgloop.runtime.find import FindError, find_org, find_run, runs_of


def _run(org: Path, run_id: str) -> Path:
    run = org / ".orgloop" / "runs" / run_id
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text("")
    return run


def _org(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "ORG.md").write_text("---\nname: x\n---\n")
    return path


def test_an_org_means_its_newest_run(tmp_path: Path) -> None:
    org = _org(tmp_path / "org")
    _run(org, "20260101-000000-aaaa")
    newest = _run(org, "20260102-000000-bbbb")
    assert find_run(org) == newest
    assert runs_of(org)[-1] == newest


def test_no_argument_finds_the_builtin_runs_folder(tmp_path: Path) -> None:
    older = _run(_org(tmp_path / "orgloop-tinylm"), "20260101-000000-aaaa")
    newer = _run(_org(tmp_path / "orgloop-tinylm-2"), "20260105-000000-cccc")
    assert find_run(None, cwd=tmp_path) == newer
    assert find_org(None, cwd=tmp_path) == newer.parent.parent.parent
    assert find_run(older.parent.parent.parent) == older


def test_a_run_folder_is_itself_and_names_its_org(tmp_path: Path) -> None:
    org = _org(tmp_path / "org")
    run = _run(org, "20260101-000000-aaaa")
    assert find_run(run) == run
    assert find_org(run) == org


@pytest.mark.parametrize("what", ["missing", "file", "empty"])
def test_a_wrong_path_says_what_it_is(tmp_path: Path, what: str) -> None:
    path = tmp_path / "x"
    if what == "file":
        path.write_text("hi")
    elif what == "empty":
        path.mkdir()
    with pytest.raises(FindError) as run_err:
        find_run(path)
    with pytest.raises(FindError) as org_err:
        find_org(path)
    words = {"missing": "no such file", "file": "a file", "empty": "neither a run"}[what]
    assert words in str(run_err.value) and words in str(org_err.value)


def test_an_org_without_runs_says_how_to_start_one(tmp_path: Path) -> None:
    org = _org(tmp_path / "org")
    with pytest.raises(FindError, match="no runs yet"):
        find_run(org)
    with pytest.raises(FindError, match="not an org folder"):
        find_org(None, cwd=tmp_path)
