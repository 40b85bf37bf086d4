"""Read an org folder into an `Org`: ORG.md and roles/*.md, or an autoresearch layout.

Frontmatter is YAML (read with line numbers); the body's structure (``policy`` fences) comes from
markdown-it-py. Every problem becomes a Finding with `path:line`; `load_org` raises `OrgError` when
any of them is an error. Nothing here renders templates or lints the graph (see `_lint.py`).
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from ._brain import ROLE_KEYS, brain_settings, model_settings, prices, role_budget
from ._claude import CLAUDE_KEYS, PERMISSION_MODES
from ._fields import Fields, describe, load_yaml, yaml11_hint
from ._model import (
    Budget,
    Experiment,
    Finding,
    Meta,
    Metric,
    Placement,
    Policy,
    Program,
    Role,
    Send,
)

MAX_BYTES = 1 << 20
"""Org files are prose and settings; anything larger is a mistake, not an org."""

DEFAULT_MODEL = "claude-sonnet-5-5"
"""A current model id from the anthropic SDK's list (older ones warn at call time)."""

_PROGRAM_KEYS = {
    "name",
    "entry",
    "metric",
    "experiment",
    "budget",
    "meta",
    "seed",
    "model",
    "turns",
    "agents",
    "brain",
    "price",
}
_NATIVE_KEYS = ("receives", "sends", "kind", "limits", "template")
"""orgloop's own role keys. A file with any of the first four is an orgloop role; else it is a
plain Claude Code subagent, whose body is not a template unless it says `template: true`."""
_ROLE_KEYS = {
    "name",
    "description",
    "tools",
    "model",
    *_NATIVE_KEYS,
    "disallowedTools",
    "permissionMode",
    "replicas",
    *ROLE_KEYS,
}


@functools.cache
def _markdown() -> MarkdownIt:
    # Only block structure matters here (the frontmatter and ``policy`` fences): skipping the
    # inline pass halves the parse time and changes no block token.
    return MarkdownIt("commonmark").use(front_matter_plugin).disable(["inline", "text_join"])


_LINE_END = re.compile(r"\r\n?|\n")
"""A line break as markdown-it counts lines (it normalizes \r\n and \r to \n)."""


def _from_line(text: str, line: int) -> str:
    """`text` from the start of its 0-based `line`, as markdown-it numbers lines."""
    if line == 0:
        return text
    for i, m in enumerate(_LINE_END.finditer(text), 1):
        if i == line:
            return text[m.end() :]
    return ""


def default_roles_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "roles"


def read_text(path: Path, findings: list[Finding]) -> str | None:
    """The file's text, or None with an `unreadable` finding saying why."""

    def bad(message: str, hint: str, line: int = 1) -> None:
        findings.append(Finding(str(path), line, "error", message, hint, "unreadable"))

    if path.is_dir():
        bad("is a directory, not a Markdown file", "move it out or rename it without .md")
        return None
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            bad(
                f"is {size:,} bytes; org files are at most {MAX_BYTES:,}", "is this the right file?"
            )
            return None
        raw = path.read_bytes()
    except OSError as e:
        bad(f"cannot be read: {e.strerror}", "check that it exists and is readable")
        return None
    if b"\x00" in raw:
        bad("is binary, not text", "an org file is UTF-8 Markdown")
        return None
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark (Windows editors) is not text
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        bad(f"is not UTF-8 (byte {e.start})", "re-save the file as UTF-8", line)
        return None


def split_frontmatter(
    text: str, path: Path, findings: list[Finding]
) -> tuple[Any, dict[str, int], str, int] | None:
    """(data, key lines, body, body's first line), or None with a finding."""
    split = _split(text, path, findings)
    return None if split is None else split[:4]


def _split(
    text: str, path: Path, findings: list[Finding]
) -> tuple[Any, dict[str, int], str, int, list[Token]] | None:
    """`split_frontmatter`, plus the whole file's block tokens (one markdown parse per file)."""
    if not text.strip():
        findings.append(
            Finding(str(path), 1, "error", "is empty", "start it with a --- YAML block", "empty")
        )
        return None
    tokens = _markdown().parse(text)
    if not tokens or tokens[0].type != "front_matter":
        first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
        unclosed = first.strip() == "---"
        msg = "frontmatter is never closed" if unclosed else "has no frontmatter"
        hint = "end the YAML block with a line ---" if unclosed else "start with a --- YAML block"
        findings.append(Finding(str(path), 1, "error", msg, hint, "frontmatter"))
        return None
    fm = tokens[0]
    assert fm.map is not None
    try:
        data, lines = load_yaml(fm.content, 2)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = 2 + mark.line if mark is not None else 1
        findings.append(
            Finding(
                str(path),
                line,
                "error",
                f"frontmatter is not valid YAML: {_problem(e, 2)}",
                "check indentation and quote values containing ': '",
                "yaml",
            )
        )
        return None
    body_start = fm.map[1]
    return data, lines, _from_line(text, body_start), body_start + 1, tokens


def _problem(e: yaml.YAMLError, first_line: int) -> str:
    """PyYAML's complaint, with the line where the construct it was reading began (an unclosed
    `{` is noticed only on a later line)."""
    problem = str(getattr(e, "problem", None) or str(e).splitlines()[0])
    context, mark = getattr(e, "context", None), getattr(e, "context_mark", None)
    at = getattr(e, "problem_mark", None)
    if context and mark is not None and (at is None or at.line != mark.line):
        problem += f" ({context} on line {first_line + mark.line})"
    return problem


def _policy(
    body: str,
    body_line: int,
    path: Path,
    findings: list[Finding],
    tokens: list[Token] | None = None,
) -> Policy:
    """The merged ``policy`` blocks of `body`; `tokens`, when given, are the whole file's (their
    lines count from the file's first line, not the body's)."""
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    line = body_line
    offset = body_line if tokens is None else 1
    for tok in _markdown().parse(body) if tokens is None else tokens:
        if tok.type != "fence" or tok.info.strip() != "policy" or tok.map is None:
            continue
        line = offset + tok.map[0]
        try:
            block, block_lines = load_yaml(tok.content, line + 1)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = line + 1 + mark.line if mark is not None else line
            findings.append(
                Finding(
                    str(path),
                    at,
                    "error",
                    f"policy block is not valid YAML: {_problem(e, line + 1)}",
                    "a policy block holds YAML",
                    "yaml",
                )
            )
            continue
        if block is None:
            continue
        if not isinstance(block, dict):
            findings.append(
                Finding(
                    str(path),
                    line,
                    "error",
                    "policy block must be a YAML mapping",
                    "write `key: value` lines",
                    "type",
                )
            )
            continue
        data.update(block)
        lines.update(block_lines)
    return Policy(data, line, lines)


def _sends(f: Fields, key: str = "sends", path: str = "") -> tuple[Send, ...]:
    """The `sends` mapping at `key` of `f`: kind -> role, [roles] or {to, max}."""
    sends: list[Send] = []
    for kind, target in f.section(key).data.items():
        line = f.lines.get(f"{f.prefix}{key}.{kind}", f.line_of(key))
        to: Any = target
        limit = None
        per_turn = 1
        if isinstance(target, dict):
            to, limit = target.get("to"), target.get("max")
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
                f.error(line, f"`{f.prefix}{key}.{kind}.max` must be a whole number", "e.g. max: 3")
                limit = None
            per_turn = f.section(key).section(kind).integer("per_turn", 1, minimum=1) or 1
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not to or not all(isinstance(t, str) for t in to):
            f.error(
                line,
                f"`{f.prefix}{key}.{kind}` must name a receiving role, got {to!r}",
                "write `kind: role` or `kind: [role, role]`",
                "type",
            )
            continue
        sends.append(Send(kind, tuple(to), limit, line, path, per_turn))
    return tuple(sends)


def parse_role(path: Path, findings: list[Finding]) -> Role | None:
    text = read_text(path, findings)
    if text is None:
        return None
    split = _split(text, path, findings)
    if split is None:
        return None
    data, lines, body, body_line, tokens = split
    f = Fields(data, lines, str(path), findings, line=1)
    name = f.text("name") or path.stem
    native = any(f.has(key) for key in _NATIVE_KEYS if key != "template")
    kind: Literal["agent", "sandbox"] = (
        "sandbox" if f.choice("kind", ("agent", "sandbox"), "agent") == "sandbox" else "agent"
    )
    mode = f.text("permissionMode", "default") or "default"
    if mode not in PERMISSION_MODES:
        findings.append(
            Finding(
                str(path),
                f.line_of("permissionMode"),
                "warning",
                f"permissionMode {mode!r} is not one Claude Code documents; it changes nothing",
                "one of " + ", ".join(PERMISSION_MODES) + " (plan makes the role read-only)",
                "permission-mode",
            )
        )
    replicas = f.whole_or("replicas", "auto", 1)
    if kind == "sandbox" and f.has("replicas"):
        f.error(
            f.line_of("replicas"),
            "`replicas` is for agent roles: a sandbox role runs one experiment per slot",
            "remove it; `experiment.parallel` in ORG.md sets the slots",
        )
    return Role(
        path=path,
        name=name,
        description=f.text("description", "") or "",
        body=body,
        body_line=body_line,
        kind=kind,
        model=f.text("model", "inherit") or "inherit",
        tools=f.texts("tools", comma=True),
        receives=f.texts("receives", comma=True),
        sends=_sends(f),
        policy=_policy(body, body_line, path, findings, tokens),
        settings=model_settings(f),
        budget=role_budget(f),
        limits=dict(f.section("limits").data),
        extra=f.unknown(_ROLE_KEYS, CLAUDE_KEYS),
        lines=dict(lines),
        tools_inherited=kind == "agent" and f.data.get("tools") is None,
        disallowed=f.texts("disallowedTools", comma=True),
        permission_mode=mode,
        native=native,
        template=f.boolean("template", native),
        replicas="auto" if replicas == "auto" else int(replicas),
    )


def _or(value: int | None, default: int) -> int:
    """`value` unless it is None (0 is a value: `confirm: 0` turns confirmation off)."""
    return default if value is None else value


def parse_program(path: Path, findings: list[Finding]) -> Program | None:
    text = read_text(path, findings)
    if text is None:
        return None
    split = split_frontmatter(text, path, findings)
    if split is None:
        return None
    data, lines, body, body_line = split
    f = Fields(data, lines, str(path), findings)
    if not f.has("metric"):
        f.error(1, "missing `metric`", "add `metric: {name: val_bpb, goal: minimize}`", "metric")
    m = f.section("metric")
    metric = Metric(
        name=m.text("name", "", required=f.has("metric")) or "",
        goal="maximize"
        if m.choice("goal", ("minimize", "maximize"), "minimize") == "maximize"
        else "minimize",
        bound=m.number("bound", None),
    )
    m.unknown({"name", "goal", "bound"})
    e = f.section("experiment")
    if not f.has("experiment"):
        f.error(1, "missing `experiment`", "add `experiment: {command: python train.py}`")
    experiment = Experiment(
        command=e.text("command", "", required=f.has("experiment")) or "",
        evaluate=e.text("evaluate"),
        timeout=e.duration("timeout", 300.0) or 300.0,
        editable=e.texts("editable", ("train.py",)),
        protected=e.texts("protected"),
        parallel=e.integer("parallel", 1, minimum=1) or 1,
        baseline_runs=e.integer("baseline_runs", 3, minimum=1) or 3,
        confirm=_or(e.integer("confirm", 3, minimum=0), 3),
        network=e.boolean("network", False),
        env=e.texts("env"),
        max_output=e.size("max_output", 50 << 20),
        measured_by=_function_name(e, "measured_by"),
        executor=e.choice("executor", EXECUTORS, "local"),
        resources=_resources(e),
    )
    e.unknown(
        {
            "command",
            "evaluate",
            "timeout",
            "editable",
            "protected",
            "parallel",
            "baseline_runs",
            "confirm",
            "network",
            "env",
            "max_output",
            "measured_by",
            "executor",
            "resources",
        },
        typos=True,
    )
    b = f.section("budget")
    budget = Budget(
        experiments=_experiments(b),
        wall=b.duration("wall", None),
        usd=b.number("usd", None),
        tokens=b.integer("tokens", None),
        gpu_seconds=b.duration("gpu_seconds", None),
        visits=b.integer("visits", None, minimum=1),
    )
    b.unknown({"experiments", "wall", "usd", "tokens", "gpu_seconds", "visits"}, typos=True)
    mt = f.section("meta")
    meta = Meta(
        every=mt.integer("every", 6, minimum=1) or 6,
        editable=mt.texts("editable", ("roles/*.md",)),
        approve="human" if mt.choice("approve", ("auto", "human"), "auto") == "human" else "auto",
        max_lines=mt.integer("max_lines", 20, minimum=1) or 20,
        plateau=mt.integer("plateau", 4, minimum=1) or 4,
        trial=mt.integer("trial", 4, minimum=2) or 4,
    )
    mt.unknown({"every", "editable", "approve", "max_lines", "plateau", "trial"}, typos=True)
    t = f.section("turns")
    concurrency = t.integer("concurrency", 4, minimum=1) or 4
    max_steps = t.integer("max_steps", 12, minimum=1) or 12
    t.unknown({"concurrency", "max_steps"})
    return Program(
        path=path,
        name=f.text("name", path.parent.name, required=True) or path.parent.name,
        entry=f.text("entry", "pi") or "pi",
        metric=metric,
        experiment=experiment,
        budget=budget,
        meta=meta,
        body=body,
        body_line=body_line,
        seed=f.integer("seed", 0) or 0,
        model=f.text("model", DEFAULT_MODEL) or DEFAULT_MODEL,
        concurrency=concurrency,
        max_steps=max_steps,
        agents=_placements(f),
        brain=brain_settings(f),
        prices=prices(f),
        extra=f.unknown(_PROGRAM_KEYS, typos=True),
        lines=dict(lines),
    )


def _function_name(f: Fields, key: str) -> str | None:
    """`module.function`, dotted Python names, or None."""
    value = f.text(key)
    if value is None:
        return None
    parts = value.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        f.error(
            f.line_of(key),
            f"`{f.prefix}{key}` must be module.function, got {value!r}",
            "e.g. measured_by: prepare.evaluate_bpb",
        )
        return None
    return value


EXECUTORS = ("local", "ray")
"""The values of `experiment.executor`."""


def _resources(e: Fields) -> tuple[tuple[str, float], ...]:
    """`experiment.resources`: Ray resource name -> the amount one experiment asks for."""
    value = e.data.get("resources")
    if value is None:
        return ()
    hint = "e.g. resources: {GPU: 1, CPU: 4} or a node's custom resource: {a100: 1}"
    if not isinstance(value, dict):
        e.error(
            e.line_of("resources"),
            f"`{e.prefix}resources` must be a mapping of resource names to amounts, "
            f"got {describe(value)}",
            hint,
            "type",
        )
        return ()
    out = []
    for name, amount in value.items():
        at = e.lines.get(f"{e.prefix}resources.{name}", e.line_of("resources"))
        if not isinstance(name, str) or not name:
            e.error(at, f"`{e.prefix}resources` names must be text, got {describe(name)}", hint)
            continue
        number = not isinstance(amount, bool) and isinstance(amount, int | float)
        if not number or not math.isfinite(amount) or amount <= 0:
            want = "a positive number" if number else "a number"
            e.error(
                at,
                f"`{e.prefix}resources.{name}` must be {want}, got {describe(amount)}",
                yaml11_hint(amount) or hint,
                "type",
            )
            continue
        out.append((name, float(amount)))
    return tuple(out)


FOREVER = "forever"
"""`budget.experiments: forever`: no experiment budget; the run goes on until it is stopped."""


def _experiments(b: Fields) -> int | None:
    if b.data.get("experiments") == FOREVER:
        return None
    if isinstance(b.data.get("experiments"), str):
        b.error(
            b.line_of("experiments"),
            f"`budget.experiments` must be a whole number or {FOREVER}, "
            f"got the text {b.data['experiments']!r}",
            f"e.g. experiments: 20, or experiments: {FOREVER} to run until stopped",
            "type",
        )
        return 20
    return b.integer("experiments", 20, minimum=1) or 20


def _placements(f: Fields) -> dict[str, Placement]:
    """ORG.md's `agents`: name -> {receives, sends} for roles whose files do not say."""
    out = {}
    for name in f.section("agents").data:
        a = f.section("agents").section(name)
        a.unknown({"receives", "sends"})
        out[name] = Placement(
            receives=a.texts("receives", comma=True),
            sends=_sends(a, path=f.path),
            line=f.lines.get(f"agents.{name}", f.line_of("agents")),
        )
    return out
