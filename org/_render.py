"""Role prompts: a role's Markdown body is a Jinja2 template rendered with StrictUndefined.

The context a template may use is fixed here (`org`, `role`, `ledger`, `memory`, `program`), so lint
can render every role against a sample and report undefined names before a run starts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.sandbox

from ._model import Org, Role

LEDGER_KEYS = ("summary", "best", "baseline", "noise", "experiments", "recent", "top", "dead_ends")


@functools.cache
def _env() -> jinja2.Environment:
    # Prompts are plain text, not HTML: autoescape would mangle code and comparisons. Sandboxed,
    # because the meta-agent writes role bodies: `{{ cycler.__init__.__globals__ }}` must not
    # reach orgloop's own process.
    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


def compile_role(role: Role) -> jinja2.Template:
    """Raises jinja2.TemplateSyntaxError (lineno is relative to the body)."""
    return _env().from_string(role.body)


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


def context(org: Org, role: Role, ledger: Mapping[str, Any], memory: str) -> dict[str, Any]:
    p = org.program
    return {
        "org": {
            "name": p.name,
            "entry": p.entry,
            "metric": {"name": p.metric.name, "goal": p.metric.goal, "bound": p.metric.bound},
            "experiment": {
                "command": p.experiment.command,
                "editable": list(p.experiment.editable),
                "protected": list(p.experiment.protected),
                "parallel": p.experiment.parallel,
            },
            "budget": {"experiments": p.budget.experiments},
            "roles": {
                r.name: {"description": r.description, "kind": r.kind} for r in org.roles.values()
            },
        },
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
    """The role's system prompt. Raises jinja2 errors; `orgloop check` has reported them first."""
    return compile_role(role).render(context(org, role, ledger, memory))
