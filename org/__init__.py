"""What an org is: its Markdown files parsed into typed values, a message graph, and lint.

    >>> from orgloop.org import load_org, lint
    >>> org = load_org("my-org")           # raises OrgError with path:line findings
    >>> [str(f) for f in lint(org)]        # [] when it can run

Nothing here runs a process, sleeps or touches the network.
"""

from __future__ import annotations

if __name__ != "orgloop.org":
    # Run from a checkout, this folder is also importable as a top-level `org`, which the standard
    # library probes for (pickle tries `org.python.core`); refuse that name cleanly.
    raise ImportError("orgloop's org/ folder is the package orgloop.org, not org")

from ._claude import TOOLS, tool_names
from ._graph import HUMAN, KICKOFF, build_graph, format_graph
from ._lint import lint
from ._load import CLAUDE_AGENTS, load_org, parse_org, role_files
from ._model import (
    BrainSettings,
    Budget,
    Experiment,
    Finding,
    Meta,
    Metric,
    ModelSettings,
    Org,
    OrgError,
    Placement,
    Policy,
    PriceOverride,
    Program,
    Role,
    RoleBudget,
    Send,
)
from ._parse import DEFAULT_MODEL, EXECUTORS, default_roles_dir, parse_role
from ._render import LEDGER_KEYS, render_prompt, sample_ledger
from ._task import Constant
from ._task import constants as task_constants
from ._templates import builtin_org_dir, check

__all__ = [
    "CLAUDE_AGENTS",
    "DEFAULT_MODEL",
    "EXECUTORS",
    "HUMAN",
    "KICKOFF",
    "LEDGER_KEYS",
    "TOOLS",
    "BrainSettings",
    "Budget",
    "Constant",
    "Experiment",
    "Finding",
    "Meta",
    "Metric",
    "ModelSettings",
    "Org",
    "OrgError",
    "Placement",
    "Policy",
    "PriceOverride",
    "Program",
    "Role",
    "RoleBudget",
    "Send",
    "build_graph",
    "builtin_org_dir",
    "check",
    "default_roles_dir",
    "format_graph",
    "lint",
    "load_org",
    "parse_org",
    "parse_role",
    "render_prompt",
    "role_files",
    "sample_ledger",
    "task_constants",
    "tool_names",
]
