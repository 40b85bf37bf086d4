"""Role prompts: a role's Markdown body is a Jinja2 template rendered with StrictUndefined.

The context a template may use is fixed here (`org`, `role`, `ledger`, `memory`, `program`), so lint
can render every role against a sample and report undefined names before a run starts.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.sandbox

from ._model import Finding, Org, OrgError, Role
from ._skeleton import TEXT, split_template

LEDGER_KEYS = ("summary", "best", "baseline", "noise", "experiments", "recent", "top", "dead_ends")


@functools.cache
def _env() -> jinja2.Environment:
    # Prompts are plain text, not HTML: autoescape would mangle code and comparisons. Sandboxed,
    # because the meta-agent writes role bodies: `{{ cycler.__init__.__globals__ }}` must not
    # reach orgloop's own process, nor may a template change the values it is given.
    return jinja2.sandbox.ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


# In the Python that Jinja generates, every name a template reads from its context (rather than
# binding itself) is fetched once per scope by a line `l_<depth>_<name> = resolve('<name>')`; the
# very loads jinja2.meta.find_undeclared_variables tracks, without generating the code twice.
_RESOLVE = re.compile(r"^[ \t]*l_\d+_\w+ = (?:\w+\.)?resolve\('([^'\\\n]+)'\)$", re.MULTILINE)


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> tuple[jinja2.Template, frozenset[str]]:
    """The template and the names it reads from its context, parsed and generated once per
    source text. Raises jinja2.TemplateSyntaxError."""
    env = _env()
    code = env.compile(env.parse(source), raw=True)
    template = env.template_class.from_code(
        env, compile(code, "<template>", "exec"), env.make_globals(None), None
    )
    return template, frozenset(_RESOLVE.findall(code)) - set(env.globals)


@dataclass(frozen=True)
class _Compiled:
    template: jinja2.Template
    names: frozenset[str]
    """What the body reads from its context."""
    texts: Mapping[str, str] | None
    """The body's text runs, keyed by the names its skeleton reads; None: compiled from the body."""

    def render(self, ctx: Mapping[str, Any]) -> str:
        return self.template.render(ctx if self.texts is None else {**ctx, **self.texts})


@functools.lru_cache(maxsize=4096)
def _prepare(body: str) -> _Compiled:
    """A role body compiled through its skeleton (see _skeleton.py), so bodies that differ only in
    prose share one compiled template. Raises jinja2.TemplateSyntaxError."""
    split = split_template(body)
    if split is not None:
        skeleton, texts = split
        try:
            template, names = _compile(skeleton)
        except jinja2.TemplateSyntaxError:
            pass  # compile the body itself: Jinja's message then quotes the user's own text
        else:
            runs = {f"{TEXT}{i}": text for i, text in enumerate(texts)}
            return _Compiled(template, names - runs.keys(), runs)
    template, names = _compile(body)
    return _Compiled(template, names, None)


def clear_cache() -> None:
    """Forget every compiled template, as a fresh process would start."""
    _prepare.cache_clear()
    _compile.cache_clear()


def undeclared_names(role: Role) -> frozenset[str]:
    """Names the role's template reads but never sets itself (the context must supply them).
    Raises jinja2.TemplateSyntaxError (lineno is relative to the body)."""
    return _prepare(role.body).names if role.template else frozenset()


def render_role(role: Role, ctx: Mapping[str, Any]) -> str:
    """The role's body rendered with `ctx` (from `context`), or the body as it stands when it is
    not a template (a plain Claude Code agent). Raises jinja2 errors."""
    return _prepare(role.body).render(ctx) if role.template else role.body


def template_line(e: BaseException, role: Role) -> int:
    """The file line a template error points at: Jinja rewrites tracebacks so template frames
    carry the template's own line numbers; a syntax error carries its line itself."""
    if isinstance(e, jinja2.TemplateSyntaxError) and e.lineno:
        return role.body_line + e.lineno - 1
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        if frame.filename == "<template>" and frame.lineno:
            return role.body_line + frame.lineno - 1
    return role.body_line


def sample_ledger() -> dict[str, Any]:
    """What a ledger looks like before the first experiment; lint renders against it."""
    return {
        "summary": "No experiments yet.",
        "best": None,
        "baseline": None,
        "noise": None,
        "experiments": 0,
        "recent": [],
        "top": [],
        "dead_ends": [],
    }


def org_context(org: Org) -> dict[str, Any]:
    """What a template sees as `org`: the same for every role of the org, so code that renders
    many roles builds it once and passes it to `context`."""
    p = org.program
    return {
        "name": p.name,
        "entry": p.entry,
        "metric": {"name": p.metric.name, "goal": p.metric.goal, "bound": p.metric.bound},
        "experiment": {
            "command": p.experiment.command,
            "editable": list(p.experiment.editable),
            "protected": list(p.experiment.protected),
            "parallel": p.experiment.parallel,
            "timeout": p.experiment.timeout,
        },
        "budget": {"experiments": p.budget.experiments},
        "roles": {
            r.name: {"description": r.description, "kind": r.kind} for r in org.roles.values()
        },
    }


def context(
    org: Org,
    role: Role,
    ledger: Mapping[str, Any],
    memory: str,
    *,
    org_view: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a role's template may use; `org_view` is `org_context(org)` when the caller
    has it already."""
    p = org.program
    return {
        "org": org_context(org) if org_view is None else org_view,
        "role": {
            "name": role.name,
            "description": role.description,
            "receives": list(role.receives),
            "sends": {s.kind: list(s.to) for s in role.sends},
            "tools": list(role.tools),
            "policy": dict(role.policy.data),
        },
        "program": p.body,
        "ledger": dict(ledger),
        "memory": memory,
    }


def render_prompt(org: Org, role: Role, ledger: Mapping[str, Any], memory: str = "") -> str:
    """The role's system prompt. A template that fails (lint renders against an empty ledger, a
    run's ledger can still trip a template) raises OrgError naming the role file and line."""
    try:
        return render_role(role, context(org, role, ledger, memory))
    except Exception as e:  # a template can raise anything (a filter on None, a division)
        what = e.message if isinstance(e, jinja2.TemplateError) and e.message else str(e)
        finding = Finding(
            str(role.path),
            template_line(e, role),
            "error",
            f"template error: {type(e).__name__}: {what}",
            "fix the role's body; {% raw %}…{% endraw %} keeps literal braces",
            "template",
        )
        raise OrgError([finding]) from e
