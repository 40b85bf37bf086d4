"""A search space from the task itself: the module-level constants of its editable files.

A role's `space` names knobs (`LR: {log: [0.0003, 0.03]}`); a task's own train.py may have other
ones (autoresearch's has DEPTH, MATRIX_LR, WARMDOWN_RATIO, …). `effective_space` keeps the role's
space when every knob in it is a constant of the files, and otherwise searches the files' own
constants (`task_space`), with the role's ranges for the knobs both name. `set_constant` edits
one constant's value where it stands, keeping the rest of the line (its comment) as it was.

Each constant becomes a knob by its value: a boolean toggles; a whole number steps around itself
(small ones one by one, larger ones by factors of two); a positive number searches a log range a
decade either side (at most 1 for ratios and fractions); zero tries a few small values; a string
chooses among the literals the file compares it with. `SEED` is left out: it samples the noise,
not a setting. What it does not do: guess ranges from comments or names beyond that, search
tuples or expressions that use other names, or check that a value makes sense to the program.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...org import Constant, task_constants

NOT_KNOBS = frozenset({"SEED"})
"""Constants that are never searched."""
_FRACTIONS = ("RATIO", "FRAC", "DROPOUT", "BETA", "MOMENTUM", "DECAY", "PROB")
"""Name parts of settings that live in [0, 1]."""


def knob(c: Constant) -> dict[str, Any] | None:
    """The space entry for one constant, or None when it is not searchable."""
    v = c.value
    if c.name in NOT_KNOBS:
        return None
    if isinstance(v, bool):
        return {"choice": [v, not v]}
    if isinstance(v, int):
        if v < 0:
            return None
        if v <= 16:
            return {"int": [max(1, v // 2) if v else 0, max(4, v * 2)]}
        return {"choice": sorted({v // 4, v // 2, v, v * 2, v * 4})}
    if isinstance(v, float):
        if v < 0:
            return None
        if v == 0:
            return {"choice": [0.0, 0.01, 0.1, 0.3]}
        hi = v * 10
        if v <= 1 and any(part in c.name for part in _FRACTIONS):
            hi = min(hi, 1.0)
        return {"log": [float(f"{v / 10:.3g}"), float(f"{hi:.3g}")]}
    options = [v, *(o for o in c.compared if o != v)]
    return {"choice": options} if len(options) > 1 else None


def task_space(files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Knob name -> space entry for the searchable constants of `files` (path -> source), in
    file order; a name the first file defines is not taken from a later one."""
    out: dict[str, dict[str, Any]] = {}
    for source in files.values():
        for name, c in task_constants(source).items():
            if name not in out and (entry := knob(c)) is not None:
                out[name] = entry
    return out


def effective_space(role_space: Mapping[str, Any], files: Mapping[str, str]) -> dict[str, Any]:
    """What the offline engineer searches: the role's `space` when every knob in it is a
    constant of `files` (or when no file has constants), else the files' own space with the
    role's entries for the knobs both name."""
    defined: set[str] = set()
    for source in files.values():
        defined |= set(task_constants(source))
    if not defined or all(str(k) in defined for k in role_space):
        return dict(role_space)
    own = task_space(files)
    return {k: role_space.get(k, entry) for k, entry in own.items()}


def set_constant(source: str, name: str, text: str) -> tuple[str, str] | None:
    """`source` with constant `name`'s value replaced by `text`, and the old value's text; None
    when `name` is not a module-level constant of it."""
    c = task_constants(source).get(name)
    if c is None:
        return None
    return source[: c.start] + text + source[c.end :], c.text(source)


__all__ = ["NOT_KNOBS", "effective_space", "knob", "set_constant", "task_space"]
