"""The message graph: a node per role plus `human`, an edge per (sender, receiver, kind)."""

from __future__ import annotations

import networkx as nx

from ._model import Org

HUMAN = "human"
KICKOFF = "kickoff"
WINDOW = "window"
"""Sent by the runtime (as `human`) to every role that receives it, after each meta window."""


def build_graph(org: Org) -> nx.MultiDiGraph:
    """Edges carry `kind`, `max` (visits, or None), and `path` and `line`: where the sender's
    send is declared (its role file, or ORG.md's `agents`).

    Receivers that are not roles still get a node (flagged `unknown`) so lint can report them.
    """
    g = nx.MultiDiGraph()
    g.add_node(HUMAN, kind="human")
    for role in org.roles.values():
        g.add_node(role.name, kind=role.kind)
    program = str(org.program.path)
    g.add_edge(HUMAN, org.program.entry, key=KICKOFF, kind=KICKOFF, max=1, line=1, path=program)
    for role in org.roles.values():
        if WINDOW in role.receives:
            g.add_edge(HUMAN, role.name, key=WINDOW, kind=WINDOW, max=None, line=1, path=program)
    for role in org.roles.values():
        for send in role.sends:
            for to in send.to:
                if to not in g:
                    g.add_node(to, kind="unknown")
                g.add_edge(
                    role.name,
                    to,
                    key=send.kind,
                    kind=send.kind,
                    max=send.max,
                    line=send.line,
                    path=send.path or str(role.path),
                )
    return g


def format_graph(g: nx.MultiDiGraph, fmt: str = "text") -> str:
    """Render as plain text (one edge a line), mermaid or graphviz dot."""
    edges = sorted(g.edges(keys=True), key=lambda e: (e[0] != HUMAN, e[0], e[1], e[2]))
    if fmt == "mermaid":
        out = ["flowchart LR"]
        for n, data in g.nodes(data=True):
            shape = f"{n}[({n})]" if data.get("kind") == "sandbox" else f"{n}[{n}]"
            out.append(f"    {shape}")
        out += [f"    {a} -->|{k}| {b}" for a, b, k in edges]
        return "\n".join(out) + "\n"
    if fmt == "dot":
        out = ["digraph org {", "    rankdir=LR;"]
        for n, data in g.nodes(data=True):
            shape = "box3d" if data.get("kind") == "sandbox" else "box"
            out.append(f'    "{n}" [shape={shape}];')
        out += [f'    "{a}" -> "{b}" [label="{k}"];' for a, b, k in edges]
        return "\n".join([*out, "}"]) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown graph format {fmt!r}: use text, mermaid or dot")
    width = max((len(a) for a, _, _ in edges), default=0)
    return "".join(f"{a:<{width}} --{k}--> {b}\n" for a, b, k in edges)
