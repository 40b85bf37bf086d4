"""Property: whatever text is in ORG.md or a role file, loading either works or raises OrgError,
and `check` returns findings; no other exception ever escapes the org package."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orgloop.org import OrgError, check, load_org, parse_org

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
"""Any text a UTF-8 file can hold (lone surrogates cannot be written)."""

KEYS = st.sampled_from(
    [
        *("name", "entry", "metric", "experiment", "budget", "meta", "seed", "model", "turns"),
        *("description", "tools", "receives", "sends", "kind", "limits", "color", "to", "max"),
        *("command", "timeout", "editable", "protected", "parallel", "goal", "bound", "every"),
        *("wall", "usd", "tokens", "visits", "approve", "concurrency", "max_steps", "space"),
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | TEXT
    | st.sampled_from(["pi", "engineer", "trainer", "sandbox", "90s", "1h30m", "prepare.py"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | TEXT, inner, max_size=4),
    max_leaves=12,
)
FRAGMENTS = st.sampled_from(
    [
        "{{ org.name }}",
        "{{ ledger.summary }}",
        "{{ role.policy.patience }}",
        "{{ nope }}",
        "{{",
        "}}",
        "{% if memory %}",
        "{% endif %}",
        "{% for x in org.roles %}{{ x }}{% endfor %}",
        "```policy\n",
        "```\n",
        "kind: mutate\n",
        "space: {LR: {log: [0.001, 0.1]}}\n",
        "---\n",
        "\n",
    ]
)
BODIES = st.lists(FRAGMENTS | TEXT, max_size=8).map("".join)
YAML_LINES = st.sampled_from(
    [
        "on: yes",
        "name: 1.10",
        "seed: !!int 12x",
        "k: &a [*a]",
        "? [a, b]",
        ": c",
        "!!null '@': 1",
        "- item",
        "  nested: {a: [1, 2}",
        "experiment: {protected: [/etc/passwd, ../x, 'a/**b', '']}",
        "sends: {x: {to: [r, 3], max: yes}}",
        "tools: Read, Grep, send",
        "budget: {wall: 1h30m, usd: -1, visits: 0}",
        "metric: {name: loss, goal: sideways, bound: .nan}",
        "\t tab: indented",
    ]
)
RAW_FRONTMATTER = st.lists(YAML_LINES | TEXT, max_size=6).map("\n".join)

BASE_PROGRAM: dict[str, Any] = {
    "name": "fuzz",
    "entry": "r",
    "metric": {"name": "loss"},
    "experiment": {"command": "python train.py"},
}
BASE_ROLE: dict[str, Any] = {
    "name": "r",
    "tools": ["send"],
    "receives": ["kickoff"],
    "sends": {"x": "r"},
}


def _markdown(base: dict[str, Any], changes: dict[str, Any], body: str) -> str:
    """A valid frontmatter with random keys changed, dumped by yaml, and a random body."""
    data = {**base, **changes}
    return "---\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False) + "---\n" + body


FILES = (
    st.builds(_markdown, st.just(BASE_PROGRAM), st.dictionaries(KEYS, VALUES, max_size=4), BODIES)
    | st.builds(_markdown, st.just(BASE_ROLE), st.dictionaries(KEYS, VALUES, max_size=4), BODIES)
    | st.builds(lambda fm, body: f"---\n{fm}\n---\n{body}", RAW_FRONTMATTER, BODIES)
    | TEXT
)


def _loads_or_raises_org_error(program: str, role: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "roles").mkdir()
        (root / "ORG.md").write_text(program, encoding="utf-8")
        (root / "roles" / "r.md").write_text(role, encoding="utf-8")
        parse_org(root)
        try:
            load_org(root)
        except OrgError as e:
            assert e.findings
        findings, code = check(root)
        assert code in (0, 1, 2)
        assert all(f.path and f.line >= 1 for f in findings)


@settings(max_examples=60, deadline=None)
@given(program=FILES, role=st.builds(_markdown, st.just(BASE_ROLE), st.just({}), BODIES))
def test_any_org_md_loads_or_raises_org_error(program: str, role: str) -> None:
    _loads_or_raises_org_error(program, role)


@settings(max_examples=60, deadline=None)
@given(program=st.just(_markdown(BASE_PROGRAM, {}, "Objective.\n")), role=FILES)
def test_any_role_file_loads_or_raises_org_error(program: str, role: str) -> None:
    _loads_or_raises_org_error(program, role)
