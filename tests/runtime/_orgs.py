"""Orgs for runtime tests: the built-in tinylm org, scaffolded into a temp folder and made small."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from orgloop.runtime.core.git import Git
from orgloop.runtime.scaffold import init_org


def set_frontmatter(path: Path, **changes: Any) -> None:
    """Merge `changes` into a Markdown file's YAML frontmatter (nested dicts merge one level)."""
    text = path.read_text()
    _, fm, body = text.split("---\n", 2)
    data = yaml.safe_load(fm)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)


def small_org(
    root: Path,
    *,
    experiments: int = 4,
    baseline_runs: int = 2,
    meta_every: int = 100,
    confirm: int = 0,
    **more: Any,
) -> Path:
    """The built-in org with a small budget; TINYLM_BUDGET reaches the experiments. No
    confirmation reruns unless asked for (`confirm`): most tests are about something else."""
    init_org(root)
    set_frontmatter(
        root / "ORG.md",
        budget={"experiments": experiments},
        experiment={
            "baseline_runs": baseline_runs,
            "env": ["TINYLM_BUDGET"],
            "timeout": "60s",
            "confirm": confirm,
        },
        meta={"every": meta_every},
        **more,
    )
    Git(root).commit_all("test settings")
    return root


def use_engineer(root: Path, kind: str) -> Path:
    """The org with its engineer's policy `kind` set (the built-in one is `tpe`), committed."""
    path = root / "roles" / "engineer.md"
    path.write_text(re.sub(r"(?m)^kind: \w+$", f"kind: {kind}", path.read_text(), count=1))
    Git(root).commit_all(f"engineer: {kind}")
    return root


def knob(text: str, name: str) -> Any:
    m = re.search(rf"^{name} = (.+)$", text, re.MULTILINE)
    assert m, name
    return eval(m.group(1))  # the test's own file: constants only


def toy_score(files: dict[str, str]) -> float:
    """A deterministic stand-in for training, with an optimum every knob can move toward."""
    src = files["train.py"]
    return round(
        1.0
        + 0.2 * abs(math.log10(float(knob(src, "LR")) / 0.01))
        + 0.2 * abs(math.log10(float(knob(src, "INIT_SCALE")) / 0.5))
        + 0.0004 * abs(int(knob(src, "HIDDEN")) - 384)
        + 0.02 * abs(int(knob(src, "CONTEXT")) - 8)
        + 0.002 * abs(int(knob(src, "BATCH")) - 64)
        + 0.05 * (knob(src, "ACT") != "gelu"),
        6,
    )
