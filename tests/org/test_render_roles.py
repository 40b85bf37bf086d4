"""The default roles render into prompts that name the org, against an empty and a busy ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgloop.org import (
    LEDGER_KEYS,
    builtin_org_dir,
    check,
    load_org,
    render_prompt,
    sample_ledger,
)
from orgloop.org._render import _compile, _env

ORG = load_org(builtin_org_dir())
BUSY_LEDGER: dict[str, Any] = {
    "summary": "6 experiments; best val_bpb 1.02 (exp 4, HIDDEN 256).",
    "best": 1.02,
    "baseline": 1.31,
    "noise": 0.004,
    "experiments": 6,
    "recent": [{"id": 6, "metric": 1.05, "decision": "discard"}],
    "top": [{"id": 4, "metric": 1.02}],
    "dead_ends": ["ACT=relu"],
}


def test_sample_ledger_has_every_ledger_key() -> None:
    assert set(sample_ledger()) == set(LEDGER_KEYS) == set(BUSY_LEDGER)


AGENTS = [r.name for r in ORG.roles.values() if r.kind == "agent"]


@pytest.mark.parametrize("name", AGENTS)
def test_default_role_prompt_names_the_org(name: str) -> None:
    prompt = render_prompt(ORG, ORG.role(name), sample_ledger())
    assert ORG.name == "tinylm"
    assert "**tinylm**" in prompt
    assert "{{" not in prompt and "{%" not in prompt


@pytest.mark.parametrize("name", AGENTS)
def test_default_role_renders_a_busy_ledger_and_memory(name: str) -> None:
    prompt = render_prompt(ORG, ORG.role(name), BUSY_LEDGER, memory="tried LR 0.01 already")
    assert "**tinylm**" in prompt
    assert BUSY_LEDGER["summary"] in prompt


def test_sandbox_role_body_documents_the_org_experiment() -> None:
    """The trainer has no LLM: its body documents the sandbox with the org's own settings."""
    (trainer,) = ORG.sandbox_roles()
    text = render_prompt(ORG, trainer, sample_ledger())
    assert f"`{ORG.program.experiment.command}`" in text
    assert "hashes the protected files (prepare.py)" in text


def test_pi_prompt_carries_the_program_and_its_memory() -> None:
    prompt = render_prompt(ORG, ORG.role("pi"), sample_ledger(), memory="HIDDEN 512 was slow")
    assert "Train the best character-level language model" in prompt
    assert "HIDDEN 512 was slow" in prompt
    assert f"known limit is {ORG.program.metric.bound}" in prompt


def test_template_cannot_reach_python_internals(tmp_path: Path) -> None:
    """Role bodies are written by the meta-agent too: they render in a sandbox."""
    (tmp_path / "roles").mkdir()
    for path in builtin_org_dir().iterdir():
        if path.is_file():
            (tmp_path / path.name).write_bytes(path.read_bytes())
    for role in ORG.roles.values():
        (tmp_path / "roles" / role.path.name).write_bytes(role.path.read_bytes())
    critic = tmp_path / "roles" / "critic.md"
    escape = "{{ cycler.__init__.__globals__.os.getcwd() }}\n"
    critic.write_text(critic.read_text(encoding="utf-8") + escape, encoding="utf-8")
    findings, code = check(tmp_path)
    assert code == 1
    assert [f.code for f in findings] == ["template"]
    assert "unsafe" in findings[0].message


# ---- undeclared names come from the compiled code: they must match jinja2.meta's own answer

_LEAVES = st.sampled_from(
    [
        *("{{ a }}", "{{ org.name }}", "{{ x }}", "{{ loop.index }}", "{% set s = 1 %}{{ s }}"),
        *("{{ p }}", "{{ w }}", "{{ caller() }}", "{{ y | default(z) }}", "{{ range(3) | list }}"),
        *("{% set ns = namespace(k=1) %}{% set ns.k = 2 %}{{ ns.k }}", "{{ self.b() }}"),
        *("{% raw %}{{ raw }}{% endraw %}", "{{ \"l_0_x = resolve('fake')\" }}", "text\n"),
        *("{% if false %}{{ dead }}{% endif %}", "{{ 名前 }}", "{{ x if c else e }}"),
        "{% for k, v in d.items() recursive %}{{ loop(v) }}{% endfor %}",
    ]
)
_WRAPS = st.sampled_from(
    [
        ("{% for x in xs %}", "{% else %}{{ fe }}{% endfor %}"),
        ("{% if c %}", "{% elif d %}{{ el }}{% endif %}"),
        ("{% macro m(p, q=r) %}", "{% endmacro %}{{ m(1) }}"),
        ("{% with w = v %}", "{% endwith %}"),
        ("{% call(cp) m(3) %}{{ cp }}", "{% endcall %}"),
        ("{% filter upper %}", "{% endfilter %}"),
        ("{% set t %}", "{% endset %}{{ t }}"),
        ("{% block sb scoped %}", "{% endblock %}"),
    ]
)
_TEMPLATES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3).map("".join)
        | st.builds(lambda w, b: w[0] + b + w[1], _WRAPS, inner)
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(_TEMPLATES)
def test_undeclared_names_match_jinja_meta(body: str) -> None:
    env = _env()
    try:
        expected = jinja2.meta.find_undeclared_variables(env.parse(body))
    except jinja2.TemplateSyntaxError:  # e.g. the same block twice
        return
    assert _compile(body)[1] == expected
