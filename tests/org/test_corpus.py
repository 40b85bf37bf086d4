"""Broken orgs through the real `orgloop check`: the finding, its exact file:line, the exit code.

Cases clearer as files live in corpus/<case>/ (laid over a valid org by `make_org`); the binary,
non-UTF-8, 5 MB and directory cases are made here, at test time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from orgloop.runtime.cli import main

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Case:
    case: str
    where: str
    """`file:line` inside the org folder."""
    finding: str
    """`severity: message`, exactly as printed before the hint."""
    exit: int = 1
    hint: str = ""


CORPUS_CASES = [
    Case(
        "malformed_yaml",
        "ORG.md:5",
        "error: frontmatter is not valid YAML: did not find expected ',' or '}' "
        "(while parsing a flow mapping on line 4)",
    ),
    Case("no_frontmatter", "roles/notes.md:1", "error: has no frontmatter"),
    Case("unclosed_frontmatter", "roles/scout.md:1", "error: frontmatter is never closed"),
    Case(
        "wrong_types",
        "ORG.md:8",
        "error: `experiment.parallel` must be a whole number, got the text 'two'",
    ),
    Case(
        "yaml11_on_key",
        "ORG.md:8",
        "error: key `on` is read as the boolean true, not text",
        hint="YAML 1.1 reads yes/no/on/off/true/false as booleans: quote the key",
    ),
    Case(
        "yaml11_version",
        "ORG.md:2",
        "error: `name` must be text, got the number 1.1",
        hint="quote it to keep it as text",
    ),
    Case(
        "unknown_receiver",
        "roles/pi.md:6",
        "error: sends `direction` to unknown role 'enginer'",
        hint="roles are: critic, engineer, meta, pi, reviewer, trainer",
    ),
    Case(
        "unreachable_role",
        "roles/lonely.md:2",
        "warning: role 'lonely' is unreachable from the entry role",
    ),
    Case(
        "cycle",
        "roles/ping.md:6",
        "error: cycle ping -> pong -> ping has no budgeted exit",
        hint="set `max` on one of its sends",
    ),
    Case(
        "duplicate_role",
        "roles/pi2.md:2",
        "error: role name 'pi' is already used by org/roles/pi.md",
    ),
    Case("empty_file", "roles/empty.md:1", "error: is empty"),
    Case("jinja_syntax", "roles/critic.md:10", "error: template syntax error: unexpected '}'"),
    Case(
        "undefined_variable",
        "roles/critic.md:11",
        "error: template uses undefined variable 'ledgr'",
        hint="available: ledger, memory, org, program, role",
    ),
    Case("unknown_tool", "roles/critic.md:4", "error: unknown tool 'browse'"),
    Case("missing_metric", "ORG.md:1", "error: missing `metric`"),
    Case("protected_missing", "ORG.md:9", "error: protected path 'evaluate.py' does not exist"),
    Case(
        "protected_outside",
        "ORG.md:7",
        "error: `experiment.protected` entry '../secrets.txt' leaves the org folder",
    ),
    Case("entry_missing", "ORG.md:3", "error: entry role 'boss' is not a role"),
    Case(
        "replicas_word",
        "roles/engineer.md:5",
        "error: `replicas` must be a whole number or auto, got the text 'many'",
        hint="e.g. `replicas: 2` or `replicas: auto`",
    ),
    Case(
        "replicas_yaml11",
        "roles/engineer.md:5",
        "error: `replicas` must be a whole number or auto, got the boolean true",
        hint="YAML 1.1 reads yes/no/on/off/true/false as booleans",
    ),
    Case("replicas_zero", "roles/engineer.md:5", "error: `replicas` must be at least 1, or auto"),
    Case(
        "replicas_sandbox",
        "roles/trainer.md:5",
        "error: `replicas` is for agent roles: a sandbox role runs one experiment per slot",
        hint="`experiment.parallel` in ORG.md sets the slots",
    ),
    Case(
        "bad_tag",
        "ORG.md:5",
        "error: frontmatter is not valid YAML: cannot read int value: "
        "invalid literal for int() with base 10: '12x'",
    ),
]


def _breaks_binary(org: Path) -> None:
    (org / "roles" / "blob.md").write_bytes(b"---\nname: blob\n---\n\x00\x01\x02\xff")


def _breaks_encoding(org: Path) -> None:
    (org / "roles" / "latin.md").write_bytes(b"---\nname: latin\ndescription: caf\xe9\n---\n")


def _breaks_size(org: Path) -> None:
    line = b"This line pads a role file far past what any org needs.\n"
    text = b"---\nname: huge\n---\n" + line * (5 * 1024 * 1024 // len(line) + 1)
    (org / "roles" / "huge.md").write_bytes(text[: 5 * 1024 * 1024])


def _breaks_directory(org: Path) -> None:
    (org / "roles" / "x.md").mkdir()


def _breaks_program_encoding(org: Path) -> None:
    (org / "ORG.md").write_bytes((org / "ORG.md").read_bytes().replace(b"tinylm", b"tiny\xfflm"))


GENERATED_CASES: list[tuple[Callable[[Path], None], Case]] = [
    (_breaks_binary, Case("binary", "roles/blob.md:1", "error: is binary, not text", 2)),
    (
        _breaks_encoding,
        Case("non_utf8", "roles/latin.md:3", "error: is not UTF-8 (byte 32)", 2),
    ),
    (
        _breaks_size,
        Case(
            "five_megabytes",
            "roles/huge.md:1",
            "error: is 5,242,880 bytes; org files are at most 1,048,576",
            2,
        ),
    ),
    (
        _breaks_directory,
        Case(
            "role_is_a_directory", "roles/x.md:1", "error: is a directory, not a Markdown file", 2
        ),
    ),
    (
        _breaks_program_encoding,
        Case("program_not_utf8", "ORG.md:2", "error: is not UTF-8 (byte 14)", 2),
    ),
]


def _assert_reported(out: str, case: Case) -> None:
    assert "Traceback" not in out
    expected = f"org/{case.where}: {case.finding}"
    lines = [line for line in out.splitlines() if line.startswith(f"org/{case.where}: ")]
    assert any(line.split(" (hint: ")[0] == expected for line in lines), (expected, out)
    if case.hint:
        assert any(case.hint in line for line in lines), (case.hint, out)


def test_every_corpus_folder_has_a_case() -> None:
    assert {c.case for c in CORPUS_CASES} == {p.name for p in CORPUS.iterdir() if p.is_dir()}


@pytest.mark.parametrize("case", CORPUS_CASES, ids=lambda c: c.case)
def test_corpus_case_is_reported_at_its_line(
    case: Case, make_org: Callable[[str | None], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    make_org(case.case)
    code = main(["check", "org"])
    out, err = capsys.readouterr()
    _assert_reported(out, case)
    assert err == ""
    assert code == case.exit


@pytest.mark.parametrize(
    ("breaks", "case"), GENERATED_CASES, ids=[c.case for _, c in GENERATED_CASES]
)
def test_unreadable_file_is_reported_with_exit_2(
    breaks: Callable[[Path], None],
    case: Case,
    make_org: Callable[[str | None], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    breaks(make_org(None))
    code = main(["check", "org"])
    out, _ = capsys.readouterr()
    _assert_reported(out, case)
    assert code == case.exit


def test_missing_folder_exits_2(
    make_org: Callable[[str | None], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "nowhere"])
    out, _ = capsys.readouterr()
    assert code == 2
    assert out.startswith("nowhere:1: error: no such folder")


def test_folder_without_org_md_exits_2(
    make_org: Callable[[str | None], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (make_org(None) / "ORG.md").unlink()
    code = main(["check", "org"])
    out, _ = capsys.readouterr()
    assert code == 2
    assert out.startswith("org/ORG.md:1: error: no ORG.md here")


def test_graph_of_a_broken_org_exits_2_with_findings_on_stderr(
    make_org: Callable[[str | None], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    make_org("malformed_yaml")
    code = main(["graph", "org", "--format", "mermaid"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "org/ORG.md:5: error: frontmatter is not valid YAML" in err
    assert "Traceback" not in err


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orgloop.runtime.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "case",
    [c for c in CORPUS_CASES if c.case == "yaml11_version"],
    ids=lambda c: c.case,
)
def test_corpus_case_through_a_real_process(
    case: Case, make_org: Callable[[str | None], Path], tmp_path: Path
) -> None:
    make_org(case.case)
    proc = _run_cli("check", "org", cwd=tmp_path)
    _assert_reported(proc.stdout, case)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == case.exit


def test_binary_file_through_a_real_process(
    make_org: Callable[[str | None], Path], tmp_path: Path
) -> None:
    _breaks_binary(make_org(None))
    proc = _run_cli("check", "org", cwd=tmp_path)
    _assert_reported(proc.stdout, GENERATED_CASES[0][1])
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2


def test_cycle_report_does_not_depend_on_hash_seed(
    make_org: Callable[[str | None], Path], tmp_path: Path
) -> None:
    """Sets iterate in hash order; the cycle named must come from file order instead."""
    make_org("cycle")
    outputs = set()
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-m", "orgloop.runtime.cli", "check", "org"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1
        outputs.add(proc.stdout)
    assert len(outputs) == 1
    (case,) = [c for c in CORPUS_CASES if c.case == "cycle"]
    _assert_reported(outputs.pop(), case)
