"""An org's files for a task of the user's own: a script that trains something and prints a metric.

`task_files(source, ...)` gives ORG.md and the default roles for it: the metric is the name the
script prints (`val_loss: 0.12`, found in its print calls unless given), the command runs the
script, the script is the one editable file, and the engineer's `space` is the script's own
module-level constants (`brains.space.task_space`), so the offline engineer searches what the
script has. Nothing is protected: the ORG.md body says how to move the evaluation into a
protected file of its own (`experiment.evaluate`).

Pure text in, text out; `scaffold.py` writes and commits the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..org import default_roles_dir, task_constants
from .brains.space import task_space

_PRINTED = re.compile(r"""print\(\s*f?["']\s*([A-Za-z_][\w.]*)\s*[:=]""")
_MAXIMIZE = ("acc", "score", "reward", "auc", "f1", "precision", "recall", "bleu", "iou", "map")
_SPACE = re.compile(r"(```policy\n(?:(?!```).)*?^space:\n)((?:^[ \t]+.*\n)+)", re.S | re.M)


class TaskError(ValueError):
    """The script cannot become an org as it is; the message says what to add or pass."""


def printed_metrics(source: str) -> list[str]:
    """Names the script prints as `name: value` or `name=value`, in order of first appearance."""
    out: list[str] = []
    for name in _PRINTED.findall(source):
        if name not in out:
            out.append(name)
    return out


def choose_metric(source: str, script: str, metric: str | None) -> str:
    if metric is not None:
        return metric
    names = printed_metrics(source)
    if len(names) > 1:
        validation = [n for n in names if n.startswith(("val", "eval", "test"))]
        names = validation if len(validation) == 1 else names
    if len(names) == 1:
        return names[0]
    found = ", ".join(names) if names else 'no `print(f"name: {value}")` line'
    raise TaskError(f"which metric does {script} report? found {found}; pass --metric NAME")


def default_goal(metric: str) -> str:
    return "maximize" if any(part in metric.lower() for part in _MAXIMIZE) else "minimize"


def task_files(
    source: str, script: str, name: str, metric: str | None = None, goal: str | None = None
) -> dict[str, str]:
    """Relative path -> text: ORG.md and roles/*.md for the script `script` (its text
    `source`), an org named `name`."""
    chosen = choose_metric(source, script, metric)
    space = task_space({script: source})
    if not space:
        raise TaskError(
            f"{script} has no module-level settings to search: put them at the top, one per "
            'line (`LR = 0.01`, `HIDDEN = 64`, `ACT = "tanh"`)'
        )
    files = {"ORG.md": _org_md(source, script, name, chosen, goal or default_goal(chosen))}
    for src in sorted(default_roles_dir().glob("*.md")):
        files[f"roles/{src.name}"] = src.read_text(encoding="utf-8")
    files["roles/engineer.md"] = with_space(files["roles/engineer.md"], space)
    return files


def with_space(engineer: str, space: Mapping[str, Any]) -> str:
    """The engineer role file with its policy's `space` replaced by `space`."""
    lines = "".join(f"  {knob}: {_flow(entry)}\n" for knob, entry in space.items())
    new, n = _SPACE.subn(lambda m: m.group(1) + lines, engineer, count=1)
    if n != 1:  # the default library changed: this module must follow it
        raise TaskError("the default engineer has no `space:` in its policy block")
    return new


def _flow(entry: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in entry.items()) + "}"


def _org_md(source: str, script: str, name: str, metric: str, goal: str) -> str:
    knobs = ", ".join(f"`{k}`" for k in task_constants(source))
    lower = "low" if goal == "minimize" else "high"
    return f"""---
name: {json.dumps(name)}
entry: pi
metric: {{name: {json.dumps(metric)}, goal: {goal}}}
experiment:
  command: python {script}
  timeout: 5m
  editable: [{script}]
  baseline_runs: 3
budget: {{experiments: 10}}
meta: {{every: 4, editable: ["roles/*.md"]}}
---
# Objective

Make `{metric}` as {lower} as possible by changing `{script}`. Say here what the task is and
what a good change looks like: every role reads this.

# The task

- `{script}` is the file the engineer changes. Its settings are its module-level constants
  ({knobs}); the code under them may change too.
- The metric is the last `{metric}: <number>` line `{script}` prints. Nothing here protects it:
  for a score an experiment cannot fake, move the evaluation into a file of its own, list it in
  `experiment.protected`, and set `experiment.evaluate` to the command that prints the metric.
"""


__all__ = ["TaskError", "choose_metric", "default_goal", "printed_metrics", "task_files"]
