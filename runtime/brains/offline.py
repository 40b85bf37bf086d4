"""The OfflineBrain: deterministic research policies, one per role, driven by `policy` blocks.

No API key, no network: the whole org runs reproducibly (the same seed gives the same events). Each
role's policy block names its `kind`; the brain dispatches on it:

- lead (PI): sends directions — exploit the knob that last won, explore another after `patience`
  experiments without a keep — and decides keep or discard as the reviewer recommends. It sends
  as many as the run-ahead asks (`ctx.runahead`: enough to keep the slots busy at the measured
  pace); before a measure, one per slot plus `runahead` at kick-off and one per review.
- mutate (engineer): makes one real edit to the incumbent's `NAME = value` line for the knob it
  was told (or one it picks), sampling inside the policy's `space` — or, when the editable file
  does not define the space's knobs, inside the task's own (`space.effective_space`).
- tpe / random (engineer, or a searcher that reads its own results): proposes every knob of the
  space at once with Optuna's TPE or random sampler, rebuilt from the run's experiments each
  turn (`_search.py`).
- critic: flags crashes, timeouts, NaN, results beyond the bound, void and implausible jumps.
- review: noise-aware — recommends keep only beyond `sigmas` baseline sigmas (and `min_delta`),
  and under `simplicity` only what is worth the lines it adds (`rules.worth_keeping`).
- meta: proposes a policy edit from the evidence (see `meta_edit`).
Every effect goes through the same tools an LLM would call, so the runtime's rules apply.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from typing import Any

from ...org import Constant, Role, task_constants, tool_names
from ..core.rules import worth_keeping
from ..core.state import OK, RunState
from .base import TurnContext
from .space import effective_space

BLOCKING = {"crash", "timeout", "nan", "beyond-bound", "protected", "void", "suspect", "lost"}


class OfflineBrain:
    name = "offline"

    async def turn(self, ctx: TurnContext) -> None:
        kind = ctx.role.policy.kind
        handler = getattr(self, "_" + kind.replace("-", "_"), None)
        if handler is None:  # a role with no policy answers by forwarding nothing: turn ends
            return
        handler(ctx, random.Random(ctx.seed))

    # ---- PI
    def _lead(self, ctx: TurnContext, rng: random.Random) -> None:
        msg, policy = ctx.message, ctx.role.policy.data
        count = 1
        if msg.kind == "kickoff":
            # one experiment per slot plus `runahead` being thought about, so no slot waits for
            # the critic, reviewer, PI and engineer to finish with the last result
            count = ctx.org.program.experiment.parallel + int(policy.get("runahead", 1))
        elif msg.kind == "review":
            exp = msg.data.get("experiment", "")
            verdict = "keep" if msg.data.get("recommend") == "keep" else "discard"
            result = ctx.call("decide", experiment=exp, verdict=verdict, reason=msg.body[:300])
            if not result.ok and verdict == "keep":
                ctx.call("decide", experiment=exp, verdict="discard", reason=result.content)
        ahead = ctx.runahead  # measured: as many as keep the slots busy, within the budget
        for _ in range(count if ahead is None else ahead):
            knob, why = self._choose_knob(ctx, rng, policy)
            if not ctx.call("send", kind="direction", body=f"Change {knob}: {why}").ok:
                break  # the budget is covered, or the turn's sends are used up

    def _choose_knob(self, ctx: TurnContext, rng: random.Random, policy: Any) -> tuple[str, str]:
        space = _engineer_space(ctx)
        knobs = list(space) or ["LR"]
        history = _history(ctx.state)
        patience = int(policy.get("patience", 3))
        streak = 0
        for _, kept in reversed(history):
            if kept:
                break
            streak += 1
        last_win = next((k for k, kept in reversed(history) if kept and k in knobs), None)
        if rng.random() < float(policy.get("explore", 0.25)):
            return rng.choice(knobs), "exploring a random knob"
        if last_win and streak < patience:
            return last_win, f"it improved the metric last time ({streak} misses since)"
        tries = Counter(k for k, _ in history)
        fewest = min(tries.get(k, 0) for k in knobs)
        options = [k for k in knobs if tries.get(k, 0) == fewest]
        return rng.choice(options), f"least tried so far ({fewest} tries); {streak} misses in a row"

    # ---- engineer
    def _mutate(self, ctx: TurnContext, rng: random.Random) -> None:
        target = ctx.org.program.experiment.editable[0]
        source = ctx.call("read_file", path=target)
        text = source.value if source.ok and isinstance(source.value, str) else ""
        space = effective_space(dict(ctx.role.policy.data.get("space") or {}), {target: text})
        if not text or not space:
            why = source.content[:200] if not source.ok else f"{target} has no knobs to search"
            ctx.call("send", kind="question", body=f"Cannot act on this: {why}")
            return
        wanted = re.match(r"Change (\w+)", ctx.message.body)
        knobs = list(space)
        order = ([wanted.group(1)] if wanted and wanted.group(1) in space else []) + [
            k for k in rng.sample(knobs, len(knobs))
        ]
        found = task_constants(text)
        for knob in order:
            c = found.get(knob)
            if c is None:
                continue
            old_text = c.text(text)
            new_value = _sample(space[knob], c.value, rng)
            if new_value is None:
                continue
            new_text = _format(new_value)
            if new_text == old_text or new_value == c.value:
                continue
            edit = ctx.call("edit_file", path=target, **_line_edit(text, c, new_text))
            if not edit.ok:
                continue
            sent = ctx.call("send", kind="experiment", body=f"{knob} {old_text} -> {new_text}")
            if sent.ok:
                return
            # refused (a repeat of a change already tried from this incumbent): undo the edit
            # and try the next knob
            ctx.call("edit_file", path=target, content=text)
        ctx.call("send", kind="question", body="No knob in my space can be changed in this file.")

    def _tpe(self, ctx: TurnContext, rng: random.Random) -> None:
        from ._search import search  # optuna is imported only by the roles that search with it

        search(ctx, "tpe")

    def _random(self, ctx: TurnContext, rng: random.Random) -> None:
        from ._search import search

        search(ctx, "random")

    # ---- critic and reviewer
    def _critic(self, ctx: TurnContext, rng: random.Random) -> None:
        d, policy = ctx.message.data, ctx.role.policy.data
        flags = []
        status = d.get("status")
        if status in ("crash", "timeout", "void", "suspect", "lost"):
            flags.append(f"{status}: {d.get('reason', '')}".strip())
        metric, bound = d.get("metric"), ctx.org.program.metric.bound
        if status == OK and (metric is None or not math.isfinite(metric)):
            flags.append("nan: the metric is not finite")
        if metric is not None and ctx.org.program.metric.beyond_bound(metric):
            flags.append(f"beyond-bound: {metric} is past the task's limit {bound}")
        inc, noise = d.get("incumbent_metric"), d.get("noise")
        if status == OK and metric is not None and inc is not None and noise:
            jump = ctx.org.program.metric.gain(metric, inc) / noise
            if jump > float(policy.get("too_good_sigmas", 25)):
                flags.append(f"too-good: {jump:.0f} sigma better than the incumbent; rerun it")
        body = "\n".join(flags) or "no flags"
        data = {**d, "flags": [f.split(":")[0] for f in flags]}
        ctx.call("send", kind="checked", body=f"{ctx.message.body}\n\n{body}", data=data)

    def _review(self, ctx: TurnContext, rng: random.Random) -> None:
        d, policy = ctx.message.data, ctx.role.policy.data
        metric_def = ctx.org.program.metric
        metric, inc = d.get("metric"), ctx.state.incumbent_metric
        sigma = ctx.state.noise or 0.0
        k = float(policy.get("sigmas", 2.0))
        margin = max(float(policy.get("min_delta", 0.0)), k * sigma)
        flags = set(d.get("flags", [])) & BLOCKING
        gain = metric_def.gain(metric, inc) if metric is not None and inc is not None else None
        lines = d.get("lines") or {}
        added, removed = int(lines.get("added", 0)), int(lines.get("removed", 0))
        short = worth_keeping(ctx.org, ctx.state, gain, added, removed) if gain is not None else "?"
        keep = not flags and d.get("status") == OK and gain is not None and not short
        sig = f"{gain / sigma:.1f} sigma" if gain is not None and sigma else f"noise {sigma:g}"
        verdict = "KEEP" if keep else "DISCARD"
        why = (
            f"flags: {', '.join(sorted(flags))}"
            if flags
            else f"delta {gain if gain is None else round(gain, 6)} ({sig}); "
            + (short if short and short != "?" else f"needs more than {margin:.6f}")
            + f"; +{added}/-{removed} lines"
        )
        data = {**d, "recommend": "keep" if keep else "discard", "gain": gain, "margin": margin}
        ctx.call("send", kind="review", body=f"{verdict} {d.get('experiment')}: {why}", data=data)

    # ---- meta
    def _meta(self, ctx: TurnContext, rng: random.Random) -> None:
        from ._policy_edit import offline_proposal

        proposal = offline_proposal(ctx)
        if proposal is None:
            ctx.call("note", text=f"{ctx.message.body}: no edit; the evidence is too thin")
            return
        path, content, rationale = proposal
        ctx.call("edit_file", path=path, content=content, rationale=rationale)


def _engineer_space(ctx: TurnContext) -> dict[str, Any]:
    """What the engineer the directions go to will search: its `space`, or the task's own knobs
    when the editable file does not define them (the PI reads that file to know)."""
    for to in ctx.role.receivers("direction"):
        role: Role | None = ctx.org.roles.get(to)
        if role is not None:
            space = dict(role.policy.data.get("space") or {})
            target = ctx.org.program.experiment.editable[0]
            read = (
                ctx.call("read_file", path=target) if "read_file" in tool_names(ctx.role) else None
            )
            text = read.value if read is not None and read.ok else None
            return effective_space(space, {target: text}) if isinstance(text, str) else space
    return {}


def _line_edit(text: str, c: Constant, new_text: str) -> dict[str, str]:
    """edit_file's arguments for setting constant `c` to `new_text`: its line, unless that line
    is not unique in the file (then the whole file)."""
    start = text.rfind("\n", 0, c.start) + 1
    end = text.find("\n", c.end)
    end = len(text) if end < 0 else end
    line = text[start:end]
    new_line = line[: c.start - start] + new_text + line[c.end - start :]
    if text.count(line) == 1:
        return {"old_string": line, "new_string": new_line}
    return {"content": text[: c.start] + new_text + text[c.end :]}


def _history(state: RunState) -> list[tuple[str, bool]]:
    """(knob, kept) for every decided experiment, from its description `KNOB old -> new`."""
    out = []
    for e in state.decided():
        knob = e.description.split(" ", 1)[0]
        out.append((knob, e.decision == "keep"))
    return out


def _format(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.3g}" if "e" not in f"{value:.3g}" else repr(float(f"{value:.3g}"))
    return repr(value)


def _sample(spec: Any, current: Any, rng: random.Random) -> Any:
    """A new value for a knob: another choice, or a log-normal step inside a log range."""
    if not isinstance(spec, dict):
        return None
    if "choice" in spec:
        options = [o for o in spec["choice"] if o != current]
        return rng.choice(options) if options else None
    if "log" in spec or "range" in spec:
        lo, hi = (float(x) for x in spec.get("log") or spec.get("range") or (0.0, 0.0))
        if isinstance(current, int | float) and current > 0:
            value = float(current) * math.exp(rng.gauss(0.0, 0.8))
        else:
            value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        value = min(hi, max(lo, value))
        return float(f"{value:.3g}")
    if "int" in spec:
        lo, hi = (int(x) for x in spec["int"])
        options = [v for v in range(lo, hi + 1) if v != current]
        return rng.choice(options) if options else None
    return None
