"""The meta desk: when the org looks at its own Markdown, which edits it may make, and their fate.

- Windows. After every committed decision the engine calls `after_decisions()`. A window closes
  after `meta.every` decided experiments, or early on a plateau (`meta.plateau` decided with no
  keep); the meta roles (those receiving `window`) get a `window` message whose data carries the
  window's numbers: the incumbent at its start, its best result and its improvement (best-of-window
  gain over that incumbent, floored at 0). Windows are recovered from the messages on resume.
- Proposals. When a meta turn edited files the engine calls `propose()`. Guardrails, in code: one
  existing role file per proposal, editable by `meta.editable`, nothing protected (ORG.md, the
  experiment's protected files, the meta roles' own files, sandbox roles' files, any role's `kind`
  or `limits`, who receives `window`), at most `meta.max_lines` changed lines, and the org must
  still parse and lint. A refusal is an `org_rejected` event; the org and the branch stay as they
  were. An accepted edit is committed on the incumbent by "orgloop meta" with the generation, the
  rationale and the evidence, then `org_edited`; the branch moves once the turn is durable
  (`settle()`). With `meta.approve: human` it waits as `org_proposed` until `answer()`.
- Measurement. The window after an edit measures it: if its improvement is worse than the window
  before by more than the keep margin (k sigma of the baseline noise, or the reviewer's floor), the
  edit is reverted by a new commit (`org_reverted`); either way the verdict rides in the next
  `window` message's `measured`.
- `offline_proposal(ctx)`: the offline meta policy — narrow the engineer's range around a win,
  drop a knob that never helped, change the PI's patience — written into the ```policy fence
  textually, so the rest of the file stays byte-identical.

What it does not do: judge prose (an LLM meta may sharpen a prompt; only its size and the org's
validity are checked), or measure human edits (they are the human's to keep).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml

from ..org import HUMAN, Org, Role
from ._git import META, Git
from .brain import TurnContext
from .events import read_events
from .reload import (
    LiveEdits,
    apply_edit,
    candidate,
    changed_lines,
    commit_file,
    merge3,
    next_generation,
    role_at,
    role_file,
    settle_moves,
    unified,
)
from .state import OK
from .tools import matches

if TYPE_CHECKING:
    from ..org import Metric
    from .engine import Engine
    from .events import Event

_INCUMBENT_EVENTS = frozenset(
    {"run_started", "run_resumed", "decision", "org_edited", "org_reverted"}
)


class MetaDesk:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.live = LiveEdits(engine)
        self._moves: list[tuple[str, str]] = []
        self._incumbents: list[tuple[int, str]] = []
        self._prior = engine.log.next_seq
        self._pending: dict[int, dict[str, Any]] | None = None
        self._windows: list[dict[str, Any]] | None = None
        engine.listeners.append(self._track)

    def meta_roles(self) -> list[Role]:
        return [r for r in self.engine.org.roles.values() if "window" in r.receives]

    # ---- the engine's hooks
    def watch(self) -> None:
        self.live.start()

    def unwatch(self) -> None:
        self.live.stop()

    def poll(self) -> None:
        """A safe point of the engine's loop: apply human edits that have settled on disk."""
        self.live.poll()

    @property
    def unsettled(self) -> bool:
        return bool(self._moves)

    def settle(self) -> None:
        """After a turn's events are durable: move the branch for its accepted edit, reload."""
        moves, self._moves = self._moves, []
        settle_moves(self.engine, moves)

    def keep_tree(self, commit: str, incumbent: str) -> str:
        """The tree a keep of `commit` commits: the experiment's, with the files org edits
        touched taken from the incumbent (an experiment started before an org edit, or before its
        revert, must not undo it)."""
        repo = self.engine.repo
        tree = repo.run("rev-parse", f"{commit}^{{tree}}").strip()
        paths = sorted({str(e["file"]) for e in self.engine.state.org_edits if e.get("file")})
        stale = [p for p in paths if _blob(repo, commit, p) != _blob(repo, incumbent, p)]
        if not stale:
            return tree
        return repo.tree_with(commit, {p: self.engine.read_at(incumbent, p) or "" for p in stale})

    # ---- windows
    def windows(self) -> list[dict[str, Any]]:
        """The closed windows, oldest first (the data of their `window` messages)."""
        if self._windows is None:
            seen: dict[int, dict[str, Any]] = {}
            for m in self.engine.state.messages.values():
                if m.kind == "window" and m.sender == HUMAN and "decided" in m.data:
                    seen.setdefault(int(m.data["window"]), m.data)
            self._windows = [seen[k] for k in sorted(seen)]
        return self._windows

    def after_decisions(self) -> None:
        roles = self.meta_roles()
        if not roles:
            return
        s, cfg, metric = (
            self.engine.state,
            self.engine.org.program.meta,
            self.engine.org.program.metric,
        )
        windows = self.windows()
        done = {i for w in windows for i in w["experiments"]}
        fresh = [e for e in s.decided() if e.id not in done]
        kept = any(e.decision == "keep" for e in fresh)
        trigger = (
            "every"
            if len(fresh) >= cfg.every
            else "plateau"
            if len(fresh) >= cfg.plateau and not kept
            else ""
        )
        if not trigger:
            return
        base = s.baselines
        start = windows[-1]["end_metric"] if windows else (sum(base) / len(base) if base else None)
        results = [e.metric for e in fresh if e.status == OK and e.metric is not None]
        best = _best(metric, results)
        gain = metric.gain(best, start) if best is not None and start is not None else 0.0
        n = len(windows) + 1
        data: dict[str, Any] = {
            "window": n,
            "experiments": [e.id for e in fresh],
            "trigger": trigger,
            "decided": len(s.decided()),
            "start_metric": start,
            "end_metric": s.incumbent_metric,
            "best": best,
            "improvement": round(max(0.0, gain), 6),
        }
        data["measured"] = [self._measure(edit, n, data, windows) for edit in self._due(n)]
        ids = ", ".join(data["experiments"])
        body = f"window {n} ({trigger}): {ids}; improvement {data['improvement']}"
        for role in roles:
            self.engine._send(HUMAN, role.name, "window", body, data)
        windows.append(data)
        s.windows = n

    def _due(self, n: int) -> list[dict[str, Any]]:
        return [
            e
            for e in self.engine.state.org_edits
            if e.get("author") == "meta" and not e.get("reverted") and e.get("window") == n - 1
        ]

    def _measure(
        self, edit: dict[str, Any], n: int, data: dict[str, Any], windows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        before = float(windows[n - 2]["improvement"]) if n >= 2 else 0.0
        after = float(data["improvement"])
        margin = self.engine.keep_margin()
        out: dict[str, Any] = {
            "generation": edit["generation"],
            "before": before,
            "after": after,
            "margin": margin,
            "verdict": "kept",
        }
        if after < before - margin:
            reason = (
                f"window {n} improved by {after:.6f}, the window before the edit by {before:.6f} "
                f"(margin {margin:.6f})"
            )
            out["verdict"] = "reverted" if self._revert(edit, reason, out) else "kept: " + reason
        return out

    def _revert(self, edit: dict[str, Any], reason: str, measured: dict[str, Any]) -> bool:
        engine, path = self.engine, str(edit["file"])
        edited = engine.read_at(edit["commit"], path) or ""
        before = engine.read_at(edit.get("parent") or edit["commit"] + "^", path) or ""
        restored = merge3(edited, before, engine.read_incumbent(path) or "")
        if restored is None:
            return False  # a later edit rewrote the same lines; undoing ours would undo it too
        old = engine.state.incumbent
        gen = edit["generation"]
        new = commit_file(
            engine.repo,
            old,
            path,
            restored,
            f"meta: revert generation {gen} ({path})\n\n{reason}\n\nGeneration: {gen}",
            META,
            engine._date(len(engine.state.experiments) + 1),
        )
        engine.emit(
            "org_reverted",
            {
                "generation": gen,
                "commit": new,
                "file": path,
                "role": edit.get("role", ""),
                "reason": reason,
                "author": "meta",
                **{k: measured[k] for k in ("before", "after", "margin")},
            },
        )
        settle_moves(engine, [(new, old)])
        return True

    # ---- proposals
    def propose(self, role: Role, edits: dict[str, str], rationale: str, turn: str) -> None:
        engine = self.engine
        path, text = next(iter(sorted(edits.items())))
        base = self._turn_base(turn)
        mine = engine.read_at(base, path)
        current = engine.read_incumbent(path)
        reason = self._refusal(edits, mine)
        merged = None
        if not reason:
            assert mine is not None and current is not None
            merged = merge3(mine, text, current)
            if merged is None:
                reason = f"{path} changed since this turn read it, and the edits conflict"
        if not reason and merged is not None:
            org, reason = candidate(engine.repo, engine.state.incumbent, path, merged)
            reason = reason or self._protected_change(org, path)
        if reason or merged is None:
            self._reject(role.name, sorted(edits), reason, turn)
            return
        mid = engine.state.running.get(turn, ("", ""))[1]
        window = engine.state.messages[mid].data if mid in engine.state.messages else {}
        ids = window.get("experiments") or [e.id for e in engine.state.decided()[-5:]]
        proposal = {
            "role": (role_at(engine, path) or role).name,
            "file": path,
            "proposer": role.name,
            "rationale": rationale or "no rationale given",
            "evidence": {"experiments": ids, "window": window.get("window")},
            "metric_before": engine.state.incumbent_metric,
            "turn": turn,
        }
        if engine.org.program.meta.approve == "human":
            gen = next_generation(engine, self.waiting())
            engine.emit(
                "org_proposed",
                {
                    **proposal,
                    "generation": gen,
                    "content": merged,
                    "base": engine.state.incumbent,
                    "diff": unified(path, current or "", merged),
                },
            )
            return
        self._accept(proposal, merged, settle=False)

    def _refusal(self, edits: dict[str, str], mine: str | None) -> str:
        engine, p = self.engine, self.engine.org.program
        if len(edits) != 1:
            return f"one role file per proposal, got {len(edits)}: {', '.join(sorted(edits))}"
        path, text = next(iter(edits.items()))
        protected = [*engine.protected, *self._own_files()]
        if matches(path, tuple(protected)):
            return f"{path} is protected"
        if not matches(path, p.meta.editable):
            return f"{path} is not editable by meta (meta.editable: {', '.join(p.meta.editable)})"
        if mine is None or engine.read_incumbent(path) is None:
            return f"{path} is not a file of the org; meta edits change existing role files"
        if self.waiting():
            return f"generation {self.waiting()[0]} is still waiting for approval"
        size = changed_lines(mine, text)
        if size > p.meta.max_lines:
            return f"the edit changes {size} lines; meta.max_lines is {p.meta.max_lines}"
        return ""

    def _own_files(self) -> list[str]:
        roles = [*self.meta_roles(), *self.engine.org.sandbox_roles()]
        return [f for f in (role_file(self.engine, r) for r in roles) if f]

    def _protected_change(self, org: Org | None, path: str) -> str:
        """What the edit changes that no meta edit may: who is the meta role, any role's kind or
        limits (compared by role name, so renaming a role does not slip past)."""
        if org is None:
            return "the edited org does not load"
        old = self.engine.org
        if _meta_names(old) != _meta_names(org):
            return f"{path}: who receives `window` (the meta role) is protected"
        if _powers(old) != _powers(org):
            return f"{path}: a role's kind and limits are protected"
        return ""

    def _reject(
        self, role: str, files: list[str], reason: str, turn: str = "", generation: int = 0
    ) -> None:
        data: dict[str, Any] = {"role": role, "files": files, "reason": reason, "author": "meta"}
        if turn:
            data["turn"] = turn
        if generation:  # a proposal that waited for approval and is now refused
            data["generation"] = generation
        self.engine.emit("org_rejected", data)

    def _accept(self, proposal: dict[str, Any], text: str, *, settle: bool) -> None:
        engine = self.engine
        gen = int(proposal.get("generation") or next_generation(engine, self.waiting()))
        metric = engine.org.program.metric.name
        ev = proposal["evidence"]
        message = (
            f"meta generation {gen}: {proposal['role']} ({proposal['file']})\n\n"
            f"{proposal['rationale']}\n\n"
            f"Evidence: {', '.join(ev.get('experiments') or []) or 'none'}"
            f" (window {ev.get('window')})\n"
            f"{metric} before: {proposal['metric_before']}\n"
            f"Generation: {gen}"
        )
        data = {
            **{k: v for k, v in proposal.items() if k not in ("content", "base", "diff")},
            "generation": gen,
            "author": "meta",
            "window": len(self.windows()),
        }
        move = apply_edit(
            engine, proposal["file"], text, data, author=META, message=message, settle=settle
        )
        if not settle:
            self._moves.append(move)

    def _turn_base(self, turn: str) -> str:
        """The incumbent when turn `t<seq>` started: the version its edits were made against."""
        seq = int(turn[1:]) if turn[1:].isdigit() else None
        base = self.engine.state.incumbent
        if seq is not None:
            before = [c for s, c in self._incumbents if s < seq]
            base = before[-1] if before else base
        return base

    # ---- approval
    def waiting(self) -> list[int]:
        """Generations proposed and waiting for a human's approve or reject."""
        return sorted(self._waiting())

    def _waiting(self) -> dict[int, dict[str, Any]]:
        if self._pending is None:
            self._pending = {}
            path = self.engine.run_dir / "events.jsonl"
            if self._prior and path.exists():
                for ev in read_events(path)[: self._prior]:
                    self._follow(ev)
        return self._pending

    def answer(self, verdict: str, generation: object) -> str:
        waiting = self._waiting()
        try:
            gen = int(str(generation))
        except ValueError:
            return "give the generation number to approve or reject"
        proposal = waiting.get(gen)
        if proposal is None:
            listed = ", ".join(map(str, sorted(waiting))) or "none"
            return f"no meta edit with generation {gen} is waiting (waiting: {listed})"
        engine, path = self.engine, proposal["file"]
        if verdict == "reject":
            self._reject(proposal["role"], [path], "rejected by a human", generation=gen)
            return ""
        current = engine.read_incumbent(path) or ""
        merged = merge3(engine.read_at(proposal["base"], path) or "", proposal["content"], current)
        reason = "the file changed since and the edits conflict" if merged is None else ""
        if merged is not None and not reason:
            org, reason = candidate(engine.repo, engine.state.incumbent, path, merged)
            reason = reason or self._protected_change(org, path)
        if reason or merged is None:
            self._reject(proposal["role"], [path], reason, generation=gen)
            return ""
        self._accept({**proposal, "generation": gen}, merged, settle=True)
        return ""

    # ---- bookkeeping from the event stream
    def _track(self, ev: Event) -> None:
        if ev.kind in _INCUMBENT_EVENTS:
            self._incumbents.append((ev.seq, self.engine.state.incumbent))
            del self._incumbents[:-64]
        if ev.kind in ("org_proposed", "org_edited", "org_rejected"):
            self._waiting()
            self._follow(ev)

    def _follow(self, ev: Event) -> None:
        assert self._pending is not None
        gen = ev.data.get("generation")
        if ev.kind == "org_proposed" and isinstance(gen, int):
            self._pending[gen] = ev.data
        elif ev.kind in ("org_edited", "org_rejected") and isinstance(gen, int):
            self._pending.pop(gen, None)


def _meta_names(org: Org) -> set[str]:
    return {n for n, r in org.roles.items() if "window" in r.receives}


def _powers(org: Org) -> dict[str, tuple[str, str]]:
    return {
        n: (r.kind, repr(sorted(r.limits.items())))
        for n, r in org.roles.items()
        if r.kind != "agent" or r.limits
    }


def _blob(repo: Git, commit: str, path: str) -> str:
    return repo.run("rev-parse", "-q", "--verify", f"{commit}:{path}", check=False).strip()


def _best(metric: Metric, values: list[float]) -> float | None:
    if not values:
        return None
    return min(values) if metric.goal == "minimize" else max(values)


# ---- the offline meta policy
Proposal = tuple[str, str, str]
"""(path, new content, rationale)"""
_CHANGE = re.compile(r"^(\w+) (.+?) -> (.+)$")


def offline_proposal(ctx: TurnContext) -> Proposal | None:
    """The offline meta policy's edit, or None when the evidence supports none.

    In order of preference: narrow the engineer's range around a value kept in this window, drop
    a knob tried `min_trials` times that never helped, and make the PI change course sooner after
    a window without a keep (or stay longer after repeated wins of one knob).
    An edit identical to one the run already reverted is never proposed again.
    """
    for path, old, new, why in _candidates(ctx):
        if new != old and not _was_reverted(ctx, path, old, new):
            return path, new, why
    return None


def _candidates(ctx: TurnContext) -> Iterator[tuple[str, str, str, str]]:
    engine, state, org = ctx.tools.engine, ctx.state, ctx.org
    policy = ctx.role.policy.data
    window = [i for i in ctx.message.data.get("experiments", []) if i in state.experiments]
    history = [(e, _CHANGE.match(e.description)) for e in state.decided()]
    changes = [(e, m.group(1), m.group(3)) for e, m in history if m]
    before = f"{org.program.metric.name} before: {state.incumbent_metric}"
    engineer = next((r for r in org.roles.values() if r.policy.kind == "mutate"), None)
    lead = next((r for r in org.roles.values() if r.policy.kind == "lead"), None)
    space = dict(engineer.policy.data.get("space") or {}) if engineer else {}
    epath = role_file(engine, engineer) if engineer else None
    text = _read(ctx, epath) if epath else None
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
        for e, knob, _ in changes:
            if knob in space:
                tries.setdefault(knob, []).append(e.id)
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
    lpath = role_file(engine, lead) if lead else None
    ltext = _read(ctx, lpath) if lpath else None
    if lead and lpath and ltext is not None:
        patience = int(lead.policy.data.get("patience", 3))
        in_window = [c for c in changes if c[0].id in window]
        keeps = [k for e, k, _ in in_window if e.decision == "keep"]
        ids = ", ".join(e.id for e, _, _ in in_window) or "none"
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


def _read(ctx: TurnContext, path: str) -> str | None:
    result = ctx.call("read_file", path=path)
    return result.content if result.ok else None


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
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()


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
