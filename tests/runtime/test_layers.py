"""The runtime's one-way rule, from the source: faces -> engine -> {meta, brains, executors} -> core
-> org, no import cycles (type-only imports count), and nothing below the engine imports it.

Imports are read with `ast` from every module under runtime/, so an import inside a function or
under `if TYPE_CHECKING:` counts as much as one at the top.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import networkx as nx

RUNTIME = Path(__file__).parents[2] / "runtime"
LAYERS = {"org": 0, "core": 1, "meta": 2, "brains": 2, "executors": 2, "engine": 3}
"""Each part's height; a face (a module at runtime/'s top) is above them all."""


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["orgloop.runtime", *parts])


def imports_of(root: Path) -> nx.DiGraph:
    """module -> module it imports, for every import of an orgloop module under `root`."""
    modules = {module_name(root, p): p for p in root.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from pkg import mod` imports the module when there is one by that name
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                if target.startswith("orgloop.") and target != name:
                    graph.add_edge(name, target)
    return graph


def part(module: str) -> str:
    """Which part of the layering a module belongs to: org, core, meta, ..., or face."""
    if module.startswith("orgloop.org"):
        return "org"
    rest = module.removeprefix("orgloop.runtime").lstrip(".").split(".")
    return rest[0] if rest[0] in LAYERS else "face"


def height(module: str) -> int:
    return LAYERS.get(part(module), max(LAYERS.values()) + 1)


def violations(graph: nx.DiGraph) -> list[str]:
    """Every import that points sideways or up, and every cycle."""
    out = []
    for a, b in graph.edges:
        if not b.startswith("orgloop.runtime") and not b.startswith("orgloop.org"):
            continue  # orgloop.tui: the TUI face is checked by tests/tui/test_imports.py
        if part(a) == part(b):
            continue
        if height(b) >= height(a):
            out.append(f"{a} imports {b} ({part(a)} may not import {part(b)})")
    out += [" -> ".join([*c, c[0]]) for c in nx.simple_cycles(graph)]
    return out


def test_the_runtime_imports_point_one_way_with_no_cycles() -> None:
    assert violations(imports_of(RUNTIME)) == []


def test_nothing_below_the_engine_imports_it() -> None:
    graph = imports_of(RUNTIME)
    below = [m for m in graph if height(m) < LAYERS["engine"] and part(m) != "org"]
    assert below  # the parts exist and were read
    for module in below:
        assert not any(part(t) == "engine" for t in graph.successors(module)), module


def test_a_reintroduced_cycle_is_caught(tmp_path: Path) -> None:
    """The check is not vacuous: the engine named by a type-only import in the toolbox (the knot
    the desks once had) is reported both as an upward import and as a cycle."""
    copy = tmp_path / "runtime"
    shutil.copytree(RUNTIME, copy, ignore=shutil.ignore_patterns("__pycache__"))
    tools = copy / "core" / "tools.py"
    tools.write_text(
        tools.read_text()
        + "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
        + "    from ..engine.engine import Engine\n"
    )
    found = violations(imports_of(copy))
    assert any("core.tools imports orgloop.runtime.engine.engine" in v for v in found)
    assert any("orgloop.runtime.core.tools ->" in v and "engine.engine" in v for v in found)


def test_sibling_parts_may_not_import_each_other(tmp_path: Path) -> None:
    copy = tmp_path / "runtime"
    shutil.copytree(RUNTIME, copy, ignore=shutil.ignore_patterns("__pycache__"))
    offline = copy / "brains" / "offline.py"
    offline.write_text(offline.read_text() + "\nfrom ..meta.reload import merge3  # noqa\n")
    assert any("brains may not import meta" in v for v in violations(imports_of(copy)))
