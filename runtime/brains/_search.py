"""The offline brain's search engineers: `kind: tpe` (Optuna's TPE sampler) and `kind: random`
(Optuna's random sampler), over the role's `space` — or the task's own knobs when that space does
not match the editable file (`space.effective_space`).

Each turn rebuilds an Optuna study from the run's state, in experiment order: every candidate
the org had decided when the turn's message was sent is a finished trial (its parameters read
from the file it ran, its value the metric; a crash is a failed trial), the baseline runs are one
(their mean), and every other candidate is a running one, which TPE's constant liar steers away
from. An outcome that came back while the org was busy elsewhere waits for its decision, so the
proposals do not depend on how fast the machine is (`trials`).
`multivariate: true` models the knobs jointly (Optuna's multivariate TPE) rather than one by one. A
trial that ran a value outside the space (it was narrowed since) still counts with every knob: the
study models the space grown to hold what was measured, and each proposal is moved back inside the
space. The sampler is seeded from the turn's seed.
Nothing is kept between turns, so the same state gives the same proposals: a resumed run proposes
what the first session would have, and one seed gives one run on a fast machine or a busy one. A
proposal sets every knob of the space at once (a joint change), each constant edited where it
stands in the incumbent's file.

The same policy serves two places: an engineer that receives a `direction` sends one experiment
per message; a searcher that receives the `result`s itself (a classic HPO loop, `orgloop batch
--vs`) decides keep or discard on each, and sends `parallel` experiments at kickoff. A proposal the
toolbox refuses (a repeat of a change already run from this incumbent) is followed by the next.

What it does not do: search code beyond constants, learn across runs, or keep a study between
turns (a run of thousands of experiments rebuilds thousands of trials every turn).
"""

from __future__ import annotations

import ast
import functools
import json
import math
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...org import task_constants
from ..core.state import OK, ExperimentRecord, Message, RunState
from .base import TurnContext
from .space import effective_space

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

ATTEMPTS = 24
"""Proposals asked for in one turn before the engineer gives up on finding a new change."""
STARTUP = 5
"""Trials TPE samples at random before it models the good and the bad ones."""


@dataclass(frozen=True)
class Trial:
    """One experiment as the sampler sees it: the knob values it ran and what it scored."""

    params: Mapping[str, Any]
    value: float | None
    """The metric; None for a failed run or one still running."""
    running: bool = False


def distributions(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna distributions for a `space` (choice, log, range, int); entries of another shape
    are left out."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, BaseDistribution] = {}
    for name, spec in space.items():
        if not isinstance(spec, Mapping):
            continue
        if isinstance(spec.get("choice"), list) and spec["choice"]:
            out[name] = CategoricalDistribution(list(dict.fromkeys(spec["choice"])))
        for key in ("log", "range", "int"):
            bounds = spec.get(key)
            if not isinstance(bounds, list) or len(bounds) != 2:
                continue
            lo, hi = bounds
            if key == "int":
                out[name] = IntDistribution(int(lo), int(hi))
            elif float(lo) < float(hi) and (key == "range" or float(lo) > 0):
                out[name] = FloatDistribution(float(lo), float(hi), log=key == "log")
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def widened(
    dists: Mapping[str, BaseDistribution], past: list[Trial]
) -> dict[str, BaseDistribution]:
    """`dists` grown to hold every value of the same kind that `past` ran: a range stretched to
    the values measured beyond it, a choice list with the values measured outside it added.

    After a space is narrowed (the meta's edit), the trials outside the new box still tell the
    model what they scored with every knob; without this they would lose the knobs they ran
    outside it, and multivariate TPE, which models only the knobs every trial has, would fall
    back to sampling most knobs one by one."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, BaseDistribution] = {}
    for name, dist in dists.items():
        values = [t.params[name] for t in past if name in t.params]
        if isinstance(dist, CategoricalDistribution):
            extra = [
                v
                for v in values
                if isinstance(v, str | int | float | bool)
                and not any(type(v) is type(c) and v == c for c in dist.choices)
            ]
            out[name] = CategoricalDistribution([*dist.choices, *dict.fromkeys(extra)])
        elif isinstance(dist, IntDistribution):
            ints = [int(v) for v in values if _number(v) and v == int(v)]
            out[name] = IntDistribution(min([dist.low, *ints]), max([dist.high, *ints]))
        elif isinstance(dist, FloatDistribution):
            nums = [float(v) for v in values if _number(v) and (not dist.log or v > 0)]
            low, high = min([dist.low, *nums]), max([dist.high, *nums])
            out[name] = FloatDistribution(low, high, log=dist.log)
        else:
            out[name] = dist
    return out


def project(dist: BaseDistribution, value: Any) -> Any:
    """`value` moved into `dist`: a number clipped to its range, a choice outside the list
    replaced by the nearest numeric choice (or the first one)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        choices = list(dist.choices)
        if any(type(value) is type(c) and value == c for c in choices):
            return value
        numeric = [float(c) for c in choices if isinstance(c, int | float) and _number(c)]
        if _number(value) and numeric:
            i = min(range(len(numeric)), key=lambda j: abs(numeric[j] - float(value)))
            return [c for c in choices if isinstance(c, int | float) and _number(c)][i]
        return choices[0]
    low, high = getattr(dist, "low"), getattr(dist, "high")  # noqa: B009 - both number kinds
    clipped = min(high, max(low, value))
    return round(clipped) if isinstance(dist, IntDistribution) else clipped


def _inside(dist: BaseDistribution, value: Any) -> bool:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return any(type(value) is type(c) and value == c for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(dist, IntDistribution) and value != int(value):
        return False
    low, high = getattr(dist, "low"), getattr(dist, "high")  # noqa: B009 - both float kinds
    return bool(low <= value <= high)


def trials(
    state: RunState,
    target: str,
    read: Callable[[str, str], str | None],
    upto: Message | None = None,
) -> list[Trial]:
    """Every experiment of the run as a trial, in the order they were sent: the knob values of
    the `target` file it ran (from its message, or read at its base commit for a baseline) and
    its metric. Confirmation reruns repeat a trial already there and are left out.

    With `upto` (the message the turn handles), an outcome counts only if the org knew it when
    that message was sent, and is a running trial otherwise: a candidate once it was decided (or
    one sent after it was), a baseline run once it finished, the experiment `upto` reports on.
    The engineer proposes while the last experiment runs, and whether that one is back when the
    turn starts depends on how busy the machine is; decisions come in the org's own order, so
    one seed gives the same proposals on a fast machine and a slow one.

    The baseline runs are one trial, scored by their mean once they are all back: they repeat one
    configuration on several seeds to measure the noise, and as separate trials they would count
    one point of the landscape several times, both in TPE's model and in its `STARTUP` random
    trials (three baselines would leave two random proposals before TPE models)."""
    out: list[Trial] = []
    baselines: list[Trial] = []
    at = 0  # where the baseline trial stands in `out`
    started = {e.message: e for e in state.experiments.values()}
    known = _known(state, started, upto)
    for mid, msg in state.messages.items():
        d = msg.data
        if msg.kind != "experiment" or d.get("confirm"):
            continue
        exp = started.get(mid)
        if exp is None and mid not in state.pending:
            continue  # never delivered: its turn did not complete
        text = (d.get("files") or {}).get(target)
        if text is None:
            text = read(exp.base if exp is not None else str(d.get("base", "")), target)
        if text is None:
            continue
        params = _values(text)
        if exp is None or not exp.finished or not known(exp):
            trial = Trial(params, None, running=True)
        else:
            ok = exp.status == OK and exp.metric is not None and math.isfinite(exp.metric)
            trial = Trial(params, exp.metric if ok else None)
        if d.get("baseline"):
            if not baselines:
                at = len(out)
            baselines.append(trial)
        else:
            out.append(trial)
    if baselines:
        out.insert(at, _one(baselines))
    return out


def _known(
    state: RunState, started: Mapping[str, ExperimentRecord], upto: Message | None
) -> Callable[[ExperimentRecord], bool]:
    """Whether an experiment's outcome was known when `upto` was sent (see `trials`)."""
    if upto is None:
        return lambda e: e.finished
    horizon, named = upto.seq, upto.data.get("experiment") if upto.kind == "result" else None
    order = {mid: i for i, mid in enumerate(state.messages)}
    decided = [order[e.message] for e in started.values() if 0 <= e.decided_seq < horizon]
    last = max(decided, default=-1)  # an undecided one sent before it was passed over

    def known(e: ExperimentRecord) -> bool:
        if e.id == named or 0 <= e.decided_seq < horizon:
            return True
        back = 0 <= e.finished_seq < horizon
        return back and (e.baseline or order.get(e.message, last + 1) < last)

    return known


def _one(runs: list[Trial]) -> Trial:
    """The baseline runs as one trial: running while any is, else the mean of those that
    scored (failed when none did)."""
    if any(t.running for t in runs):
        return Trial(runs[0].params, None, running=True)
    values = [t.value for t in runs if t.value is not None]
    return Trial(runs[0].params, sum(values) / len(values) if values else None)


@functools.lru_cache(maxsize=1024)
def _values(text: str) -> dict[str, Any]:
    """The constants of a file by name (cached by content: an experiment's file is read again
    every turn, and parsing it is what a turn spends most on)."""
    return {n: c.value for n, c in task_constants(text).items()}


class Sampler:
    """A study rebuilt from `trials` over `space`, asked for one proposal at a time."""

    def __init__(
        self,
        kind: str,
        space: Mapping[str, Any],
        past: list[Trial],
        seed: int,
        goal: str,
        *,
        multivariate: bool = False,
    ) -> None:
        import optuna
        from optuna.trial import TrialState, create_trial

        # ERROR: multivariate TPE logs a warning for every knob it samples on its own (a knob
        # outside a narrowed space in some trials), which is expected here, not a fault
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.dists = distributions(space)
        self.model = widened(self.dists, past)
        """What the study models: the space, grown to hold what the run measured outside it."""
        with warnings.catch_warnings():  # constant_liar is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler: optuna.samplers.BaseSampler = (
                optuna.samplers.TPESampler(
                    seed=seed,
                    n_startup_trials=STARTUP,
                    constant_liar=True,
                    multivariate=multivariate,
                )
                if kind == "tpe"
                else optuna.samplers.RandomSampler(seed=seed)
            )
        self.study = optuna.create_study(
            direction="maximize" if goal == "maximize" else "minimize", sampler=sampler
        )
        for t in past:
            known = {k: v for k, v in t.params.items() if k in self.model}
            params = {k: v for k, v in known.items() if _inside(self.model[k], v)}
            if not params:
                continue
            state = (
                TrialState.RUNNING
                if t.running
                else (TrialState.COMPLETE if t.value is not None else TrialState.FAIL)
            )
            self.study.add_trial(
                create_trial(
                    params=params,
                    distributions={k: self.model[k] for k in params},
                    value=t.value if state == TrialState.COMPLETE else None,
                    state=state,
                )
            )

    def ask(self) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's experimental-feature notices
            asked = self.study.ask(self.model).params
        # proposals land inside the space, however far the model's box reaches
        return {k: project(self.dists[k], v) for k, v in asked.items()}


def seed_of(text: str) -> int:
    """A sampler seed from the turn's seed string (stable across runs and resumes)."""
    return zlib.crc32(text.encode("utf-8"))


def _format(value: Any, spec: Mapping[str, Any]) -> str:
    """A value as the constant's text: three significant digits for a float in a range (kept
    inside the range after rounding), the literal for everything else."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and not isinstance(value, bool):
        bounds = spec.get("log") or spec.get("range")
        rounded = float(f"{value:.3g}")
        if isinstance(bounds, list) and len(bounds) == 2:
            rounded = min(float(bounds[1]), max(float(bounds[0]), rounded))
        text = f"{rounded:.3g}"
        return text if "e" not in text else repr(rounded)
    return repr(value)


def written(text: str, params: Mapping[str, Any], space: Mapping[str, Any]) -> tuple[str, str]:
    """`text` with every knob of `params` set where it stands, and the change in one line
    (`LR 0.003 -> 0.0102, HIDDEN 128 -> 256`); the line is '' when nothing changed."""
    found = task_constants(text)
    edits, changes = [], []
    for name, value in params.items():
        c = found.get(name)
        if c is None:
            continue
        new = _format(value, space.get(name) or {})
        if new == c.text(text) or _same(c.value, new):
            continue
        edits.append((c.start, c.end, new))
        changes.append(f"{name} {c.text(text)} -> {new}")
    for start, end, new in sorted(edits, reverse=True):  # from the end: offsets stay true
        text = text[:start] + new + text[end:]
    return text, ", ".join(changes)


def _same(value: Any, text: str) -> bool:
    try:
        new = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False
    return type(new) is type(value) and bool(new == value)


def search(ctx: TurnContext, kind: str) -> None:
    """One turn of a search engineer (see the module docstring)."""
    msg, policy = ctx.message, ctx.role.policy.data
    if msg.kind == "result" and msg.data.get("experiment"):
        _decide(ctx, str(msg.data["experiment"]))
    count = 1
    if msg.kind == "kickoff":
        count = ctx.org.program.experiment.parallel + int(policy.get("runahead", 0))
    target = ctx.org.program.experiment.editable[0]
    source = ctx.call("read_file", path=target)
    text = source.value if source.ok and isinstance(source.value, str) else ""
    space = effective_space(dict(policy.get("space") or {}), {target: text})
    if not text or not distributions(space):
        why = source.content[:200] if not source.ok else f"{target} has no knobs to search"
        if ctx.role.receivers("question"):
            ctx.call("send", kind="question", body=f"Cannot act on this: {why}")
        return
    past = trials(ctx.state, target, ctx.file_at, msg)
    sampler = Sampler(
        kind,
        space,
        past,
        seed_of(ctx.seed),
        ctx.org.program.metric.goal,
        multivariate=bool(policy.get("multivariate", False)),
    )
    for _ in range(count):
        if not _propose(ctx, sampler, target, text, space):
            if ctx.role.receivers("question"):
                ctx.call("send", kind="question", body="Every change I can make was tried.")
            return


def _propose(
    ctx: TurnContext, sampler: Sampler, target: str, text: str, space: Mapping[str, Any]
) -> bool:
    for _ in range(ATTEMPTS):
        new, change = written(text, sampler.ask(), space)
        if not change:
            continue
        ctx.call("edit_file", path=target, content=new)
        sent = ctx.call("send", kind="experiment", body=change)
        if sent.ok:
            return True
        if "repeats" not in sent.content and "already sent" not in sent.content:
            return False  # the budget or an edge limit: asking again will not help
    return False


def _decide(ctx: TurnContext, exp: str) -> None:
    """A searcher keeps what beats the incumbent by more than the noise (the rule decides)."""
    d = ctx.message.data
    if d.get("status") == OK and d.get("metric") is not None:
        kept = ctx.call("decide", experiment=exp, verdict="keep", reason="beats the incumbent")
        if kept.ok:
            return
        ctx.call("decide", experiment=exp, verdict="discard", reason=kept.content[:300])
        return
    ctx.call("decide", experiment=exp, verdict="discard", reason=f"{d.get('status')}")


__all__ = [
    "Sampler",
    "Trial",
    "distributions",
    "project",
    "search",
    "seed_of",
    "trials",
    "widened",
    "written",
]
