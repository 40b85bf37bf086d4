"""Claude Code subagent files (`.claude/agents/*.md`) load as Claude Code reads them.

The agent files are tests/org/claude_corpus/*.md, one per case: omitted `tools` (every tool),
`tools: []`, disallowedTools, permission modes, MCP tools, newer Claude Code tools, the
parenthesised forms, every documented key, and bodies full of `{{ }}` that are not templates.
Each test lays them (or a few of them) into a valid org's `.claude/agents/`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import (
    Finding,
    OrgError,
    check,
    lint,
    load_org,
    parse_org,
    render_prompt,
    sample_ledger,
    tool_names,
)

CORPUS = Path(__file__).parent / "claude_corpus"
FIXTURE = Path(__file__).parent / "fixtures" / "claude_agents"
LIBRARY = ["critic", "engineer", "meta", "pi", "reviewer", "trainer"]
EVERY = ["decide", "edit_file", "list_files", "note", "read_file", "send"]


@pytest.fixture
def with_agents(make_org: Callable[[str | None], Path]) -> Callable[..., Path]:
    """`with_agents(*names)`: a valid org whose .claude/agents/ holds those corpus files."""

    def make(*names: str) -> Path:
        root = make_org(None)
        agents = root / ".claude" / "agents"
        agents.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(CORPUS / f"{name}.md", agents / f"{name}.md")
        return root

    return make


def findings_for(
    findings: list[Finding], name: str, code: str | None = None
) -> list[tuple[int, str, str]]:
    """(line, severity, message) of the findings in file `name` (with `code`, only those)."""
    return [
        (f.line, f.severity, f.message)
        for f in findings
        if Path(f.path).name == name and code in (None, f.code)
    ]


# ---- tools


TOOLS = {
    "general-helper": EVERY,  # no `tools`: all of them
    "skill-keys": EVERY,
    "code-explorer": ["list_files", "read_file", "send"],
    "refactorer": ["edit_file", "read_file", "send"],
    "pure-advisor": ["send"],  # `tools: []`; a subagent's answer still goes back
    "safe-reviewer": ["decide", "list_files", "note", "read_file", "send"],  # all but Write, Edit
    "secrets-guard": ["list_files", "read_file", "send"],  # Edit(./secrets/**) denies edit_file
    "every-key": ["list_files", "read_file", "send"],  # disallows Write
    "planner": ["list_files", "read_file", "send"],  # permissionMode: plan
    "fast-fixer": ["edit_file", "read_file", "send"],  # acceptEdits changes nothing
    "docs-researcher": ["read_file", "send"],
    "github-triager": ["read_file", "send"],
    "task-manager": ["read_file", "send"],
    "notebook-analyst": ["edit_file", "list_files", "read_file", "send"],
    "orchestrator": ["read_file", "send"],
    "git-historian": ["read_file", "send"],
    "scoped-reader": ["list_files", "read_file", "send"],
    "lowercase-tools": ["edit_file", "list_files", "read_file", "send"],
    "spaced-commas": ["edit_file", "list_files", "read_file", "send"],
    "orgloop-native": ["note", "read_file", "send"],
}


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_the_tools_a_claude_agent_gets(with_agents: Callable[..., Path], name: str) -> None:
    org = load_org(with_agents(name))
    assert sorted(tool_names(org.role(name))) == TOOLS[name]


def test_omitted_tools_mean_every_tool_and_check_says_so(
    with_agents: Callable[..., Path],
) -> None:
    org = load_org(with_agents("general-helper"))
    assert org.role("general-helper").tools_inherited
    assert findings_for(lint(org), "general-helper.md")[0] == (
        2,
        "warning",
        "no `tools`: as in Claude Code, the role gets every tool orgloop offers "
        "(decide, edit_file, list_files, note, read_file, send)",
    )


def test_a_native_role_without_tools_also_gets_every_tool(
    make_org: Callable[[str | None], Path],
) -> None:
    root = make_org(None)
    critic = root / "roles" / "critic.md"
    critic.write_text(critic.read_text().replace("tools: [read_file, send, note]\n", ""))
    org = load_org(root)
    assert sorted(tool_names(org.role("critic"))) == EVERY
    assert sorted(tool_names(org.role("trainer"))) == []  # a sandbox role has no brain


def test_tool_warnings_name_what_the_role_lacks_and_are_never_errors(
    with_agents: Callable[..., Path],
) -> None:
    names = ["docs-researcher", "github-triager", "task-manager", "orchestrator", "git-historian"]
    findings = lint(load_org(with_agents(*names)))
    assert findings_for(findings, "docs-researcher.md", "tool") == [
        (
            4,
            "warning",
            "Claude Code tool 'Grep' has no orgloop equivalent: the role will lack content "
            "search (read_file and list_files remain)",
        ),
        (
            4,
            "warning",
            "MCP tool 'mcp__context7__resolve-library-id' has no orgloop equivalent: the role "
            "will lack the MCP server 'context7' (orgloop connects none)",
        ),
        (
            4,
            "warning",
            "MCP tool 'mcp__context7__get-library-docs' has no orgloop equivalent: the role "
            "will lack the MCP server 'context7' (orgloop connects none)",
        ),
    ]
    assert [m for _, _, m in findings_for(findings, "github-triager.md", "tool")] == [
        "MCP tool 'mcp__github__*' has no orgloop equivalent: the role will lack the MCP "
        "server 'github' (orgloop connects none)"
    ]
    lacked = [m.split("'")[1] for _, _, m in findings_for(findings, "task-manager.md", "tool")]
    assert lacked == [
        "TaskCreate",
        "TaskList",
        "TaskUpdate",
        "TaskOutput",
        "BashOutput",
        "KillShell",
        "SendMessage",
        "AskUserQuestion",
        "ExitPlanMode",
    ]
    orchestrator = [m for _, _, m in findings_for(findings, "orchestrator.md", "tool")]
    assert orchestrator == [
        f"Claude Code tool {t!r} has no orgloop equivalent: the role will lack subagents "
        "(in an org, roles reach each other by messages: `sends`)"
        for t in ("Task(code-explorer)", "Agent(refactorer, safe-reviewer)")
    ]
    assert all(
        "shell commands" in m for _, _, m in findings_for(findings, "git-historian.md", "tool")
    )
    assert not [f for f in findings if f.severity == "error"]


def test_a_specifier_orgloop_cannot_enforce_is_a_warning(
    with_agents: Callable[..., Path],
) -> None:
    findings = lint(load_org(with_agents("scoped-reader", "secrets-guard", "every-key")))
    assert findings_for(findings, "scoped-reader.md", "tool") == [
        (
            4,
            "warning",
            "'Read(src/**)': orgloop cannot narrow read_file to (src/**); the role gets "
            "read_file within orgloop's own limits",
        )
    ]
    assert findings_for(findings, "secrets-guard.md", "tool") == [
        (
            5,
            "warning",
            "'Edit(./secrets/**)': orgloop cannot deny only part of edit_file; the role does "
            "not get edit_file at all",
        )
    ]
    assert findings_for(findings, "every-key.md", "tool") == [
        (
            5,
            "warning",
            "denying 'Write' takes edit_file away, and with it 'Edit': orgloop's edit_file does "
            "what they all do",
        )
    ]


def test_unknown_tools_warn_in_a_claude_agent_and_fail_in_an_orgloop_role(
    with_agents: Callable[..., Path],
) -> None:
    root = with_agents("future-tools", "made-up-tools")
    findings = lint(load_org(root))
    assert [
        (s, m.split(" is ")[0]) for _, s, m in findings_for(findings, "made-up-tools.md", "tool")
    ] == [
        ("warning", "tool 'filesystem'"),
        ("warning", "tool 'git_tools'"),
    ]
    assert len(findings_for(findings, "future-tools.md", "tool")) == 2
    critic = root / "roles" / "critic.md"
    critic.write_text(critic.read_text().replace("read_file, send", "read_fiel, send, Foo"))
    found = [f for f in lint(load_org(root)) if Path(f.path).name == "critic.md"]
    assert [(f.severity, f.message, f.hint.split("?")[0]) for f in found] == [
        ("error", "unknown tool 'read_fiel'", "did you mean 'read_file'"),
        (
            "warning",
            "tool 'Foo' is neither an orgloop tool nor a Claude Code tool orgloop knows: the "
            "role will lack it",
            "orgloop's tools are: decide, edit_file, list_files, note, read_file, send, shell",
        ),
    ]


# ---- keys


def test_every_documented_claude_key_is_known_and_kept(
    with_agents: Callable[..., Path],
) -> None:
    org, findings = parse_org(with_agents("every-key", "worktree-tester"))
    assert org is not None
    assert not [f for f in findings if f.code == "unknown-key"]
    assert sorted(org.role("every-key").extra) == [
        "background",
        "color",
        "hooks",
        "initialPrompt",
        "isolation",
        "maxTurns",
        "mcpServers",
        "memory",
        "skills",
    ]
    assert org.role("every-key").settings.effort == "high"  # read: the LLM brain sends it
    assert org.role("worktree-tester").extra == {"isolation": "worktree", "background": True}


def test_keys_nobody_knows_are_kept_and_warned_about(with_agents: Callable[..., Path]) -> None:
    org, findings = parse_org(with_agents("skill-keys"))
    assert org is not None
    assert org.role("skill-keys").extra == {
        "allowed-tools": "Read, Grep",
        "argument-hint": "[path]",
    }
    assert [(f.line, f.code) for f in findings] == [(4, "unknown-key"), (5, "unknown-key")]


def test_permission_modes(with_agents: Callable[..., Path]) -> None:
    org, findings = parse_org(with_agents("planner", "fast-fixer", "odd-mode"))
    assert org is not None
    assert org.role("planner").permission_mode == "plan"
    assert [(Path(f.path).name, f.line, f.severity, f.code) for f in findings] == [
        ("odd-mode.md", 5, "warning", "permission-mode")
    ]


def test_files_as_editors_write_them(with_agents: Callable[..., Path]) -> None:
    org = load_org(with_agents("windows-agent", "bom-agent", "nameless", "long-description"))
    assert org.role("windows-agent").tools == ("Read", "Edit")
    assert org.role("bom-agent").description.startswith("Saved by an editor")
    assert org.role("nameless").path.name == "nameless.md"  # no `name`: the file's
    assert "<example>" in org.role("long-description").description


# ---- bodies


@pytest.mark.parametrize("name", ["ci-engineer", "vue-expert", "prompt-template", "django-helper"])
def test_a_plain_agent_body_is_its_prompt_word_for_word(
    with_agents: Callable[..., Path], name: str
) -> None:
    org = load_org(with_agents(name))
    role = org.role(name)
    assert not role.template
    assert not [f for f in lint(org) if f.code == "template"]
    assert render_prompt(org, role, sample_ledger()) == role.body
    assert "{{" in role.body


def test_templating_is_opt_in_both_ways(with_agents: Callable[..., Path]) -> None:
    org = load_org(with_agents("opted-in", "orgloop-native"))
    prompt = render_prompt(org, org.role("opted-in"), sample_ledger())
    assert prompt.startswith("\nYou advise the tinylm research org; its metric is val_bpb.")
    native = org.role("orgloop-native")
    assert native.native and not native.template
    assert "{{ like these }} and {% these %}" in render_prompt(org, native, sample_ledger())


def test_an_orgloop_role_body_is_a_template(make_org: Callable[[str | None], Path]) -> None:
    org = load_org(make_org(None))
    assert all(role.template for role in org.roles.values())
    assert "{{" not in render_prompt(org, org.role("pi"), sample_ledger())


def test_a_template_that_fails_at_run_time_names_its_file_and_line(
    make_org: Callable[[str | None], Path],
) -> None:
    root = make_org(None)
    critic = root / "roles" / "critic.md"
    text = critic.read_text()
    critic.write_text(text.replace("## Your duty", "Rate: {{ 1 / (ledger.experiments - 3) }}\n"))
    org = load_org(root)
    assert not [f for f in lint(org) if f.severity == "error"]  # an empty ledger renders
    line = 1 + text.splitlines().index("## Your duty")
    with pytest.raises(OrgError) as e:
        render_prompt(org, org.role("critic"), {**sample_ledger(), "experiments": 3})
    assert str(e.value).startswith(f"{critic}:{line}: error: template error: ZeroDivisionError")


# ---- where roles come from


def test_roles_and_claude_agents_are_both_read(with_agents: Callable[..., Path]) -> None:
    org = load_org(with_agents("code-explorer", "refactorer"))
    assert list(org.roles) == [*LIBRARY, "code-explorer", "refactorer"]
    assert org.role("code-explorer").path.parent == org.root / ".claude" / "agents"


def test_the_library_is_read_beside_claude_agents(tmp_path: Path) -> None:
    root = Path(shutil.copytree(FIXTURE, tmp_path / "claude_agents"))
    assert list(load_org(root).roles) == [*LIBRARY, "code-reviewer", "debugger"]


def test_a_name_in_both_folders_is_an_error_naming_both_files(
    with_agents: Callable[..., Path],
) -> None:
    root = with_agents("refactorer")
    shutil.copyfile(CORPUS / "refactorer.md", root / "roles" / "refactorer.md")
    findings, code = check(root)
    assert code == 1
    (clash,) = [f for f in findings if f.code == "duplicate-role"]
    assert clash.path == str(root / ".claude" / "agents" / "refactorer.md")
    assert clash.message == (
        f"role name 'refactorer' is already used by {root / 'roles' / 'refactorer.md'}"
    )


def test_agents_without_an_org_are_explained(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".claude" / "agents").mkdir(parents=True)
    for name in ("code-explorer", "refactorer"):
        shutil.copyfile(CORPUS / f"{name}.md", project / ".claude" / "agents" / f"{name}.md")
    (project / ".claude" / "agents" / "broken.md").write_text("---\nname: [\n---\n")
    findings, code = check(project)
    assert code == 2
    first = findings[0]
    assert (first.path, first.line) == (str(project / "ORG.md"), 1)
    assert first.message == (
        "no ORG.md here, but 3 Claude Code agents in .claude/agents/ (code-explorer, "
        "refactorer): an org needs a program (goal, metric, experiment) and a sandbox role "
        "around them"
    )
    assert first.hint == (
        f"make one with `orgloop init --from {project / '.claude' / 'agents'}` "
        "(the agents stay put)"
    )
    assert [(Path(f.path).name, f.code) for f in findings[1:]] == [("broken.md", "yaml")]


# ---- ORG.md's `agents`


def placed(root: Path, block: str) -> Path:
    org_md = root / "ORG.md"
    org_md.write_text(org_md.read_text().replace("---\n# Objective", block + "---\n# Objective"))
    pi = root / "roles" / "pi.md"
    pi.write_text(pi.read_text().replace("question]", "question, advice]"))
    trainer = root / "roles" / "trainer.md"
    trainer.write_text(trainer.read_text().replace("{result: critic}", "{result: [critic, vue]}"))
    return root


def test_org_md_places_an_agent_in_the_graph(with_agents: Callable[..., Path]) -> None:
    root = placed(
        with_agents("vue-expert"),
        "agents:\n  vue-expert: {receives: [result], sends: {advice: pi}}\n",
    )
    trainer = root / "roles" / "trainer.md"
    trainer.write_text(trainer.read_text().replace("vue]", "vue-expert]"))
    org = load_org(root)
    vue = org.role("vue-expert")
    assert vue.receives == ("result",) and vue.receivers("advice") == ("pi",)
    assert not vue.template  # placed, and still a plain Claude Code agent
    assert not [f for f in lint(org) if f.severity == "error"]


def test_a_placement_that_goes_wrong_is_reported_in_org_md(
    with_agents: Callable[..., Path],
) -> None:
    root = placed(
        with_agents("vue-expert", "orgloop-native"),
        "agents:\n"
        "  vue: {receives: [result]}\n"
        "  vue-expert: {receives: [result], sends: {advice: nobody}}\n"
        "  orgloop-native: {receives: [checked]}\n",
    )
    findings, _ = check(root)
    org_md = str(root / "ORG.md")
    assert [(f.line, f.message) for f in findings if f.path == org_md] == [
        (18, "`agents.vue` names no role"),
        (
            20,
            "`agents.orgloop-native` places a role whose file "
            f"{root / '.claude' / 'agents' / 'orgloop-native.md'} declares its own `receives` "
            "or `sends`",
        ),
        (19, "sends `advice` to unknown role 'nobody'"),
    ]
