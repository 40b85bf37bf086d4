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
- The offline meta policy, `offline_proposal(ctx)`, lives in `_policy_edit.py`.

What it does not do: judge prose (an LLM meta may sharpen a prompt; only its size and the org's
validity are checked), or measure human edits (they are the human's to keep).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..org import HUMAN, Org, Role
from ._git import META, Git
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
