"""The offline meta policy, and editing a role's ```policy fence as text.

`offline_proposal(ctx)` is what the offline brain's meta role proposes: narrow the engineer's range
around a value kept in the window, drop a knob that never helped, or change the PI's patience. The
edit is written into the YAML inside the fence line by line, so the rest of the file stays
byte-identical and the diff stays small. The meta desk (`meta/desk.py`) judges the proposal like any
other; nothing here commits or applies anything.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator
from typing import Any

import yaml

from ...org import task_constants
from ..core.text import unified
from .base import TurnContext

Proposal = tuple[str, str, str]
"""(path, new content, rationale)"""
_CHANGE = re.compile(r"^(\w+) (.+?) -> (.+)$")
ENGINEERS = ("mutate", "tpe", "random")
"""Policy kinds of an engineer whose `space` the offline meta edits."""


def offline_proposal(ctx: TurnContext) -> Proposal | None:
    """The offline meta policy's edit, or None when the evidence supports none.

    For an engineer that changes one knob at a time (`kind: mutate`), in order of preference:
    narrow the engineer's range around a value kept in this window, drop a knob tried
    `min_trials` times that never helped, and make the PI change course sooner after a window
    without a keep (or stay longer after repeated wins of one knob). For one that sets every
    knob at once (`tpe`, `random`): narrow the whole space around the incumbent after a keep in
    the window, and nothing else.
    An edit identical to one the run already reverted is never proposed again.
    """
    for path, old, new, why in _candidates(ctx):
        if new != old and not _was_reverted(ctx, path, old, new):
            return path, new, why
    return None


def _candidates(ctx: TurnContext) -> Iterator[tuple[str, str, str, str]]:
    state, org = ctx.state, ctx.org
    policy = ctx.role.policy.data
    window = [i for i in ctx.message.data.get("experiments", []) if i in state.experiments]
    changes = [(e, k, new) for e in state.decided() for k, _, new in parse_changes(e.description)]
    before = f"{org.program.metric.name} before: {state.incumbent_metric}"
    engineer = next((r for r in org.roles.values() if r.policy.kind in ENGINEERS), None)
    lead = next((r for r in org.roles.values() if r.policy.kind == "lead"), None)
    space = dict(engineer.policy.data.get("space") or {}) if engineer else {}
    epath = org.role_file(engineer) if engineer else None
    text = _read(ctx, epath) if epath else None
    if engineer and epath and text is not None and engineer.policy.kind != "mutate":
        # An engineer that sets every knob at once puts every knob in every change and ignores
        # the PI's "Change KNOB" directions: a knob's tries and the PI's patience say nothing
        # about it (such an edit would only be a no-op on trial), so re-centring its space on
        # what won is the one edit the evidence supports.
        yield from _around_incumbent(ctx, epath, text, space, window, before)
        return
    if engineer and epath and text is not None:
        wins = [(e, k, v) for e, k, v in changes if e.decision == "keep" and k in space]
        for e, knob, value in reversed([w for w in wins if w[0].id in window]):
            spec = _narrowed(space[knob], _literal(value), float(policy.get("narrow", 0.5)))
            new = _set_space(text, knob, spec) if spec is not None else None
            if new is not None:
                yield (
                    epath,
                    text,
                    new,
                    f"{e.id} ({e.description}) was kept at {e.metric}; narrow {knob} around "
                    f"{value}: {_flow(space[knob])} -> {_flow(spec)}. Evidence: {e.id}; {before}",
                )
        tries: dict[str, list[str]] = {}
        seen: set[tuple[str, str]] = set()
        for e, knob, _ in changes:
            if knob in space and (e.base, e.description) not in seen:
                seen.add((e.base, e.description))  # the same change from the same incumbent
                tries.setdefault(knob, []).append(e.id)  # is one try, however often it ran
        kept = {k for e, k, _ in changes if e.decision == "keep"}
        dead = [k for k, ids in tries.items() if len(ids) >= int(policy.get("min_trials", 2))]
        for knob in sorted((k for k in dead if k not in kept), key=lambda k: -len(tries[k])):
            new = _set_space(text, knob, None) if len(space) > 2 else None
            if new is not None:
                ids = ", ".join(tries[knob])
                yield (
                    epath,
                    text,
                    new,
                    f"{knob} was tried {len(tries[knob])} times ({ids}) and never kept; drop it "
                    f"from the search space. Evidence: {ids}; {before}",
                )
    lpath = org.role_file(lead) if lead else None
    ltext = _read(ctx, lpath) if lpath else None
    if lead and lpath and ltext is not None:
        patience = int(lead.policy.data.get("patience", 3))
        in_window = [c for c in changes if c[0].id in window]
        keeps = [k for e, k, _ in in_window if e.decision == "keep"]
        ids = ", ".join(dict.fromkeys(e.id for e, _, _ in in_window)) or "none"
        if in_window and not keeps and patience > 1:
            new_p, why = patience - 1, "no keep in the window; change course sooner"
        elif len(keeps) >= 2 and len(set(keeps)) == 1 and patience < 6:
            new_p, why = patience + 1, f"{keeps[0]} won {len(keeps)} times; exploit it longer"
        else:
            return
        new = _set_policy(ltext, ("patience",), new_p)
        if new is not None:
            yield (
                lpath,
                ltext,
                new,
                f"PI patience {patience} -> {new_p}: {why}. Evidence: {ids}; {before}",
            )


def parse_changes(description: str) -> list[tuple[str, str, str]]:
    """(knob, old, new) for each `KNOB old -> new` in an experiment's description; a search
    engineer's joint change lists several, joined by ', '."""
    found = [_CHANGE.match(part.strip()) for part in description.split(", ")]
    return [(m.group(1), m.group(2), m.group(3)) for m in found if m]


def _around_incumbent(
    ctx: TurnContext,
    path: str,
    text: str,
    space: dict[str, Any],
    window: list[str],
    before: str,
) -> Iterator[tuple[str, str, str, str]]:
    """For an engineer that sets every knob at once: after a keep in the window, the whole space
    narrowed around the incumbent's settings (each range by `narrow`, each choice list to the
    value and its neighbours), so the next proposals search near what won."""
    state = ctx.state
    kept = [i for i in window if state.experiments[i].decision == "keep"]
    target = ctx.org.program.experiment.editable[0]
    source = _read(ctx, target) if kept else None
    if source is None:
        return
    values = {n: c.value for n, c in task_constants(source).items()}
    factor = float(ctx.role.policy.data.get("narrow", 0.5))
    new, moved = text, []
    for knob, spec in space.items():
        narrowed = _narrowed(spec, values.get(knob), factor) if knob in values else None
        edited = _set_space(new, knob, narrowed) if narrowed is not None else None
        if edited is not None:
            new = edited
            moved.append(f"{knob} {_flow(spec)} -> {_flow(narrowed)}")
    if moved:
        best = state.experiments[kept[-1]]
        yield (
            path,
            text,
            new,
            f"{best.id} was kept at {best.metric}; narrow the search space around the "
            f"incumbent's settings: {'; '.join(moved)}. Evidence: {', '.join(kept)}; {before}",
        )


def _read(ctx: TurnContext, path: str) -> str | None:
    """The whole file (a model reads it a page at a time; an in-process brain gets it all)."""
    result = ctx.call("read_file", path=path)
    return result.value if result.ok and isinstance(result.value, str) else None


def _was_reverted(ctx: TurnContext, path: str, old: str, new: str) -> bool:
    """True when the same change (the same lines out and in) to `path` was reverted before."""
    change = _changed(unified(path, old, new, limit=1 << 20))
    return any(
        e.get("reverted") and e.get("file") == path and _changed(str(e.get("diff", ""))) == change
        for e in ctx.state.org_edits
    )


def _changed(diff: str) -> list[str]:
    return [d for d in diff.splitlines() if d[:1] in "+-" and not d.startswith(("+++", "---"))]


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()


def _narrowed(spec: Any, value: Any, factor: float) -> dict[str, Any] | None:
    """`spec` narrowed around `value`: a range shrunk by `factor` (log or linear), a choice list
    cut to the winner and its neighbours; None when it is already that narrow."""
    if not isinstance(spec, dict):
        return None
    if "choice" in spec and isinstance(spec["choice"], list):
        options = list(spec["choice"])
        if value not in options or len(options) <= 3:
            return None
        i = options.index(value)
        return {**spec, "choice": options[max(0, i - 1) : i + 2]}
    for key in ("log", "range", "int"):
        if key in spec and isinstance(value, int | float) and not isinstance(value, bool):
            lo, hi = (float(x) for x in spec[key])
            log = key == "log"
            if log and (lo <= 0 or value <= 0):
                return None
            f = math.log if log else float
            g = math.exp if log else float
            width = (f(hi) - f(lo)) * factor
            if width <= (math.log(1.5) if log else (1.0 if key == "int" else 0.0)):
                return None
            a = min(max(f(lo), f(value) - width / 2), f(hi) - width)
            bounds = [g(a), g(a + width)]
            new: list[float | int] = (
                [round(b) for b in bounds] if key == "int" else [float(f"{b:.3g}") for b in bounds]
            )
            return {**spec, key: new} if new != list(spec[key]) else None
    return None


def _flow(value: Any) -> str:
    """`value` as one line of flow-style YAML. A bare scalar is dumped as a document of its own,
    which PyYAML ends with the `...` marker: that marker must not land inside the policy block."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").strip()


# ---- editing the ```policy fence as text (the rest of the file stays byte-identical)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*policy\s*$")


def _fence(lines: list[str]) -> tuple[int, int] | None:
    """(first line inside, closing line) of the first ```policy fence."""
    for i, line in enumerate(lines):
        m = _FENCE.match(line.rstrip("\n"))
        if m:
            close = m.group(1)[0] * len(m.group(1))
            for j in range(i + 1, len(lines)):
                if lines[j].strip().startswith(close) and not lines[j].strip().strip(close[0]):
                    return i + 1, j
            return None
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], start: int, end: int, key: str, indent: int) -> tuple[int, int] | None:
    """Lines [i, j) of `key:` at `indent` and everything nested under it."""
    for i in range(start, end):
        line = lines[i]
        if _indent(line) == indent and re.match(rf"\s*{re.escape(key)}\s*:", line):
            j = i + 1
            while j < end and (not lines[j].strip() or _indent(lines[j]) > indent):
                j += 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1  # blank lines after the block belong to the file, not to the key
            return i, j
    return None


def _set_policy(text: str, keys: tuple[str, ...], value: Any) -> str | None:
    """`text` with policy key path `keys` set to `value` (None deletes it), as one flow-style
    line; None when the fence or the key's parent is not there."""
    lines = text.splitlines(keepends=True)
    span = _fence(lines)
    if span is None:
        return None
    start, end = span
    indent = 0
    for depth, key in enumerate(keys):
        found = _block(lines, start, end, key, indent)
        last = depth == len(keys) - 1
        if found is None:
            if not last or value is None:
                return None
            pad = " " * indent
            lines.insert(end, f"{pad}{key}: {_flow(value)}\n")
            return "".join(lines)
        i, j = found
        if last:
            new = [] if value is None else [f"{' ' * indent}{key}: {_flow(value)}\n"]
            return "".join(lines[:i] + new + lines[j:])
        children = [k for k in range(i + 1, j) if lines[k].strip()]
        if not children:
            return None  # a flow-style mapping on one line: leave it to a human
        start, end, indent = i + 1, j, _indent(lines[children[0]])
    return None


def _set_space(text: str, knob: str, spec: Any) -> str | None:
    return _set_policy(text, ("space", knob), spec)
