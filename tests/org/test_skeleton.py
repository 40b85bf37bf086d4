"""Role bodies compile through their skeleton: the same output, names and errors as Jinja itself,
and bodies that differ only in prose share one compiled template."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgloop.org import lint, load_org
from orgloop.org._parse import default_roles_dir
from orgloop.org._render import _compile, _env, _prepare, clear_cache
from orgloop.org._skeleton import split_template
from orgloop.runtime.scaffold import init_org

CTX: dict[str, Any] = {"x": "X", "c": True, "d": False, "xs": [1, 2], "z": 0, "s": " pad "}

_TEXT = st.sampled_from(
    ["a", " ", "  \n", "\n\n", "x\r\ny", "\r", "text ", " { } % # - + ", "}}", "%}", "#}", "'"]
)
_SIGN = st.sampled_from(["", "", "-", "+"])
_EXPR = st.sampled_from(
    [
        "x",
        "'a}}b' ~ x",
        '"%}"',
        "{'k': x}['k']",
        "{'k': {'j': 1}}",
        "[1, (2)][0]",
        "xs|length\n",
        "1 / z",
        "nope",
        "s|trim",
        "x-1",
    ]
)
_SPACE = st.sampled_from(["", " "])
_VARIABLE = st.builds(  # `+}}` is no end marker: variables end with `}}` or `-}}`
    lambda a, s1, e, s2, b: f"{{{{{a}{s1}{e}{s2}{b}}}}}",
    _SIGN,
    _SPACE,
    _EXPR,
    _SPACE,
    st.sampled_from(["", "-"]),
)
_COMMENT = st.builds(
    lambda a, c, b: f"{{#{a}{c}{b}#}}",
    _SIGN,
    st.sampled_from(["", " note ", "a\nb", "{{ x }}"]),
    _SIGN,
)
_WRAPS = st.sampled_from(
    [
        ("if c", "endif"),
        ("if d", "endif"),
        ("for i in xs", "endfor"),
        ("set t", "endset"),
        ("filter upper", "endfilter"),
        ("autoescape true", "endautoescape"),
        ("raw", "endraw"),
    ]
)
_BROKEN = st.sampled_from(
    ["{{ x", "{% if %}", "{{ ) }}", "{{ (x] }}", "{{ 'open }}", "{% endfor %}", "{{ x $ }}", "{"]
)


def _wrap(w: tuple[str, str], signs: list[str], inner: str) -> str:
    a, b, c, d = signs
    after = "{{ t|length }}" if w[0] == "set t" else ""
    return f"{{%{a} {w[0]} {b}%}}{inner}{{%{c} {w[1]} {d}%}}{after}"


_BODIES = st.recursive(
    st.one_of(_TEXT, _VARIABLE, _COMMENT),
    lambda inner: (
        st.lists(inner, min_size=2, max_size=4).map("".join)
        | st.builds(_wrap, _WRAPS, st.lists(_SIGN, min_size=4, max_size=4), inner)
    ),
    max_leaves=12,
)
_BODIES = st.one_of(*[_BODIES] * 7, st.builds(lambda a, x, b: a + x + b, _BODIES, _BROKEN, _BODIES))


def _outcome(render: Any) -> tuple[str, Any]:
    try:
        return "ok", render()
    except jinja2.TemplateSyntaxError as e:
        return "syntax", (e.message, e.lineno)
    except Exception as e:
        lines = [
            f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == "<template>"
        ]
        return type(e).__name__, (str(e), lines[-1:] if lines else None)


@settings(max_examples=400, deadline=None)
@given(_BODIES)
def test_skeleton_renders_and_fails_like_jinja(body: str) -> None:
    env = _env()
    want = _outcome(lambda: env.from_string(body).render(CTX))
    got = _outcome(lambda: _prepare(body).render(CTX))
    assert got == want
    if want[0] != "syntax":
        assert _prepare(body).names == _compile(body)[1]


# One body per rule of the split, each where getting it wrong changes the output or the error.
EDGES = [
    "{{ x -}}  \n a",
    "a \n {{- x }}",
    "{{ x --}} a",
    "{{ x - 1 }}",
    "a {#- note -#}  b",
    "a {# note +#}  b",
    "a {#-#}  b",
    "{# {{ x }} #}{{ x }}",
    "{{ {'k': 1}}}b",
    "{{ {'k': {'j': x}}}}}}",
    "{{ 'a}}b' ~ x }}c",
    '{{ "%}" }}{% if c %}d{% endif %}',
    "{% if c -%}  \n a {%- endif %}",
    "{% if (c) +%}  a{% endif %}",
    "a  {%- raw -%}  {{ x }}  {%- endraw -%}  b",
    "a  {% raw %}  {{ x }}  {% endraw %}  b",
    "{% raw\n%}x{%\nendraw %}\n\n{{ 1 / z }}",
    "{% raw +%}x{% endraw %}",
    "{% raw %}x",
    "{% autoescape true %}<{{ '<' }}>{% endautoescape %}",
    "{% set t %} a {% endset %}{{ 10 / (t|length - 3) }}",
    "x\r\ny\r{{ nope }}",
    "{{ x",
    "{{ (x] }}",
    "{{ ) }}",
    "{{ 'open }}",
    "{% for %}",
    "a\n{{ x $ }}",
]


@pytest.mark.parametrize("body", EDGES)
def test_skeleton_edges_match_jinja(body: str) -> None:
    want = _outcome(lambda: _env().from_string(body).render(CTX))
    assert _outcome(lambda: _prepare(body).render(CTX)) == want
    if want[0] != "syntax" and "autoescape" not in body:  # the fast path, not the fallback
        assert _prepare(body).texts is not None


def test_default_roles_compile_through_their_skeleton() -> None:
    roles = sorted(default_roles_dir().glob("*.md"))
    assert roles
    for path in roles:
        text = path.read_text(encoding="utf-8")
        body = text.split("\n---\n", 1)[1]
        assert split_template(body) is not None, path.name
        assert _prepare(body).texts is not None, path.name


def test_bodies_that_differ_in_prose_share_one_template(tmp_path: Path) -> None:
    clear_cache()
    a = "You are {{ x }}.\n\n## Duty\nPropose one change.\n{% if c %}Go.{% endif %}\n"
    b = "Thou art {{ x }}.\n\n## Task\nPropose two changes.\n{% if c %}Now.{% endif %}\n"
    assert _prepare(a).template is _prepare(b).template
    assert _prepare(a).render(CTX) == "You are X.\n\n## Duty\nPropose one change.\nGo.\n"
    assert _prepare(b).render(CTX) == "Thou art X.\n\n## Task\nPropose two changes.\nNow.\n"
    # a tag on another line is another skeleton: line numbers in errors must stay right
    c = "Thou art\n{{ x }}.\n\n## Task\nPropose two changes.\n{% if c %}Now.{% endif %}\n"
    assert _prepare(c).template is not _prepare(a).template


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("one\ntwo\n{{ 1 / z }}\n", 3),
        ("{% raw %}\n{{ x }}\n{% endraw %}\n\n{{ nope.attr }}", 5),
        ("a\r\nb\r\n{#\n\n#}{{ xs[5] + 1 }}", 5),
    ],
)
def test_runtime_errors_keep_the_body_line(body: str, line: int) -> None:
    assert _prepare(body).texts is not None
    kind, (_, lines) = _outcome(lambda: _prepare(body).render(CTX))
    assert kind != "ok"
    assert lines == [line]


def test_lint_still_names_the_line_of_a_broken_role(tmp_path: Path) -> None:
    root = init_org(tmp_path / "org")
    role = root / "roles" / "critic.md"
    lines = role.read_text(encoding="utf-8").splitlines()
    at = lines.index("## Your duty") + 1
    lines.insert(at, "Count: {{ ledger.experiments / 0 }}")
    role.write_text("\n".join(lines) + "\n", encoding="utf-8")

    findings = [f for f in lint(load_org(root)) if f.code == "template"]
    assert len(findings) == 1
    assert findings[0].line == at + 1
    assert "ZeroDivisionError" in findings[0].message
