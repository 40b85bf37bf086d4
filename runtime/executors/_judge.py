"""Judging one experiment's result, the same on every executor: protected files hashed before and
after (`void` if changed), no code planted for the evaluation (`void`), the metric read from the
protected evaluation's output when there is one (the autoresearch `---` summary), finite (else
`crash`), the value the `measured_by` function returned where it was recorded (else `suspect`),
and not beyond the task's bound (else `suspect`).

Pure functions of files and output; nothing here starts a process.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._measure import judge as check_measured
from .base import ExperimentResult, ExperimentSpec

_NUMBER = r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|nan|inf|infinity))"


def parse_metric(output: str, name: str) -> float | None:
    """The metric from an autoresearch-style summary: the last `name: value` after the last `---`
    line, or the last such line anywhere when there is no `---` block."""
    text = metric_text(output, name)
    return None if text is None else float(text)


def metric_text(output: str, name: str) -> str | None:
    """`parse_metric`'s value as it was printed (its digits tell how it was rounded)."""
    lines = output.splitlines()
    cut = max((i for i, line in enumerate(lines) if line.strip() == "---"), default=-1)
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*[:=]\s*{_NUMBER}\s*$", re.IGNORECASE)
    for scope in (lines[cut + 1 :], lines) if cut >= 0 else (lines,):
        for line in reversed(scope):
            m = pattern.match(line)
            if m:
                return m.group(1)
    return None


def hash_files(root: Path, patterns: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif not path.exists():
                out[pattern] = "missing"
    for pattern in patterns:
        if not any(root.glob(pattern)):
            out[pattern] = "missing"
    return out


_IMPORTABLE = (".py", ".pyc", ".pth", ".so", ".pyd")


def importable_files(root: Path) -> dict[str, str]:
    """Hash of every file Python could import from `root`, and of every symlink (hidden folders
    and __pycache__ aside): what a training run must not add or change before the evaluation."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        here = Path(dirpath)
        for name in [*filenames, *dirnames]:
            path = here / name
            rel = str(path.relative_to(root))
            with contextlib.suppress(OSError):
                if path.is_symlink():
                    out[rel] = "link:" + os.readlink(path)
                elif name.endswith(_IMPORTABLE) and path.is_file():
                    out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def tampered(
    tree: Path, spec: ExperimentSpec, protected: dict[str, str], code: dict[str, str] | None
) -> tuple[str, str] | None:
    """Why the run's result cannot be trusted, as (status, reason); None when it can."""
    if not tree.is_dir() or not any(tree.iterdir()):
        return "crash", "the experiment deleted its tree"
    changed = _changed(protected, hash_files(tree, spec.protected))
    if changed:
        return "void", f"protected files changed: {changed}"
    if code is not None and (planted := _changed(code, importable_files(tree))):
        return "void", f"the run wrote code the evaluation would import: {planted[:5]}"
    return None


def judge(
    spec: ExperimentSpec,
    output: str,
    common: dict[str, Any],
    measured: list[float | None] | None = None,
) -> ExperimentResult:
    """The result of a run that exited cleanly. `measured`: what the `measured_by` function
    returned in the run (`_measure.returned`), held against the printed metric; None when the
    executor did not record it."""
    name = spec.metric.name
    text = metric_text(output, name)
    if text is None:
        where = "the evaluation's" if spec.evaluate else "the"
        return ExperimentResult(
            "crash", None, reason=f"no `{name}:` line in {where} output", **common
        )
    metric = float(text)
    if not math.isfinite(metric):
        return ExperimentResult("crash", None, reason=f"{name} is {metric}: not finite", **common)
    if spec.measured_by and not spec.evaluate and measured is not None:
        verdict = check_measured(metric, text, name, spec.measured_by, measured)
        if verdict.problem:
            return ExperimentResult(
                "suspect", metric, reason=verdict.problem, measured=verdict.measured, **common
            )
        common = {**common, "measured": verdict.measured}
    if spec.metric.beyond_bound(metric):
        reason = f"{metric} is beyond the bound {spec.metric.bound}: a leak, not a win"
        return ExperimentResult("suspect", metric, reason=reason, **common)
    return ExperimentResult("ok", metric, **common)


__all__ = ["hash_files", "importable_files", "judge", "metric_text", "parse_metric", "tampered"]
