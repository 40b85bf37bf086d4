"""An org folder assembled: its program, its roles from every place they live, and the graph
places ORG.md gives roles whose files do not declare their own.

Roles come from `roles/*.md` when that folder exists, else from the default library, and from
`.claude/agents/*.md` in either case: a Claude Code project keeps its agents where Claude Code
reads them, and nothing one folder holds hides the other. A name defined twice is an error that
names both files. Reading each file is `_parse.py`'s job; linting the result is `_lint.py`'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ._autoresearch import autoresearch_program, with_simplicity
from ._model import Finding, Org, OrgError, Program, Role
from ._parse import default_roles_dir, parse_program, parse_role

CLAUDE_AGENTS = Path(".claude") / "agents"
"""Where Claude Code reads a project's subagents, relative to the project folder."""


def role_files(root: Path) -> list[Path]:
    """Every role file of the org at `root`, in the order `org.roles` keeps them."""
    own = root / "roles"
    base = own if own.is_dir() else default_roles_dir()
    agents = root / CLAUDE_AGENTS
    return sorted(base.glob("*.md")) + (sorted(agents.glob("*.md")) if agents.is_dir() else [])


def parse_org(root: Path) -> tuple[Org | None, list[Finding]]:
    """Parse everything that can be parsed; the Org is None only if ORG.md itself failed."""
    findings: list[Finding] = []
    root = Path(root)
    if not root.exists():
        findings.append(
            Finding(str(root), 1, "error", "no such folder", "give an org folder", "unreadable")
        )
        return None, findings
    if root.is_file() and root.name in ("ORG.md", "program.md"):
        root = root.parent
    autoresearch = not (root / "ORG.md").exists() and (root / "program.md").is_file()
    if autoresearch:
        program = autoresearch_program(root, findings)
    elif (root / "ORG.md").exists():
        program = parse_program(root / "ORG.md", findings)
    else:
        findings += _no_program(root)
        return None, findings
    roles = _roles(role_files(root), findings)
    if program is None:
        return None, findings
    roles = _place(roles, program, findings)
    if autoresearch:
        roles = with_simplicity(roles, program)
    return Org(root=root, program=program, roles=roles, autoresearch=autoresearch), findings


def load_org(root: Path | str) -> Org:
    """Load an org; raise OrgError if anything in it is an error (warnings are allowed)."""
    org, findings = parse_org(Path(root))
    errors = [f for f in findings if f.severity == "error"]
    if org is None or errors:
        unreadable = any(f.code == "unreadable" for f in errors)
        raise OrgError(errors or findings, unreadable=unreadable)
    return org


def _no_program(root: Path) -> list[Finding]:
    """What a folder with no ORG.md and no program.md holds, and what to do about it. A Claude
    Code project's agents are read (their own problems reported) and named."""
    agents = root / CLAUDE_AGENTS
    files = sorted(agents.glob("*.md")) if agents.is_dir() else []
    if not files:
        hint = "run `orgloop init DIR` to make an org"
        return [Finding(str(root / "ORG.md"), 1, "error", "no ORG.md here", hint, "unreadable")]
    findings: list[Finding] = []
    roles = _roles(files, findings)
    names = ", ".join(roles) or "none that load"
    shown = f"{len(files)} Claude Code agent{'s' if len(files) != 1 else ''}"
    message = (
        f"no ORG.md here, but {shown} in {CLAUDE_AGENTS}/ ({names}): an org needs a program "
        "(goal, metric, experiment) and a sandbox role around them"
    )
    hint = f"make one with `orgloop init --from {root / CLAUDE_AGENTS}` (the agents stay put)"
    return [Finding(str(root / "ORG.md"), 1, "error", message, hint, "unreadable"), *findings]


def _roles(files: list[Path], findings: list[Finding]) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for path in files:
        role = parse_role(path, findings)
        if role is None:
            continue
        if role.name in roles:
            findings.append(
                Finding(
                    str(path),
                    role.line_of("name"),
                    "error",
                    f"role name {role.name!r} is already used by {roles[role.name].path}",
                    "give each role a unique `name` (a roles/ folder replaces the default "
                    "library; .claude/agents/ is always read beside it)",
                    "duplicate-role",
                )
            )
            continue
        roles[role.name] = role
    return roles


def _place(roles: dict[str, Role], program: Program, findings: list[Finding]) -> dict[str, Role]:
    """Roles with the `receives` and `sends` that ORG.md's `agents` gives them."""
    path = str(program.path)
    for name, place in program.agents.items():
        role = roles.get(name)
        if role is None:
            findings.append(
                Finding(
                    path,
                    place.line,
                    "error",
                    f"`agents.{name}` names no role",
                    "roles are: " + ", ".join(roles),
                    "receiver",
                )
            )
        elif "receives" in role.lines or "sends" in role.lines:
            findings.append(
                Finding(
                    path,
                    place.line,
                    "error",
                    f"`agents.{name}` places a role whose file {role.path} declares its own "
                    "`receives` or `sends`",
                    "say where it sits in one of the two places",
                    "placement",
                )
            )
        else:
            roles[name] = replace(role, receives=place.receives, sends=place.sends)
    return roles
