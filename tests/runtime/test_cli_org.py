"""`orgloop check`, `graph`, `init` and `--version` through the real entry point.

Broken orgs are covered case by case in tests/org/test_corpus.py; here: the happy paths, the
exit codes of bad usage, and what `init` leaves on disk.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import orgloop
from orgloop.org import build_graph, builtin_org_dir, load_org
from orgloop.runtime import scaffold
from orgloop.runtime.cli import display_path, main
from orgloop.runtime.core.git import Git

BUILTIN = load_org(builtin_org_dir())


@pytest.fixture
def no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI machine: no user.name/user.email anywhere git would look."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL"):
        monkeypatch.delenv(var, raising=False)


# ---- check


def test_check_builtin_org_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(builtin_org_dir())]) == 0
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(": ok (6 roles, 8 edges)")
    assert out.count("\n") == 1 and err == ""


def test_python_dash_m_orgloop_is_the_cli(tmp_path: Path) -> None:
    # what the GPU example documents for a torch that lives in another environment
    done = subprocess.run(
        [sys.executable, "-m", "orgloop", "check"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(": ok (6 roles, 8 edges)")
    bad = subprocess.run([sys.executable, "-m", "orgloop", "check", "nowhere"], capture_output=True)
    assert bad.returncode == 2


def test_check_without_org_checks_the_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out, _ = capsys.readouterr()
    assert out == f"{display_path(builtin_org_dir())}: ok (6 roles, 8 edges)\n"


def test_check_accepts_the_org_md_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(builtin_org_dir() / "ORG.md")]) == 0


def test_check_through_the_installed_script() -> None:
    script = shutil.which("orgloop", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the orgloop console script is not installed next to this python")
    proc = subprocess.run([script, "check"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ok (6 roles, 8 edges)" in proc.stdout


def test_findings_show_paths_relative_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org = scaffold.init_org(tmp_path / "org")
    (org / "roles" / "notes.md").write_text("no frontmatter\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(org)]) == 1  # an absolute path in, a short path out
    out, _ = capsys.readouterr()
    assert out.splitlines()[0].startswith("org/roles/notes.md:1: error: has no frontmatter")
    assert out.splitlines()[-1] == "org: 1 error, 0 warnings"


def test_display_path_keeps_a_path_that_relative_would_lengthen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "a" / "b.md") == "a/b.md"
    assert display_path("/etc/hosts") == "/etc/hosts"


# ---- graph


@pytest.mark.parametrize("fmt", ["text", "mermaid", "dot"])
def test_graph_prints_every_edge(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--format", fmt]) == 0
    out, _ = capsys.readouterr()
    edges = list(build_graph(BUILTIN).edges(keys=True))
    assert len(edges) == 8
    shown = {
        "text": "{a} --{k}--> {b}",
        "mermaid": "    {a} -->|{k}| {b}",
        "dot": '    "{a}" -> "{b}" [label="{k}"];',
    }[fmt]
    lines = [" ".join(line.split()) for line in out.splitlines()]
    for a, b, k in edges:
        assert " ".join(shown.format(a=a, b=b, k=k).split()) in lines


def test_graph_mermaid_is_a_flowchart(capsys: pytest.CaptureFixture[str]) -> None:
    main(["graph", str(builtin_org_dir()), "--format", "mermaid"])
    out, _ = capsys.readouterr()
    assert out.startswith("flowchart LR\n")
    assert "    trainer[(trainer)]" in out  # the sandbox role has its own shape


def test_graph_rejects_an_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--format", "png"]) == 2
    _, err = capsys.readouterr()
    assert "invalid choice: 'png'" in err


def test_graph_of_a_missing_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["graph", str(tmp_path / "nowhere")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "no such folder" in err and "Traceback" not in err


# ---- init


def test_init_makes_a_checked_org_with_one_commit(
    tmp_path: Path, no_git_identity: None, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "my-org"
    assert main(["init", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == [
        ".git",
        ".gitignore",
        "ORG.md",
        "prepare.py",
        "roles",
        "train.py",
    ]
    assert sorted(p.name for p in (dest / "roles").iterdir()) == [
        f"{name}.md" for name in ("critic", "engineer", "meta", "pi", "reviewer", "trainer")
    ]
    assert (dest / ".gitignore").read_text().splitlines() == [
        ".orgloop/",
        "model.npz",
        "__pycache__/",
    ]
    git = Git(dest)
    assert git.run("rev-list", "--count", "HEAD").strip() == "1"
    assert git.run("log", "-1", "--format=%an").strip() == "orgloop"
    assert git.run("status", "--porcelain") == ""
    capsys.readouterr()
    assert main(["check", str(dest)]) == 0
    assert "ok (6 roles, 8 edges)" in capsys.readouterr().out


def test_init_copies_no_model_or_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_git_identity: None
) -> None:
    template = Path(shutil.copytree(builtin_org_dir(), tmp_path / "template"))
    (template / "model.npz").write_bytes(b"weights")
    (template / "__pycache__").mkdir(exist_ok=True)
    (template / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"bytecode")
    monkeypatch.setattr(scaffold, "builtin_org_dir", lambda: template)
    dest = scaffold.init_org(tmp_path / "org")
    assert not (dest / "model.npz").exists()
    assert not (dest / "__pycache__").exists()
    assert (dest / "train.py").read_bytes() == (template / "train.py").read_bytes()


def test_init_refuses_a_non_empty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["init", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"orgloop: {tmp_path} is not empty; choose a new folder or pass --force\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_init_force_writes_into_a_non_empty_folder(
    tmp_path: Path, no_git_identity: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    assert (tmp_path / ".gitignore").read_text() == "*.log\n.orgloop/\nmodel.npz\n__pycache__/\n"
    tracked = Git(tmp_path).run("ls-files").split()
    assert "notes.txt" not in tracked and "roles/pi.md" in tracked


def test_init_refuses_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    assert main(["init", str(tmp_path / "f"), "--force"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_init_raises_scaffold_error_for_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(scaffold.ScaffoldError, match="is not empty"):
        scaffold.init_org(tmp_path)


# ---- the parser itself


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"orgloop {orgloop.__version__}\n"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("usage: orgloop")


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_module_runs_as_a_script(tmp_path: Path, no_git_identity: None) -> None:
    dest = tmp_path / "org"
    proc = subprocess.run(
        [sys.executable, "-m", "orgloop.runtime.cli", "init", str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (dest / "ORG.md").is_file()
