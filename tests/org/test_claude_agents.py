"""Claude Code subagent files (`.claude/agents/*.md`, exactly as Claude Code writes them) load as
roles: their keys mean what they mean there, Claude-only keys are kept quietly, and only keys
nobody knows are warned about."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orgloop.org import Finding, lint, load_org, parse_org, tool_names

FIXTURE = Path(__file__).parent / "fixtures" / "claude_agents"


@pytest.fixture
def claude_org(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "claude_agents"))


def _findings_for(findings: list[Finding], name: str) -> list[Finding]:
    return [f for f in findings if Path(f.path).name == name]


def test_claude_agents_load_as_roles(claude_org: Path) -> None:
    org = load_org(claude_org)
    assert list(org.roles) == ["code-reviewer", "debugger"]
    reviewer = org.role("code-reviewer")
    assert reviewer.path == claude_org / ".claude" / "agents" / "code-reviewer.md"
    assert reviewer.description.startswith("Expert code review specialist.")
    assert reviewer.tools == ("Read", "Grep", "Glob", "Bash")
    assert reviewer.model == "sonnet"
    assert reviewer.receives == () and reviewer.sends == ()
    assert reviewer.kind == "agent"
    assert "You are a senior code reviewer" in reviewer.body


def test_claude_tool_names_map_to_orgloop_tools(claude_org: Path) -> None:
    org = load_org(claude_org)
    assert tool_names(org.role("code-reviewer")) == {"read_file", "list_files", "shell"}
    assert tool_names(org.role("debugger")) == {"read_file", "edit_file", "list_files", "shell"}


def test_claude_only_tool_is_a_warning_at_the_tools_line(claude_org: Path) -> None:
    findings = _findings_for(lint(load_org(claude_org)), "code-reviewer.md")
    grep = [f for f in findings if f.code == "tool"]
    assert [(f.line, f.severity, f.message) for f in grep] == [
        (4, "warning", "Claude Code tool 'Grep' has no orgloop equivalent")
    ]


def test_claude_keys_are_kept_without_a_warning(claude_org: Path) -> None:
    org, findings = parse_org(claude_org)
    assert org is not None
    assert org.role("code-reviewer").extra == {"color": "blue"}
    assert org.role("debugger").extra == {"color": "red"}
    assert not [f for f in findings if f.code == "unknown-key"]


def test_truly_unknown_key_is_kept_and_warned_about(claude_org: Path) -> None:
    path = claude_org / ".claude" / "agents" / "debugger.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("color: red\n", "color: red\nmood: calm\n"),
        encoding="utf-8",
    )
    org, findings = parse_org(claude_org)
    assert org is not None
    assert org.role("debugger").extra == {"color": "red", "mood": "calm"}
    assert [(Path(f.path).name, f.line, f.severity, f.message) for f in findings] == [
        ("debugger.md", 7, "warning", "unknown key `mood` is kept but nothing reads it")
    ]


def test_roles_folder_wins_over_claude_agents(claude_org: Path) -> None:
    (claude_org / "roles").mkdir()
    shutil.copyfile(
        claude_org / ".claude" / "agents" / "debugger.md", claude_org / "roles" / "debugger.md"
    )
    assert list(load_org(claude_org).roles) == ["debugger"]
