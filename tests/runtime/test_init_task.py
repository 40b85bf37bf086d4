"""`orgloop init --task SCRIPT`: an org for a script of the user's own, beside it or elsewhere,
with the metric it prints and the engineer searching its own constants; alone or with --from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orgloop.org import check, load_org
from orgloop.runtime._task_org import choose_metric, default_goal, printed_metrics
from orgloop.runtime.cli import main
from orgloop.runtime.core.git import Git
from orgloop.runtime.scaffold import ScaffoldError, Task, init_from_agents, init_from_task

SCRIPT = """import random
LR = 0.1
WIDTH = 16
ACT = "relu"
if ACT == "gelu":
    pass
loss = random.random()
print(f"train_loss: {loss:.4f}")
print(f"val_loss: {loss:.4f}")
"""
CORPUS = Path(__file__).parents[1] / "org" / "claude_corpus"


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "task" / "train.py"
    path.parent.mkdir()
    path.write_text(SCRIPT)
    return path


def test_the_metric_is_the_one_the_script_prints() -> None:
    assert printed_metrics(SCRIPT) == ["train_loss", "val_loss"]
    assert choose_metric(SCRIPT, "train.py", None) == "val_loss"  # the validation one
    assert choose_metric('print(f"acc: {a}")\n', "t.py", None) == "acc"
    assert choose_metric(SCRIPT, "train.py", "train_loss") == "train_loss"
    with pytest.raises(ValueError, match=r"found a, b; pass --metric NAME"):
        choose_metric('print(f"a: {x}")\nprint(f"b={y}")\n', "t.py", None)
    with pytest.raises(ValueError, match="found no `print"):
        choose_metric("print(1)\n", "t.py", None)
    assert (default_goal("val_accuracy"), default_goal("val_bpb")) == ("maximize", "minimize")


def test_init_beside_the_script_commits_it_with_the_org(script: Path) -> None:
    made = init_from_task(Task(script))
    assert made.root == script.parent
    org = load_org(made.root)
    assert (org.program.metric.name, org.program.metric.goal) == ("val_loss", "minimize")
    assert org.program.experiment.command == "python train.py"
    assert org.program.experiment.editable == ("train.py",)
    assert org.role("engineer").policy.data["space"] == {
        "LR": {"log": [0.01, 1.0]},
        "WIDTH": {"int": [8, 32]},
        "ACT": {"choice": ["relu", "gelu"]},
    }
    assert check(made.root) == ([], 0)
    git = Git(made.root)
    assert "train.py" in git.run("ls-files").split() and git.run("status", "--porcelain") == ""
    assert script.read_text() == SCRIPT


def test_init_elsewhere_copies_the_script(script: Path, tmp_path: Path) -> None:
    made = init_from_task(Task(script, metric="train_loss", goal="maximize"), tmp_path / "org")
    assert (made.root / "train.py").read_text() == SCRIPT
    assert load_org(made.root).program.metric.goal == "maximize"


def test_init_writes_nothing_over_a_file(script: Path) -> None:
    (script.parent / "ORG.md").write_text("mine\n")
    with pytest.raises(ScaffoldError, match=r"already has ORG\.md; init writes nothing"):
        init_from_task(Task(script))
    assert sorted(p.name for p in script.parent.iterdir()) == ["ORG.md", "train.py"]


def test_a_script_without_settings_or_file_is_refused(script: Path, tmp_path: Path) -> None:
    script.write_text('print(f"val_loss: {0.5}")\n')
    with pytest.raises(ScaffoldError, match="has no module-level settings to search"):
        init_from_task(Task(script))
    with pytest.raises(ScaffoldError, match="is not a file"):
        init_from_task(Task(tmp_path / "nope.py"))


def test_task_and_agents_together(script: Path) -> None:
    agents = script.parent / ".claude" / "agents"
    agents.mkdir(parents=True)
    shutil.copyfile(CORPUS / "code-explorer.md", agents / "code-explorer.md")
    made = init_from_agents(agents, task=Task(script))
    org = load_org(made.root)
    assert org.role("code-explorer").receives == ("result",)
    assert org.program.metric.name == "val_loss"
    assert not [f for f in check(made.root)[0] if f.severity == "error"]


def test_the_cli(script: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--metric", "x"]) == 2
    assert "--metric and --goal go with --task SCRIPT" in capsys.readouterr().err
    assert main(["init", "--task", str(script)]) == 0
    out = capsys.readouterr().out
    assert "metric: val_loss (minimize); the engineer searches LR, WIDTH, ACT" in out
