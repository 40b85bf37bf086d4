"""An autoresearch repository read as an org, with no edits: program.md, train.py, prepare.py.

program.md is the program's body; the rest are autoresearch's defaults: the metric `val_bpb`
(minimize), `uv run train.py` (`python train.py` where uv is missing) with a 10-minute limit,
train.py editable, prepare.py protected, and no experiment budget, because program.md's loop
runs until a human stops it. Where the folder allows it, more of program.md is honoured:

- results.tsv goes where program.md names it (`results.tsv` at the top by default);
- when prepare.py defines `evaluate_bpb`, the metric is what that function returned in the
  experiment's process (`Experiment.measured_by`), recorded by the sandbox;
- when program.md has a simplicity criterion, the reviewer gets it as a policy (`SIMPLICITY`):
  added lines must be paid for by improvement, and deleting code for an equal result is a keep.

What it does not do: read program.md's prose for anything else (the roles read it), or check
that train.py prints val_bpb (the first experiment does).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from ._model import Budget, Experiment, Finding, Meta, Metric, Policy, Program, Role
from ._parse import read_text

RESULTS = "results.tsv"
MEASURED_BY = "prepare.evaluate_bpb"
SIMPLICITY: Mapping[str, float] = {"gain": 0.001, "lines": 20}
"""program.md's own example: a 0.001 val_bpb gain is not worth 20 added lines. A change that adds
`lines` lines must gain more than `gain`; fewer lines need proportionally less."""

_RESULTS_NAME = re.compile(r"`([\w./-]*results[\w.-]*\.tsv)`", re.IGNORECASE)
_SIMPLICITY = re.compile(r"simplicity criterion", re.IGNORECASE)
_EVALUATE = re.compile(r"^def evaluate_bpb\s*\(", re.MULTILINE)


def autoresearch_program(root: Path, findings: list[Finding]) -> Program | None:
    """An autoresearch folder's program: program.md is the objective, the rest are its defaults."""
    path = root / "program.md"
    text = read_text(path, findings)
    if text is None:
        return None
    command = "uv run train.py" if shutil.which("uv") else "python train.py"
    prepare = root / "prepare.py"
    return Program(
        path=path,
        name=root.resolve().name,
        entry="pi",
        metric=Metric("val_bpb", "minimize"),
        experiment=Experiment(
            command=command,
            timeout=600.0,
            editable=("train.py",),
            protected=("prepare.py",) if prepare.exists() else (),
            measured_by=MEASURED_BY if _defines_evaluate(prepare) else None,
        ),
        budget=Budget(experiments=None),
        meta=Meta(),
        body=text,
        body_line=1,
        results=results_file(text),
    )


def results_file(program: str) -> str:
    """Where program.md logs results: the first `…results….tsv` it names in backquotes that is
    a plain path inside the folder, else results.tsv."""
    for m in _RESULTS_NAME.finditer(program):
        parts = PurePosixPath(m.group(1)).parts
        if parts and ".." not in parts and not m.group(1).startswith(("/", "~")):
            return m.group(1)
    return RESULTS


def with_simplicity(roles: dict[str, Role], program: Program) -> dict[str, Role]:
    """The roles, with program.md's simplicity criterion given to the reviewer (the role whose
    policy is `kind: review`) unless its policy says otherwise already."""
    if not _SIMPLICITY.search(program.body):
        return roles
    out = dict(roles)
    for name, role in roles.items():
        if role.policy.kind == "review" and "simplicity" not in role.policy.data:
            data: dict[str, Any] = {**role.policy.data, "simplicity": dict(SIMPLICITY)}
            out[name] = replace(role, policy=Policy(data, role.policy.line, role.policy.lines))
    return out


def _defines_evaluate(prepare: Path) -> bool:
    try:
        return prepare.is_file() and bool(_EVALUATE.search(prepare.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


__all__ = ["MEASURED_BY", "RESULTS", "SIMPLICITY", "autoresearch_program", "results_file"]
