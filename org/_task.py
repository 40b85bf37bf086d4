"""A task file's knobs: its module-level UPPER_CASE constants, read without running it.

`constants(source)` finds every top-level `NAME = value` (or `NAME: type = value`) whose name is
UPPER_CASE and whose value is a number, a string or a boolean, or arithmetic on numbers
(`2**19`, `40 * 524288`, `-1e-3`), with where the value stands in the file, so an edit can replace
the value and keep the comment after it. It also notes the string literals the file compares each
constant with (`if ACT == "relu"`), the choices a string knob has.

What it does not do: import or run the file, follow names (`LR = BASE_LR * 2` is not a
constant), or read constants inside functions or `if` blocks.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Value = bool | int | float | str

_LINE_END = re.compile(r"\r\n|\r|\n")
_BINARY: Mapping[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


@dataclass(frozen=True)
class Constant:
    name: str
    value: Value
    line: int
    """1-based line of the assignment."""
    start: int
    end: int
    """Character offsets of the value's text in the source."""
    compared: tuple[str, ...] = field(default=())
    """String literals the file compares this name with, in file order (a string knob's
    other choices)."""

    def text(self, source: str) -> str:
        return source[self.start : self.end]


def is_knob_name(name: str) -> bool:
    return name.isupper() and name[:1].isalpha() and name.replace("_", "").isalnum()


def constants(source: str) -> dict[str, Constant]:
    """The module-level constants of a Python source, by name, in file order; {} when it does
    not parse. A name assigned twice keeps its last value."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    offsets = _line_offsets(source)
    found: dict[str, Constant] = {}
    for node in tree.body:
        target, value = _assignment(node)
        if target is None or value is None or not is_knob_name(target):
            continue
        evaluated = _evaluate(value)
        if evaluated is None or value.end_lineno is None or value.end_col_offset is None:
            continue
        start = offsets[value.lineno - 1] + _chars(source, offsets, value.lineno, value.col_offset)
        end = offsets[value.end_lineno - 1] + _chars(
            source, offsets, value.end_lineno, value.end_col_offset
        )
        found[target] = Constant(target, evaluated, node.lineno, start, end)
    compared = _comparisons(tree, set(found))
    return {
        name: Constant(c.name, c.value, c.line, c.start, c.end, tuple(compared.get(name, ())))
        for name, c in found.items()
    }


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id if isinstance(target, ast.Name) else None), node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _evaluate(node: ast.expr) -> Value | None:
    """A literal, or arithmetic on numeric literals; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, bool | int | float | str):
        value = node.value
        return None if isinstance(value, float) and not math.isfinite(value) else value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _evaluate(node.operand)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
        return None
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if not numbers or (isinstance(node.op, ast.Pow) and abs(float(right or 0)) > 64):
            return None
        try:
            result = _BINARY[type(node.op)](left, right)
        except (ArithmeticError, ValueError):
            return None
        return result if isinstance(result, int | float) and math.isfinite(result) else None
    return None


def _comparisons(tree: ast.Module, names: set[str]) -> dict[str, list[str]]:
    """For each name, the string literals it is compared with (==, !=, in) anywhere."""
    out: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        named = [s.id for s in sides if isinstance(s, ast.Name) and s.id in names]
        if not named:
            continue
        literals: list[str] = []
        for side in sides:
            if isinstance(side, ast.Constant) and isinstance(side.value, str):
                literals.append(side.value)
            elif isinstance(side, ast.Tuple | ast.List | ast.Set):
                literals += [
                    e.value
                    for e in side.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                ]
        for name in named:
            seen = out.setdefault(name, [])
            seen += [lit for lit in literals if lit not in seen]
    return out


def _line_offsets(source: str) -> list[int]:
    """Where each line starts (and the end), with lines broken as Python breaks them."""
    return [0, *(m.end() for m in _LINE_END.finditer(source)), len(source)]


def _chars(source: str, offsets: list[int], lineno: int, col_bytes: int) -> int:
    """ast columns count UTF-8 bytes; the character offset within the line."""
    line = source[offsets[lineno - 1] : offsets[lineno]]
    return len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore"))


__all__ = ["Constant", "constants", "is_knob_name"]
