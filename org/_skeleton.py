"""A role template split into its Jinja tags and the literal text between them.

Compiling a Jinja template costs a few milliseconds. A thousand generated roles, or a meta-agent
that rewrites a role's prose, would pay that again for every body, although only the tags decide
what a template does: the text between them is copied to the output as it stands. So a body is
compiled as its *skeleton*, the tags where they stand with each run of text replaced by
`{{ __orgloop_text_<i> }}` (keeping the run's line breaks, so line numbers in errors still match
the file), and rendered with the text runs as data. (A plain name costs Jinja about as much to
compile as the text it stands for; a subscript would cost half again as much.) Bodies that
differ only in their prose share one compiled skeleton.

The split follows Jinja's lexer for orgloop's environment (default delimiters, no line statements,
trim_blocks and lstrip_blocks off): a tag ends at the first end marker outside strings and
brackets, a `-` beside a delimiter strips the whitespace on that side, and `{% raw %}` content is
text. Where it is unsure (an unclosed tag, unbalanced brackets, `{% autoescape %}`, which treats
text and expressions differently) it returns None and the caller compiles the body itself.
tests/org/test_skeleton.py checks that both ways render the same output and raise the same errors.
"""

from __future__ import annotations

import re

TEXT = "__orgloop_text_"
"""The prefix of the context names the skeleton reads its text runs from: TEXT + str(i)."""

_NEWLINES = re.compile(r"\r\n|\r")
_OPEN = re.compile(r"\{([{%#])([-+]?)")
_RAW_BEGIN = re.compile(r"\{%[-+]?\s*raw\s*(-?)%\}")
_RAW_END = re.compile(r"\{%([-+]?)\s*endraw\s*([-+]?)%\}")
_COMMENT_END = re.compile(r"#\}")
_STRING = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
# Groups: 1 the end marker, 2 a string, 3 an opening bracket, 4 a closing one, 5 a stray quote.
_VARIABLE = re.compile(rf"""(-?\}}\}})|({_STRING})|([(\[{{])|([)\]}}])|(['"])""", re.S)
_BLOCK = re.compile(rf"""([-+]?%\}})|({_STRING})|([(\[{{])|([)\]}}])|(['"])""", re.S)
_AUTOESCAPE = re.compile(r"\{%[-+]?\s*(?:end)?autoescape\b")
_CLOSES = {"(": ")", "[": "]", "{": "}"}


def split_template(body: str) -> tuple[str, tuple[str, ...]] | None:
    """(skeleton, text runs), or None when the body is better compiled as it is. Run i is what
    the skeleton reads as TEXT + str(i)."""
    src = _NEWLINES.sub("\n", body)  # as Jinja's lexer does before anything else
    parts: list[str] = []
    texts: list[str] = []
    pos = 0
    lstrip = False  # the previous tag ended with `-`: the next text loses its leading whitespace

    def text(run: str, rstrip: bool) -> None:
        out = run.lstrip() if lstrip else run
        out = out.rstrip() if rstrip else out
        breaks = "\n" * run.count("\n")
        if out:
            parts.append(f"{{{{ {TEXT}{len(texts)}{breaks} }}}}")
            texts.append(out)
        elif breaks:
            parts.append(f"{{#{breaks}#}}")

    while (m := _OPEN.search(src, pos)) is not None:
        start = m.start()
        kind, sign = m.group(1), m.group(2)
        raw = _RAW_BEGIN.match(src, start) if kind == "%" else None
        if raw is not None:
            end = _RAW_END.search(src, raw.end())
            if end is None:
                return None
            text(src[pos:start], rstrip=src[start + 2] == "-")
            lstrip = raw.group(1) == "-"
            text(src[raw.end() : end.start()], rstrip=end.group(1) == "-")
            # the raw tags themselves emit nothing but may span lines
            if breaks := src[start : raw.end()].count("\n") + src[end.start() : end.end()].count(
                "\n"
            ):
                parts.append("{#" + "\n" * breaks + "#}")
            lstrip, pos = end.group(2) == "-", end.end()
            continue
        if kind == "#":
            close = _COMMENT_END.search(src, m.end())
            if close is None:
                return None
            tag_end, strip_after = close.end(), src[close.start() - 1] == "-"
            strip_after = strip_after and close.start() > m.end()
        else:
            found = _tag_end(src, m.end(), _VARIABLE if kind == "{" else _BLOCK)
            if found is None:
                return None
            tag_end, strip_after = found
            if kind == "%" and _AUTOESCAPE.match(src, start):
                return None
        text(src[pos:start], rstrip=sign == "-")
        parts.append(src[start:tag_end])
        lstrip, pos = strip_after, tag_end
    text(src[pos:], rstrip=False)
    return "".join(parts), tuple(texts)


def _tag_end(src: str, pos: int, pattern: re.Pattern[str]) -> tuple[int, bool] | None:
    """Where the tag whose content starts at `pos` ends, and whether its end marker strips the
    whitespace after it; None if it never ends or its brackets do not balance."""
    stack: list[str] = []
    while (m := pattern.search(src, pos)) is not None:
        end, _string, opening, closing, stray = m.groups()
        if end is not None and not stack:
            return m.end(), end[0] == "-"
        if end is not None:  # inside brackets Jinja reads the marker as operators: step one char
            char = end[0]
            if char == "}" and stack.pop() != "}":
                return None
            pos = m.start() + 1
        elif opening is not None:
            stack.append(_CLOSES[opening])
            pos = m.end()
        elif closing is not None:
            if not stack or stack.pop() != closing:
                return None
            pos = m.end()
        elif stray is not None:
            return None
        else:
            pos = m.end()
    return None
