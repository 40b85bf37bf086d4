"""Every command honest about its argument and about what it did: history, resume, report, batch
and run on paths that are not what they need, lint warnings before a run, banners after
validation, the note when orgloop makes a repository, and errors in words, never errno text."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path

import pytest

from orgloop.org import builtin_org_dir, default_roles_dir
from orgloop.runtime import runner
from orgloop.runtime.batch import set_experiment_budget
from orgloop.runtime.brains.base import TurnContext
from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.cli import main
from orgloop.runtime.core.events import read_events
from orgloop.runtime.core.git import Git
from orgloop.runtime.core.state import fold
from orgloop.runtime.engine import Engine
from orgloop.runtime.progress import Progress
from orgloop.runtime.testing import InstantExecutor

from _orgs import set_frontmatter, small_org, toy_score


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("TINYLM_BUDGET", "0.01")
    monkeypatch.chdir(tmp_path)


class EditsPi(OfflineBrain):
    """The offline brain, with a meta role that always makes one edit to the PI's file."""

    async def turn(self, ctx: TurnContext) -> None:
        if ctx.role.name != "meta":
            return await super().turn(ctx)
        text = ctx.call("read_file", path="roles/pi.md").content
        ctx.call(
            "edit_file", path="roles/pi.md", content=text + "\nBe brief.\n", rationale="brevity"
        )


def instant_run(root: Path, *, finish: bool = True) -> Engine:
    small_org(root, experiments=3, baseline_runs=1)
    set_frontmatter(root / "ORG.md", meta={"every": 2})
    Git(root).commit_all("every 2")
    engine = Engine.start(root, brain=EditsPi(), executor=InstantExecutor(toy_score))
    if finish:
        asyncio.run(engine.run())
    else:
        engine.close()
    return engine


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "Errno" not in out + err
    return code, out, err


# ---- history


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: None, "nothing (no such file or folder)"),
        (lambda p: p.write_text("x"), "a file, not a folder"),
        (lambda p: p.mkdir(), "neither a run"),
    ],
    ids=["missing", "file", "plain-folder"],
)
def test_history_of_a_path_that_is_no_org_exits_2_and_says_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, words: str
) -> None:
    target = tmp_path / "x"
    make(target)  # type: ignore[operator]
    code, out, err = cli(capsys, "history", str(target))
    assert code == 2 and out == ""
    assert words in err and "give an org folder" in err


def test_history_with_no_argument_finds_the_org_that_orgloop_run_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = instant_run(tmp_path / "orgloop-tinylm")
    code, out, _ = cli(capsys, "history")
    assert code == 0
    assert f"run {engine.state.run_id}" in out and "gen 1" in out and "roles/pi.md" in out


def test_history_says_which_run_logs_it_could_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_org(tmp_path / "org")
    broken = root / ".orgloop" / "runs" / "20260101-000000-dead"
    broken.mkdir(parents=True)
    (broken / "events.jsonl").write_text("not json\n")
    code, out, err = cli(capsys, "history", str(root))
    assert code == 0
    assert "no org edits in 1 run" in out and "generation 0" in out
    assert "run 20260101-000000-dead left out" in err and "events.jsonl:1" in err


# ---- resume and report


def test_resume_of_an_org_lists_its_runs_and_resumes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = instant_run(tmp_path / "org", finish=False)
    log = (engine.run_dir / "events.jsonl").read_bytes()
    code, out, err = cli(capsys, "resume", "org")
    assert code == 2 and out == ""
    assert "org is an org folder; resume one of its runs" in err
    assert f"org/.orgloop/runs/{engine.run_dir.name}  (stopped; resume it)" in err
    assert (engine.run_dir / "events.jsonl").read_bytes() == log  # nothing resumed


@pytest.mark.parametrize("command", ["resume", "report"])
def test_resume_and_report_of_a_plain_folder_say_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    (tmp_path / "plain").mkdir()
    code, out, err = cli(capsys, command, "plain")
    assert code == 2 and out == ""
    assert "plain is a folder that is neither a run" in err and "give a run folder" in err


def test_report_of_an_org_reports_its_newest_run_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = instant_run(tmp_path / "org")
    assert not (engine.run_dir / "report.md").exists()
    code, out, err = cli(capsys, "report", "org")
    assert code == 0
    assert "the newest run: " in err and engine.run_dir.name in err
    assert (engine.run_dir / "report.md").is_file() and "report.md" in out


# ---- batch


def test_batch_of_a_missing_org_makes_nothing_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "batch", str(tmp_path / "no-such-org"), "--seeds", "1")
    assert code == 2
    assert "no-such-org:1: error: no such folder" in err
    assert not list(tmp_path.glob("orgloop-batch-*")) and out == ""


def test_batch_findings_name_the_users_file_not_the_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_org(tmp_path / "mine")
    (root / "roles" / "pi.md").write_text("---\nname: pi\nsends: {direction: nobody}\n---\nx\n")
    code, _, err = cli(capsys, "batch", "mine", "--out", "out", "--experiments", "1")
    assert code == 2
    assert "mine/roles/pi.md:3: error: sends `direction` to unknown role 'nobody'" in err
    assert "seed0" not in err and not (tmp_path / "out").exists()


def test_batch_strict_refuses_an_org_with_warnings_before_copying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_org(tmp_path / "mine")
    set_frontmatter(root / "ORG.md", owner="ada")
    code, _, err = cli(capsys, "batch", "mine", "--out", "out", "--strict")
    assert code == 2 and "mine/ORG.md" in err and "--strict makes every warning an error" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "budget",
    [
        "budget: {experiments: 10, wall: 15m}   # the cap\n",
        "budget:\n  # how many\n  experiments: 10  # ten\n  wall: 15m\n",
        "budget:\n  wall: 15m\n",
        "",
    ],
    ids=["flow", "block", "block-without-experiments", "none"],
)
def test_the_experiment_budget_is_set_and_every_comment_kept(tmp_path: Path, budget: str) -> None:
    text = (
        "---\n# the org\nname: x  # its name\n"
        + budget
        + "meta: {every: 4}  # windows\n---\n# Body\n"
    )
    (tmp_path / "ORG.md").write_text(text)
    set_experiment_budget(tmp_path, 2)
    new = (tmp_path / "ORG.md").read_text()
    comments = [line.partition("#")[2] for line in text.splitlines() if "#" in line]
    assert all(c in new for c in comments), new
    from orgloop.org._fields import load_yaml

    data, _ = load_yaml(new.split("---\n")[1], 2)
    assert data["budget"]["experiments"] == 2 and data["meta"] == {"every": 4}
    if "wall" in budget:
        assert data["budget"]["wall"] == "15m"


# ---- run


def test_run_prints_every_warning_and_the_new_repository_before_it_starts(
    tmp_path: Path,
) -> None:
    root = tmp_path / "plain"  # an org that is not a git repository
    root.mkdir()
    for name in ("ORG.md", "prepare.py", "train.py"):
        shutil.copyfile(builtin_org_dir() / name, root / name)
    shutil.copytree(default_roles_dir(), root / "roles", ignore=shutil.ignore_patterns("*.py"))
    set_frontmatter(
        root / "ORG.md",
        owner="ada",
        budget={"experiments": 1},
        experiment={"baseline_runs": 1, "env": ["TINYLM_BUDGET"], "confirm": 0},
    )
    out, err = io.StringIO(), io.StringIO()
    code = runner.run(root, out=out, err=err)
    assert code == 0, out.getvalue() + err.getvalue()
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("plain/ORG.md:") and "unknown key `owner`" in lines[0]
    assert "1 warning; the run goes on" in lines[1]
    assert any("plain is not a git repository: orgloop makes one" in n for n in lines)
    assert out.getvalue().index("offline brain") < out.getvalue().index("orgloop run ")
    assert Git(root).is_repo()


def test_run_strict_refuses_a_warning_and_makes_nothing(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    set_frontmatter(root / "ORG.md", owner="ada")
    code = main(["run", str(root), "--strict"])
    assert code == 2 and not (root / ".orgloop" / "runs").exists()


def test_a_misspelt_budget_stops_the_run_with_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_org(tmp_path / "org")
    text = (root / "ORG.md").read_text().replace("budget:", "budjet:")
    (root / "ORG.md").write_text(text)
    code, _, err = cli(capsys, "run", "org")
    assert code == 2 and "did you mean `budget`?" in err
    assert not (root / ".orgloop" / "runs").exists()


@pytest.mark.parametrize(
    "argv",
    [["run", "--model", "some-model"], ["run", "no-such-org"], ["resume", "no-such-run"]],
    ids=["bad-flag", "bad-org", "bad-run"],
)
def test_no_banner_stands_above_an_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and "offline brain" not in out + err and err.startswith("orgloop: ")


def test_an_os_error_is_said_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("a file")
    code, _, err = cli(capsys, "init", "f/x")
    assert code == 2 and err == "orgloop: f/x: a part of this path is a file, not a folder\n"


# ---- progress lines


def _printed(run_dir: Path, *, resumed_at: int | None = None) -> list[str]:
    events = read_events(run_dir / "events.jsonl")
    out = io.StringIO()
    progress = Progress(file=out)
    if resumed_at is not None:  # what a resumed run's printer is told, then the rest
        progress.know(fold(events[:resumed_at]))
        events = events[resumed_at:]
    for ev in events:
        progress(ev)
    return out.getvalue().splitlines()


def test_the_budget_line_comes_after_the_experiments_it_covers(tmp_path: Path) -> None:
    engine = instant_run(tmp_path / "org")
    lines = _printed(engine.run_dir)
    spent = next(i for i, line in enumerate(lines) if "budget spent: experiments" in line)
    finished = [i for i, line in enumerate(lines) if " ok " in line and "val_bpb" in line]
    assert len(finished) == 1 + 3 and spent > max(finished)


def test_a_resumed_run_names_the_metric_in_every_line(tmp_path: Path) -> None:
    engine = instant_run(tmp_path / "org")
    events = read_events(engine.run_dir / "events.jsonl")
    cut = next(i for i, e in enumerate(events) if e.kind == "experiment_finished") + 1
    lines = _printed(engine.run_dir, resumed_at=cut)
    results = [line for line in lines if " ok " in line or line.startswith("done")]
    assert results and all("val_bpb" in line and " metric " not in line for line in results)
    assert any("INIT_SCALE" in line or "->" in line for line in results)  # descriptions known
