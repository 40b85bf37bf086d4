"""YAML with line numbers, and typed reads of its fields that turn every surprise into a Finding.

PyYAML reads YAML 1.1: `on: yes` is a boolean, `1.10` is the float 1.1. Every read here checks the
type it gets and, when a YAML 1.1 reading is the likely cause, says so in the hint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from ._model import Finding
from ._spelling import near_miss

try:  # the C loader is several times faster, and bench/parse.py loads a thousand files
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, but a value its tag cannot build (`!!int 1x`, `!!bool maybe`) is a
    YAMLError at that value's line, not a ValueError/KeyError from deep inside PyYAML."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.tag.rpartition(':')[2]} value: {e}", node.start_mark
            ) from e


_TOP_LEVEL_COMMA = re.compile(r",(?![^()]*\))")
"""A comma that no closing parenthesis follows before an opening one: not inside `(…)`."""

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s?)?\s*$"
)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def load_yaml(text: str, first_line: int) -> tuple[Any, dict[str, int]]:
    """Parse one YAML document; return the data and the 1-based line of every key, dotted.

    `first_line` is the file line of the document's first line. Raises yaml.YAMLError.
    """
    loader = _Loader(text)
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        if node is not None:
            _walk(node, "", first_line, lines, set())
    except RecursionError as e:  # `[[[[…]]]]` thousands deep
        raise yaml.YAMLError("values are nested too deeply") from e
    finally:
        loader.dispose()
    return data, lines


def _walk(node: yaml.Node, prefix: str, first: int, lines: dict[str, int], seen: set[int]) -> None:
    # An alias is the anchored node itself: visit each node once, or `&a [*a]` recurses forever
    # and a few nested aliases (the "billion laughs") expand exponentially.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            key = f"{prefix}{knode.value}" if isinstance(knode, yaml.ScalarNode) else prefix + "?"
            lines[key] = first + knode.start_mark.line
            _walk(vnode, key + ".", first, lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[f"{prefix}{i}"] = first + item.start_mark.line
            _walk(item, f"{prefix}{i}.", first, lines, seen)


def describe(value: Any) -> str:
    """Name a value's YAML type the way a user would read it."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def yaml11_hint(value: Any) -> str:
    if isinstance(value, bool):
        return "YAML 1.1 reads yes/no/on/off/true/false as booleans: quote the value"
    if isinstance(value, float):
        return "YAML reads a bare number such as 1.10 as 1.1: quote it to keep it as text"
    return ""


class Fields:
    """Typed access to one YAML mapping; problems are appended to `findings`, never raised."""

    def __init__(
        self,
        data: Any,
        lines: Mapping[str, int],
        path: str,
        findings: list[Finding],
        prefix: str = "",
        line: int = 1,
    ) -> None:
        self.path = path
        self.lines = lines
        self.findings = findings
        self.prefix = prefix
        self.line = line
        self.data: dict[str, Any] = {}
        if data is None:
            return
        if not isinstance(data, dict):
            where = prefix.rstrip(".") or "the frontmatter"
            self.error(line, f"{where} must be a mapping of keys to values, got {describe(data)}")
            return
        for key, value in data.items():
            if not isinstance(key, str):
                at, spelling = self._raw_key(key)
                self.error(
                    at,
                    f"key `{spelling}` is read as {describe(key)}, not text",
                    yaml11_hint(key).replace("the value", "the key") or "keys are plain words",
                )
                continue
            self.data[key] = value

    # ---- reporting
    def _raw_key(self, key: Any) -> tuple[int, str]:
        """Line and spelling of a key YAML turned into a non-text value (`on` -> True)."""
        for raw, line in self.lines.items():
            rest = raw[len(self.prefix) :]
            if raw.startswith(self.prefix) and rest:
                try:
                    parsed = yaml.safe_load(rest)
                except yaml.YAMLError:  # a spelling only a tag made legal (`!!null "@"`)
                    continue
                if parsed == key and type(parsed) is type(key):
                    return line, rest
        return self.line, repr(key)

    def line_of(self, key: str) -> int:
        return self.lines.get(self.prefix + key, self.line)

    def error(self, line: int, message: str, hint: str = "", code: str = "invalid") -> None:
        self.findings.append(Finding(self.path, line, "error", message, hint, code))

    def _bad(self, key: str, want: str, value: Any, hint: str = "") -> None:
        self.error(
            self.line_of(key),
            f"`{self.prefix}{key}` must be {want}, got {describe(value)}",
            yaml11_hint(value) or hint,
            "type",
        )

    # ---- typed reads
    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        if key not in self.data or self.data[key] is None:
            if required:
                self.error(self.line, f"missing `{self.prefix}{key}`", f"add `{key}:`", "missing")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            self._bad(key, "text", value)
            return default
        return value

    def integer(self, key: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(key, "a whole number", value)
            return default
        if value < minimum:
            self.error(self.line_of(key), f"`{self.prefix}{key}` must be at least {minimum}")
            return default
        return value

    def whole_or(self, key: str, word: str, default: int, *, minimum: int = 1) -> int | str:
        """A whole number of at least `minimum`, or the text `word` (`replicas: auto`)."""
        value = self.data.get(key)
        if value is None:
            return default
        if value == word:
            return word
        if isinstance(value, bool) or not isinstance(value, int):
            self._bad(
                key, f"a whole number or {word}", value, f"e.g. `{key}: 2` or `{key}: {word}`"
            )
            return default
        if value < minimum:
            self.error(
                self.line_of(key),
                f"`{self.prefix}{key}` must be at least {minimum}, or {word}",
                f"e.g. `{key}: {minimum}` or `{key}: {word}`",
            )
            return default
        return value

    def number(self, key: str, default: float | None) -> float | None:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._bad(key, "a number", value)
            return default
        if value < 0:
            self.error(self.line_of(key), f"`{self.prefix}{key}` must not be negative")
            return default
        return float(value)

    def duration(self, key: str, default: float | None) -> float | None:
        """Seconds, from a number or text like `90s`, `5m`, `1h30m`."""
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        if isinstance(value, str):
            m = _DURATION.match(value)
            if m and any(m.groups()):
                h, mi, s = (float(g) if g else 0.0 for g in m.groups())
                if h * 3600 + mi * 60 + s > 0:
                    return h * 3600 + mi * 60 + s
        self._bad(key, "a positive duration such as 90s, 5m or 1h", value)
        return default

    def size(self, key: str, default: int) -> int:
        """Bytes, from a whole number or text like `50M`, `2G`, `512k` (powers of 1024)."""
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        m = _SIZE.match(value) if isinstance(value, str) else None
        if m and float(m.group(1)) > 0:
            scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
            return int(float(m.group(1)) * scale[m.group(2).lower()])
        self._bad(key, "a positive size such as 50M, 2G or 1048576", value)
        return default

    def choice(self, key: str, options: Iterable[str], default: str) -> str:
        options = tuple(options)
        value = self.data.get(key, default)
        if value not in options:
            self._bad(key, "one of " + ", ".join(options), value)
            return default
        return str(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self._bad(key, "true or false", value)
            return default
        return value

    def texts(
        self, key: str, default: tuple[str, ...] = (), *, comma: bool = False
    ) -> tuple[str, ...]:
        """A list of text; with `comma`, also the text `a, b, c` (Claude Code's `tools` form, where
        a comma inside parentheses, as in `Agent(a, b)`, does not split)."""
        value = self.data.get(key)
        if value is None:
            return default
        if comma and isinstance(value, str):
            return tuple(v.strip() for v in _TOP_LEVEL_COMMA.split(value) if v.strip())
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            self._bad(key, "a list of text", value)
            return default
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error(
                    self.lines.get(f"{self.prefix}{key}.{i}", self.line_of(key)),
                    f"`{self.prefix}{key}` item {i + 1} must be text, got {describe(item)}",
                    yaml11_hint(item),
                    "type",
                )
                continue
            out.append(item)
        return tuple(out)

    def section(self, key: str) -> Fields:
        return Fields(
            self.data.get(key),
            self.lines,
            self.path,
            self.findings,
            self.prefix + key + ".",
            self.line_of(key),
        )

    def unknown(
        self, known: Iterable[str], quiet: Iterable[str] = (), *, typos: bool = False
    ) -> dict[str, Any]:
        """Keys nobody reads: kept and returned, and warned about unless listed in `quiet`. A key
        a small edit away from a known one gets "did you mean"; with `typos` it is an error, since
        the setting it was meant to be would silently not apply."""
        known, quiet = set(known), set(quiet)
        extra = {k: v for k, v in self.data.items() if k not in known}
        for key in extra:
            if key in quiet:
                continue
            meant = near_miss(key, known)
            if meant is not None and typos:
                self.error(
                    self.line_of(key),
                    f"unknown key `{self.prefix}{key}`: did you mean `{self.prefix}{meant}`?",
                    f"as spelt, nothing reads it and `{meant}` keeps its default; fix the spelling",
                    "unknown-key",
                )
                continue
            hint = (
                f"did you mean `{meant}`?" if meant else "check the spelling against docs/format.md"
            )
            self.findings.append(
                Finding(
                    self.path,
                    self.line_of(key),
                    "warning",
                    f"unknown key `{self.prefix}{key}` is kept but nothing reads it",
                    hint,
                    "unknown-key",
                )
            )
        return extra
