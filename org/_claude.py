"""Claude Code's subagent format as orgloop reads it: the frontmatter keys Claude Code documents,
its tool names and what each one becomes in an org, and the forms a `tools` entry takes (`Read`,
`mcp__context7__resolve-library-id`, `mcp__github__*`, `Bash(git diff:*)`, `Agent(worker)`).

A tool is read as one of: an orgloop tool (`read_file`), a Claude Code tool with an orgloop
equivalent (`Read` -> `read_file`), a Claude Code tool with none (`WebSearch`: the role lacks the
web), an MCP tool (orgloop connects no MCP servers), or a name nobody knows. Only the last, in a
role that uses orgloop's own keys, is an error; everything a plain Claude Code agent may name is a
warning that says what the role will lack, so one agent file never stops an org. `tool_names`
is what a role may call (its `tools`, or all when it has none, less `disallowedTools`, less
edit_file in plan mode); `lint_tools` is what `orgloop check` says about them.

What this module does not do: run tools, talk to MCP servers, or enforce a specifier such as
`Bash(git diff:*)` or `Edit(src/**)`. orgloop's own limits (editable files, the sandbox) apply
instead, and lint says so.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from ._model import Finding, Role

OFFERED = ("read_file", "list_files", "edit_file", "send", "decide", "note")
"""The tools the runtime offers a role, in the order a prompt lists them. A role file without
`tools` gets all of them, as a Claude Code subagent without `tools` inherits every tool."""

TOOLS = frozenset({*OFFERED, "shell"})
"""Every orgloop tool name a role may list. `shell` is named but not offered: roles run no
commands; experiments run only in the sandbox."""

CLAUDE_KEYS = frozenset(
    {
        "disallowedTools",
        "permissionMode",
        "maxTurns",
        "skills",
        "mcpServers",
        "hooks",
        "memory",
        "background",
        "effort",
        "isolation",
        "color",
        "initialPrompt",
    }
)
"""Claude Code's documented subagent keys beyond name, description, tools and model: legal in a
role file and kept in `Role.extra` without a warning."""

PERMISSION_MODES = ("default", "acceptEdits", "auto", "dontAsk", "bypassPermissions", "plan")
"""Claude Code's permission modes. orgloop never prompts, so only `plan` changes anything: the
role is read-only (no edit_file)."""

READ_ONLY_DROPS = frozenset({"edit_file", "shell"})
"""What `permissionMode: plan` takes from a role."""

_SHELL = "shell commands (roles run none in orgloop; experiments run in the sandbox)"
_LACKS = {
    "subagents (in an org, roles reach each other by messages: `sends`)": (
        "Agent",
        "Task",
        "Workflow",
    ),
    "agent teams and messages outside the org's graph (use `sends`)": (
        "SendMessage",
        "TeamCreate",
        "TeamDelete",
        "ListAgents",
    ),
    "a task list (`note` keeps the role's memory)": (
        "TodoWrite",
        "TodoRead",
        "TaskCreate",
        "TaskGet",
        "TaskList",
        "TaskUpdate",
        "TaskStop",
        "TaskOutput",
    ),
    _SHELL: ("Bash", "PowerShell", "Monitor", "BashOutput", "KillShell"),
    "content search (read_file and list_files remain)": ("Grep",),
    "the web (orgloop's roles and experiments run offline)": ("WebFetch", "WebSearch"),
    "skills and slash commands": ("Skill", "SlashCommand"),
    "plan mode (use `permissionMode: plan` for a read-only role)": (
        "EnterPlanMode",
        "ExitPlanMode",
    ),
    "questions to the user (an org runs unattended; it messages `human` only by `sends`)": (
        "AskUserQuestion",
    ),
    "worktrees of its own (each experiment gets one from the sandbox)": (
        "EnterWorktree",
        "ExitWorktree",
    ),
    "scheduling and notifications": (
        "CronCreate",
        "CronDelete",
        "CronList",
        "ScheduleWakeup",
        "RemoteTrigger",
        "PushNotification",
    ),
    "MCP servers (orgloop connects none)": (
        "ToolSearch",
        "WaitForMcpServers",
        "ListMcpResourcesTool",
        "ReadMcpResourceTool",
    ),
    "language-server code intelligence": ("LSP",),
    "publishing pages": ("Artifact", "ShareOnboardingGuide"),
}
LACKS = {tool: what for what, tools in _LACKS.items() for tool in tools}
"""Claude Code tools with no orgloop equivalent -> what a role that names one will lack."""

EQUIVALENT = {
    "Read": "read_file",
    "NotebookRead": "read_file",
    "Edit": "edit_file",
    "MultiEdit": "edit_file",
    "Write": "edit_file",
    "NotebookEdit": "edit_file",
    "Glob": "list_files",
    "LS": "list_files",
}
"""Claude Code tools with an orgloop equivalent."""

_BY_LOWER = {name.lower(): name for name in (*EQUIVALENT, *LACKS)}
_FORM = re.compile(r"^\s*([^()\s]+)\s*(?:\((.*)\))?\s*$", re.S)

Kind = Literal["orgloop", "claude", "mcp", "unknown"]


@dataclass(frozen=True)
class Tool:
    """One entry of a `tools` or `disallowedTools` list, read."""

    written: str
    name: str
    """The tool without its specifier, spelled as Claude Code or orgloop spells it."""
    kind: Kind
    grants: str | None
    """The orgloop tool this entry gives (or, in disallowedTools, takes), if any is offered."""
    specifier: str | None = None
    """What stood in parentheses: `git diff:*` for `Bash(git diff:*)`."""
    lacks: str = ""
    """What a role naming this tool goes without, for the warning; "" when nothing."""
    suggestion: str = ""
    """For an unknown name: the orgloop tool it most resembles."""


def read_tool(written: str) -> Tool:
    """What one `tools` entry means in orgloop."""
    m = _FORM.match(written)
    name, spec = (m.group(1), m.group(2)) if m else (written.strip(), None)
    spec = spec.strip() if spec is not None else None
    if name.startswith("mcp__"):
        server = name.split("__")[1] if name.count("__") >= 1 else ""
        what = f"the MCP server {server!r}" if server and server != "*" else "MCP servers"
        return Tool(written, name, "mcp", None, spec, f"{what} (orgloop connects none)")
    if name in TOOLS:
        grants = name if name in OFFERED else None
        return Tool(written, name, "orgloop", grants, spec, "" if grants else _SHELL)
    canonical = name if name in EQUIVALENT or name in LACKS else _BY_LOWER.get(name.lower())
    if canonical is not None:
        if canonical in EQUIVALENT:
            return Tool(written, canonical, "claude", EQUIVALENT[canonical], spec)
        return Tool(written, canonical, "claude", None, spec, LACKS[canonical])
    close = difflib.get_close_matches(name, sorted(TOOLS), n=1, cutoff=0.7)
    return Tool(written, name, "unknown", None, spec, f"{name!r}", close[0] if close else "")


def looks_like_claude(name: str) -> bool:
    """A name in Claude Code's style (`WebSearch`, `Foo`), not orgloop's (`read_file`): an
    unknown one is most likely a Claude Code tool newer than this table."""
    return name[:1].isupper() and "_" not in name


def tool_names(role: Role) -> frozenset[str]:
    """The orgloop tools a role may call: what its `tools` grant (every offered tool when the file
    has none, as in Claude Code), less what `disallowedTools` names, less edit_file under
    `permissionMode: plan`. A plain Claude Code agent always has `send`: a subagent's answer
    goes back whatever its tools, and `send` is how an answer travels in an org."""
    if role.tools_inherited:
        granted = set(OFFERED)
    else:
        granted = {t.grants for t in map(read_tool, role.tools) if t.grants}
        if not role.native and role.kind == "agent":
            granted.add("send")
    granted -= {t.grants for t in map(read_tool, role.disallowed) if t.grants}
    if role.permission_mode == "plan":
        granted -= READ_ONLY_DROPS
    return frozenset(granted)


def lint_tools(role: Role) -> list[Finding]:
    """What each `tools` and `disallowedTools` entry means for the role, where it is not simply
    an orgloop tool it gets."""
    path, out = str(role.path), []

    def warn(key: str, message: str, hint: str = "", code: str = "tool") -> None:
        out.append(Finding(path, role.line_of(key), "warning", message, hint, code))

    if role.tools_inherited and role.kind == "agent":
        warn(
            "name",
            "no `tools`: as in Claude Code, the role gets every tool orgloop offers ("
            + ", ".join(sorted(tool_names(role)))
            + ")",
            "list `tools` to give it fewer",
            "tools-inherited",
        )
    granted_by: dict[str, set[str]] = {}
    for tool in map(read_tool, role.tools):
        if tool.grants:
            granted_by.setdefault(tool.grants, set()).add(tool.name)
        if tool.kind == "unknown" and role.native and not looks_like_claude(tool.name):
            like = f"did you mean {tool.suggestion!r}? " if tool.suggestion else ""
            out.append(
                Finding(
                    path,
                    role.line_of("tools"),
                    "error",
                    f"unknown tool {tool.written!r}",
                    like + "tools are: " + ", ".join(sorted(TOOLS)),
                    "tool",
                )
            )
        elif tool.kind == "unknown":
            warn(
                "tools",
                f"tool {tool.written!r} is neither an orgloop tool nor a Claude Code tool orgloop "
                "knows: the role will lack it",
                "orgloop's tools are: " + ", ".join(sorted(TOOLS)),
            )
        elif tool.lacks:
            what = {"mcp": "MCP tool", "claude": "Claude Code tool"}.get(tool.kind, "tool")
            warn(
                "tools",
                f"{what} {tool.written!r} has no orgloop equivalent: "
                f"the role will lack {tool.lacks}",
            )
        elif tool.specifier is not None and tool.grants:
            warn(
                "tools",
                f"{tool.written!r}: orgloop cannot narrow {tool.grants} to ({tool.specifier}); the "
                f"role gets {tool.grants} within orgloop's own limits",
                "edit_file only ever edits the org's editable files; read_file and list_files "
                "only see the org",
            )
    for tool in map(read_tool, role.disallowed):
        if tool.kind == "unknown":
            warn(
                "disallowedTools",
                f"disallowedTools names {tool.written!r}, which is no tool orgloop knows: "
                "it takes nothing away",
                "check the spelling",
            )
        elif tool.specifier is not None and tool.grants:
            warn(
                "disallowedTools",
                f"{tool.written!r}: orgloop cannot deny only part of {tool.grants}; the role "
                f"does not get {tool.grants} at all",
            )
        elif tool.grants and (also := sorted(granted_by.get(tool.grants, set()) - {tool.name})):
            warn(
                "disallowedTools",
                f"denying {tool.name!r} takes {tool.grants} away, and with it "
                f"{', '.join(map(repr, also))}: orgloop's {tool.grants} does what they all do",
                f"list only the tools you mean to keep, or drop {tool.name} from disallowedTools",
            )
    return out


__all__ = [
    "CLAUDE_KEYS",
    "EQUIVALENT",
    "LACKS",
    "OFFERED",
    "PERMISSION_MODES",
    "READ_ONLY_DROPS",
    "TOOLS",
    "Tool",
    "lint_tools",
    "looks_like_claude",
    "read_tool",
    "tool_names",
]
