"""Lint an org: everything that would make it fail or loop at run time, found before it runs.

Each finding carries `path:line` and a one-line hint. An org with an error-level finding never runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import jinja2
import networkx as nx

from ._claude import lint_tools, tool_names
from ._graph import HUMAN, KICKOFF, build_graph
from ._model import Finding, Org, Role
from ._render import (
    context,
    org_context,
    render_role,
    sample_ledger,
    template_line,
    undeclared_names,
)
from ._task import constants


def lint(org: Org) -> list[Finding]:
    """All findings for a parsed org, in file order."""
    out: list[Finding] = []
    out += _lint_program(org)
    org_view = org_context(org)
    knobs: tuple[list[str], set[str]] | None = None
    for role in org.roles.values():
        out += _lint_role(org, role, org_view)
        if isinstance(role.policy.data.get("space"), dict):
            knobs = knobs or task_knobs(org)
            out += _lint_space(role, *knobs)
    out += _lint_graph(org)
    return sorted(out, key=lambda f: (f.path, f.line))


def _lint_program(org: Org) -> list[Finding]:
    p = org.program
    path = str(p.path)
    out = []
    if not p.metric.name:
        out.append(
            Finding(
                path,
                p.line_of("metric"),
                "error",
                "no metric name",
                "set `metric.name`, e.g. val_bpb",
                "metric",
            )
        )
    if p.entry not in org.roles:
        out.append(
            Finding(
                path,
                p.line_of("entry"),
                "error",
                f"entry role {p.entry!r} is not a role",
                f"roles are: {', '.join(org.roles) or 'none'}",
                "entry",
            )
        )
    for key, patterns in (
        ("experiment.editable", p.experiment.editable),
        ("experiment.protected", p.experiment.protected),
        ("meta.editable", p.meta.editable),
    ):
        for i, pattern in enumerate(patterns):
            line = p.line_of(f"{key}.{i}")
            problem = _pattern_problem(pattern)
            if problem:
                hint = "a path or glob relative to the org folder, e.g. train.py or roles/*.md"
                out.append(Finding(path, line, "error", f"`{key}` {problem}", hint, "path"))
            elif key == "experiment.protected" and not _glob_exists(org.root, pattern):
                msg = f"protected path {pattern!r} does not exist"
                out.append(Finding(path, line, "error", msg, "create it or remove it", "protected"))
    if not org.sandbox_roles():
        out.append(
            Finding(
                path,
                1,
                "error",
                "no role has `kind: sandbox`, so nothing runs experiments",
                "add roles/trainer.md from the default library",
                "sandbox",
            )
        )
    return out


def _pattern_problem(pattern: str) -> str:
    """Why a path pattern cannot name files inside the org, or "" when it can."""
    parts = PurePosixPath(pattern.replace("\\", "/")).parts
    if not pattern.strip() or not parts:
        return f"entry {pattern!r} names no file"
    if PurePosixPath(pattern).is_absolute() or PureWindowsPath(pattern).drive or pattern[0] == "~":
        return f"entry {pattern!r} is not relative to the org folder"
    if ".." in parts:
        return f"entry {pattern!r} leaves the org folder"
    if any("**" in part and part != "**" for part in parts):
        return f"entry {pattern!r} is not a valid glob: ** must be a whole path part"
    return ""


def _glob_exists(root: Path, pattern: str) -> bool:
    try:
        return any(root.glob(pattern))
    except (ValueError, NotImplementedError, IndexError):  # pathlib rejects the pattern
        return False


def _lint_role(org: Org, role: Role, org_view: Mapping[str, Any]) -> list[Finding]:
    path = str(role.path)
    out = []
    if role.name == HUMAN:
        out.append(
            Finding(
                path,
                role.line_of("name"),
                "error",
                f"role name {HUMAN!r} is reserved for the person running the org",
                "rename the role",
                "name",
            )
        )
    out += lint_tools(role)
    if role.sends and role.kind == "agent" and "send" not in tool_names(role):
        out.append(
            Finding(
                path,
                role.line_of("tools"),
                "error",
                "role declares `sends` but has no `send` tool",
                "add send to `tools`",
                "tool",
            )
        )
    out += _lint_template(org, role, org_view)
    return out


def task_knobs(org: Org) -> tuple[list[str], set[str]]:
    """The editable Python files that exist and parse, and the constants they define."""
    files, names = [], set()
    for pattern in org.program.experiment.editable:
        if _pattern_problem(pattern):
            continue
        for path in sorted(org.root.glob(pattern)):
            try:
                found = constants(path.read_text(encoding="utf-8")) if path.suffix == ".py" else {}
            except (OSError, UnicodeDecodeError):
                continue
            if found:
                files.append(str(path.relative_to(org.root)))
                names |= set(found)
    return files, names


def _lint_space(role: Role, files: list[str], names: set[str]) -> list[Finding]:
    """`space` knobs no editable file defines, in one finding per role."""
    missing = [str(k) for k in role.policy.data["space"] if str(k) not in names]
    if not files or not missing:
        return []
    one = len(missing) == 1
    return [
        Finding(
            str(role.path),
            role.policy.lines.get(f"space.{missing[0]}", role.policy.line),
            "warning",
            f"`space` knob{'' if one else 's'} {', '.join(missing)} "
            f"{'is not a' if one else 'are not'} module-level constant{'' if one else 's'} "
            f"of {', '.join(files)}",
            "the offline engineer searches the file's own constants instead: "
            + ", ".join(sorted(names)),
            "space",
        )
    ]


def _lint_template(org: Org, role: Role, org_view: Mapping[str, Any]) -> list[Finding]:
    path = str(role.path)
    if not role.template:
        return []
    try:
        undeclared = undeclared_names(role)
    except jinja2.TemplateSyntaxError as e:
        return [
            Finding(
                path,
                role.body_line + (e.lineno or 1) - 1,
                "error",
                f"template syntax error: {e.message}",
                "check {{ }} and {% %} pairs; {% raw %} keeps literal braces",
                "template",
            )
        ]
    ctx = context(org, role, sample_ledger(), "", org_view=org_view)
    out = []
    for name in sorted(undeclared - set(ctx)):
        out.append(
            Finding(
                path,
                _line_of_name(role, name),
                "error",
                f"template uses undefined variable {name!r}",
                "available: " + ", ".join(sorted(ctx)),
                "template",
            )
        )
    if out:
        return out
    try:
        render_role(role, ctx)
    except jinja2.UndefinedError as e:
        out.append(
            Finding(
                path,
                template_line(e, role),
                "error",
                f"template error: {e.message}",
                "see docs/format.md for what org, role and ledger hold",
                "template",
            )
        )
    except Exception as e:  # a template can raise anything (a filter on None, a division)
        out.append(
            Finding(
                path,
                template_line(e, role),
                "error",
                f"template error: {type(e).__name__}: {e}",
                "render it against an empty ledger",
                "template",
            )
        )
    return out


def _line_of_name(role: Role, name: str) -> int:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    for i, line in enumerate(role.body.splitlines()):
        if ("{{" in line or "{%" in line) and pattern.search(line):
            return role.body_line + i
    return role.body_line


def _lint_graph(org: Org) -> list[Finding]:
    g = build_graph(org)
    out: list[Finding] = []
    roles = org.roles
    for a, b, kind, data in g.edges(keys=True, data=True):
        if a == HUMAN:
            if kind == KICKOFF and b in roles and KICKOFF not in roles[b].receives:
                out.append(
                    Finding(
                        str(roles[b].path),
                        roles[b].line_of("receives"),
                        "error",
                        f"entry role {b!r} does not receive `kickoff`",
                        "add kickoff to `receives`",
                        "kind",
                    )
                )
            continue
        if b not in roles:
            out.append(
                Finding(
                    data["path"],
                    data["line"],
                    "error",
                    f"sends `{kind}` to unknown role {b!r}",
                    "roles are: " + ", ".join(roles),
                    "receiver",
                )
            )
        elif kind not in roles[b].receives:
            out.append(
                Finding(
                    data["path"],
                    data["line"],
                    "error",
                    f"sends `{kind}` to {b!r}, which does not receive it",
                    f"add {kind} to `receives` in {Path(roles[b].path).name}",
                    "kind",
                )
            )
    if org.program.entry in g:
        reachable = nx.descendants(g, HUMAN) | {HUMAN}
        for role in roles.values():
            if role.name not in reachable:
                out.append(
                    Finding(
                        str(role.path),
                        role.line_of("name"),
                        "warning",
                        f"role {role.name!r} is unreachable from the entry role",
                        "have some role send it a message",
                        "unreachable",
                    )
                )
    for role in roles.values():
        # a role whose effect is an edit or a decision need not send anything
        if not role.sends and not tool_names(role) & {"edit_file", "decide"}:
            out.append(
                Finding(
                    str(role.path),
                    role.line_of("name"),
                    "warning",
                    f"role {role.name!r} can never send a message",
                    "add `sends: {kind: role}`",
                    "sink",
                )
            )
    out += _lint_cycles(org, g)
    return out


def _lint_cycles(org: Org, g: nx.MultiDiGraph) -> list[Finding]:
    """A cycle is fine when some edge on it is budgeted: it feeds a sandbox role (the experiment
    budget is finite), it has a `max`, or `budget.visits` bounds every edge."""
    if org.program.budget.visits is not None:
        return []
    unbudgeted = nx.DiGraph()
    for a, b, _, data in g.edges(keys=True, data=True):
        if b in org.roles and org.roles[b].kind != "sandbox" and data.get("max") is None:
            unbudgeted.add_edge(a, b, line=data["line"], path=data["path"])
    out = []
    # Each strongly connected component's edges, rebuilt in file order: a subgraph view of a
    # component (a set) iterates in hash order, which changes from one process to the next, and
    # so would the cycle reported.
    component_of = {
        node: i
        for i, nodes in enumerate(nx.strongly_connected_components(unbudgeted))
        for node in nodes
    }
    subs: dict[int, nx.DiGraph] = {}
    for a, b in unbudgeted.edges:
        if component_of[a] == component_of[b]:
            subs.setdefault(component_of[a], nx.DiGraph()).add_edge(a, b)
    for sub in subs.values():
        cycle = nx.find_cycle(sub, source=next(iter(sub)))
        names = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        edge = unbudgeted.edges[cycle[0]]
        out.append(
            Finding(
                edge["path"],
                edge["line"],
                "error",
                f"cycle {names} has no budgeted exit",
                "route it through the sandbox, or set `max` on one of its sends, "
                "or set budget.visits",
                "cycle",
            )
        )
    return out
