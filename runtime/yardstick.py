"""Classic hyperparameter search as a yardstick: the arms `orgloop batch ORG --vs tpe --vs random`
runs beside an org, and how the org compares with them seed by seed.

`make_yardstick(folder, kind)` turns a copy of an org into a plain search over the same task: its
roles are replaced by two, a searcher (named after the org's entry role; the offline brain's
`kind: tpe` or `kind: random`, Optuna's samplers over the org's engineer's `space`, or over the
task's own knobs when the org names none) that reads its own results and keeps what beats the
incumbent by more than the noise, and the org's sandbox role, with its limits, sending results back
to it. ORG.md stays as it is (same command, metric, budget, baseline runs and confirmation), so the
arm runs through the same sandbox, on the same seeds, at the same budget, and is judged by the same
rules and the same confirmation reruns. `paired` compares two arms' confirmed gap closed by seed.

What it does not do: tune the samplers, give them anything the org did not have (they see only
the metric), or run them outside orgloop's engine (their runs are ordinary run folders).
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..org import CLAUDE_AGENTS, load_org
from .brains.space import effective_space
from .core.confirm import sem

KINDS = ("tpe", "random")
"""The yardsticks: Optuna's TPE sampler and its random sampler."""
_ENGINEERS = ("tpe", "random", "mutate")
_NAMES = {"tpe": "TPE (Optuna)", "random": "random search (Optuna)"}


def search_space(folder: Path) -> dict[str, Any]:
    """The space a yardstick searches in the org at `folder`: its engineer's `space` (the first
    role whose offline policy has one), or the knobs of the first editable file."""
    org = load_org(folder)
    role_space: dict[str, Any] = {}
    for role in org.roles.values():
        if role.policy.kind in _ENGINEERS and isinstance(role.policy.data.get("space"), Mapping):
            role_space = dict(role.policy.data["space"])
            break
    target = org.program.experiment.editable[0]
    path = folder / target
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return effective_space(role_space, {target: text})


def make_yardstick(folder: Path, kind: str) -> None:
    """Rewrite the org copy at `folder` into a `kind` search over the same task (see the module
    docstring). Raises ValueError when the task has no knob to search."""
    if kind not in KINDS:
        raise ValueError(f"no yardstick {kind!r}; choose from {', '.join(KINDS)}")
    org = load_org(folder)
    space = search_space(folder)
    if not space:
        target = org.program.experiment.editable[0]
        raise ValueError(
            f"{target} has no module-level constants to search, and no role names a space"
        )
    entry, sandbox = org.program.entry, org.sandbox_roles()[0]
    for gone in (folder / "roles", folder / CLAUDE_AGENTS):
        if gone.is_dir():
            shutil.rmtree(gone)
    roles = folder / "roles"
    roles.mkdir()
    searcher = {
        "name": entry,
        "description": f"{_NAMES[kind]} over the task's knobs: the yardstick for the org.",
        "tools": ["read_file", "edit_file", "send", "decide"],
        "receives": ["kickoff", "result"],
        "sends": {"experiment": sandbox.name},
    }
    policy = yaml.safe_dump({"kind": kind, "space": space}, sort_keys=False, width=100)
    (roles / f"{entry}.md").write_text(
        _front(searcher)
        + f"A classic {_NAMES[kind]} search: every knob of the space at once, each proposal from "
        "what the run has measured, kept when it beats the incumbent by more than the noise.\n\n"
        f"```policy\n{policy}```\n",
        encoding="utf-8",
    )
    trainer = {
        "name": sandbox.name,
        "description": sandbox.description or "The sandbox: runs each experiment.",
        "kind": "sandbox",
        "receives": ["experiment"],
        "sends": {"result": entry},
        **({"limits": dict(sandbox.limits)} if sandbox.limits else {}),
    }
    (roles / f"{sandbox.name}.md").write_text(
        _front(trainer) + "orgloop's sandbox: it runs each experiment and reports the result.\n",
        encoding="utf-8",
    )
    if org.program.agents and (folder / "ORG.md").is_file():
        _drop_agents(folder / "ORG.md")


def _front(data: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(data, sort_keys=False, width=100) + "---\n"


def _drop_agents(path: Path) -> None:
    """ORG.md without `agents` (the places of roles the yardstick does not have). The copy's
    frontmatter is dumped again, so its comments go; the user's file is untouched."""
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    data = yaml.safe_load(front) or {}
    data.pop("agents", None)
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body, "utf-8")


@dataclass(frozen=True)
class Paired:
    """Arm `a` against arm `b` over the seeds both finished: per seed, a's figure minus b's."""

    a: str
    b: str
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.diffs) if self.diffs else None

    @property
    def sem(self) -> float | None:
        return sem(self.diffs)

    @property
    def wins(self) -> int:
        return sum(1 for d in self.diffs if d > 0)


def paired(figures: Mapping[str, Mapping[int, float | None]], a: str, b: str) -> Paired:
    """`figures[arm][seed]` (higher is better, e.g. the gap closed) of a against b, by seed."""
    seeds = sorted(
        s
        for s, v in figures.get(a, {}).items()
        if v is not None and figures.get(b, {}).get(s) is not None
    )
    diffs = tuple(float(figures[a][s]) - float(figures[b][s]) for s in seeds)  # type: ignore[arg-type]
    return Paired(a, b, tuple(seeds), diffs)


__all__ = ["KINDS", "Paired", "make_yardstick", "paired", "search_space"]
