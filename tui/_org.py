"""The org as the run has it: the snapshot of its Markdown the engine keeps in `RUN/org/`,
loaded with orgloop's own parser, for what the log does not say — every declared role and edge
(so the graph is whole before anyone has spoken), the entry role, the experiment timeout, and
the parsed org itself for rendering a role's prompt.

`load_view` is slow for a viewer (importing the parser and Jinja takes a few tenths of a second),
so the app calls it in a worker thread and shows the log's own picture until it returns. A run
folder without a snapshot (an older run, a copied log) gives an empty view; one that does not load
gives an empty view that says why. It reads files only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SNAPSHOT = "org"


@dataclass(frozen=True)
class OrgView:
    roles: Mapping[str, str] = field(default_factory=dict)
    """Role name -> kind (agent or sandbox), in the org's file order."""
    edges: tuple[tuple[str, str, str], ...] = ()
    """(sender, receiver, kind) for every edge the org declares, human's included."""
    entry: str | None = None
    timeout: float | None = None
    """Seconds an experiment may run before the sandbox kills it."""
    org: Any = None
    """The parsed `orgloop.org.Org`, when it loaded."""
    error: str = ""


def load_view(run_dir: Path) -> OrgView:
    root = run_dir / SNAPSHOT
    if not (root / "ORG.md").is_file() and not (root / "program.md").is_file():
        return OrgView()
    from orgloop.org import OrgError, build_graph, load_org

    try:
        org = load_org(root)
    except OrgError as e:
        first = e.findings[0] if e.findings else None
        return OrgView(error=f"the org snapshot does not load: {first or e}")
    except OSError as e:
        return OrgView(error=f"the org snapshot cannot be read: {e}")
    graph = build_graph(org)
    edges = tuple((str(a), str(b), str(k)) for a, b, k in graph.edges(keys=True))
    return OrgView(
        roles={name: role.kind for name, role in org.roles.items()},
        edges=edges,
        entry=org.program.entry,
        timeout=float(org.program.experiment.timeout),
        org=org,
    )


def render_prompt(view: OrgView, role: str, state: Any, memory: str) -> str:
    """The role's system prompt as the engine renders it for its next turn: its template with
    the org, the ledger of `state` and its memory. Raises what the renderer raises."""
    from orgloop.org import render_prompt as render
    from orgloop.runtime.core.ledger import summarize

    org = view.org
    return str(render(org, org.role(role), summarize(state, org), memory))
