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
  (the engine applies the returned `Move`). With `meta.approve: human` it waits as
  `org_proposed` until `answer()`.
- Measurement. A paired trial measures an edit (`trial.py`): the edited role alternates between
  the edited and the previous version until each arm has `meta.trial` experiments, and the edit is
  kept only if its arm beats the other by more than the noise; otherwise a new commit reverts it
  (`org_reverted`). Either way an `org_trial` event holds the verdict, and it rides in the next
  `window` message's `measured`. No window closes while a trial is open.
- The offline meta policy, `offline_proposal(ctx)`, is the offline brain's (`_policy_edit.py`).

What it does not do: judge prose (an LLM meta may sharpen a prompt; only its size and the org's
validity are checked), or measure human edits (they are the human's to keep).
"""

from __future__ import annotations

from typing import Any

from ...org import HUMAN, Metric, Org, Role
from ..core import rules
from ..core.git import META
from ..core.run import Move, Run
from ..core.state import OK, Message
from ..core.text import changed_lines, unified
from ..core.tools import matches
from . import trial
from .reload import LiveEdits, apply_edit, candidate, merge3, next_generation, role_at


class MetaDesk:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.live = LiveEdits(run)
        self._versions: dict[int, Role | None] = {}
        """The previous version of each edited role, by generation (parsed once)."""

    def meta_roles(self) -> list[Role]:
        return [r for r in self.run.org.roles.values() if "window" in r.receives]

    # ---- the engine's hooks
    def watch(self) -> None:
        self.live.start()

    def unwatch(self) -> None:
        self.live.stop()

    def poll(self) -> list[Move]:
        """A safe point of the engine's loop: human edits that have settled on disk, committed;
        the engine applies the moves."""
        return self.live.poll()

    def keep_tree(self, commit: str, incumbent: str) -> str:
        """The tree a keep of `commit` commits: the experiment's, with the files org edits
        touched taken from the incumbent (an experiment started before an org edit, or before its
        revert, must not undo it)."""
        ws = self.run.workspace
        tree = ws.tree(commit)
        paths = sorted({str(e["file"]) for e in self.run.state.org_edits if e.get("file")})
        stale = [p for p in paths if ws.blob(commit, p) != ws.blob(incumbent, p)]
        if not stale:
            return tree
        return ws.tree_with(commit, {p: ws.read(incumbent, p) or "" for p in stale})

    # ---- windows
    def windows(self) -> list[dict[str, Any]]:
        """The closed windows, oldest first (the data of their `window` messages)."""
        return self.run.state.windows

    def after_decisions(self) -> list[Move]:
        """Close the open trial when it has its pairs (keep or revert the edit), then close a
        window when one is due and send it to the meta roles. While a trial is open no window
        closes: one edit is measured at a time. Returns the moves of the keeps and reverts."""
        roles = self.meta_roles()
        if not roles:
            return []
        s, cfg, metric = self.run.state, self.run.org.program.meta, self.run.org.program.metric
        moves: list[Move] = []
        edit = trial.open_edit(s)
        if edit is not None:
            verdict = trial.judge(
                s,
                edit,
                metric,
                per_arm=cfg.trial,
                floor=_floor(self.run.org),
                final=self._drained(),
            )
            if verdict is None:
                return []
            move = self._conclude(edit, verdict)
            if move is not None:
                moves.append(move)
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
            return moves
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
            # the trials closed since the last window: what the meta role's edits did
            "measured": [
                {k: e["trial"][k] for k in ("generation", "verdict", "gain", "sem", "margin")}
                for e in s.org_edits
                if "trial" in e and e["trial"].get("window") == n - 1
            ],
        }
        ids = ", ".join(data["experiments"])
        body = f"window {n} ({trigger}): {ids}; improvement {data['improvement']}"
        for role in roles:
            self.run.send(HUMAN, role.name, "window", body, data)
        return moves

    def _drained(self) -> bool:
        """No more experiments will come: the budget is sent and every candidate decided."""
        s, budget = self.run.state, self.run.org.program.budget.experiments
        spent = budget is not None and s.experiments_sent >= budget
        return spent and len(s.decided()) >= len(s.candidates())

    # ---- trials
    def version(self, role: Role, message: Message) -> tuple[Role, dict[str, Any] | None]:
        """The role a turn runs and the trial arm it belongs to: while an edit of `role`'s file
        is on trial its turns alternate between the edited and the previous version; any other
        role's turn belongs to the arm of the message it handles. (role, None) outside trials."""
        state = self.run.state
        edit = trial.open_edit(state)
        if edit is None:
            return role, None
        if role.name != edit.get("role"):
            return role, trial.inherited(edit, message.data)
        previous = self._previous(edit)
        if previous is None:
            return role, None
        arm = trial.arm_of(edit, state.role_turns[role.name])
        return (previous if arm == trial.PREVIOUS else role), trial.tag(edit, arm)

    def _previous(self, edit: dict[str, Any]) -> Role | None:
        """The edited role as it was before the edit, parsed in the org as it is now."""
        gen = int(edit["generation"])
        if gen not in self._versions:
            ws, path = self.run.workspace, str(edit["file"])
            text = ws.read(edit.get("parent") or edit["commit"] + "^", path)
            org = candidate(ws, self.run.state.incumbent, path, text)[0] if text else None
            self._versions[gen] = org.roles.get(str(edit.get("role"))) if org else None
        return self._versions[gen]

    def _conclude(self, edit: dict[str, Any], verdict: trial.Verdict) -> Move | None:
        """Keep or revert the edit on its trial's verdict: a commit either way (its message the
        decision, the two arms and the margin) and an `org_trial` event."""
        run, state = self.run, self.run.state
        gen, path = int(edit["generation"]), str(edit["file"])
        data = {
            **verdict.to_event(),
            "file": path,
            "role": edit.get("role", ""),
            "window": len(self.windows()),
        }
        summary = (
            f"Trial: edited {_ids(verdict.edited)} vs previous {_ids(verdict.previous)}; "
            f"{verdict.reason()}"
        )
        old = state.incumbent
        if verdict.keep:
            new = run.workspace.commit_file(
                old,
                path,
                run.workspace.read(old, path) or "",
                f"meta: keep generation {gen} ({path})\n\n{summary}\n\nGeneration: {gen}",
                len(state.experiments) + 1,
                META,
            )
            run.emit("org_trial", {**data, "commit": new})
            return Move(new, old)
        measured = {"before": verdict.previous.mean, "after": verdict.edited.mean}
        move = self._revert(edit, summary, {**measured, "margin": verdict.margin})
        if move is None:  # a later edit rewrote the same lines: the edit stays, and says why
            data = {**data, "verdict": "kept", "reason": "could not revert: " + verdict.reason()}
        run.emit("org_trial", {**data, "commit": move.new if move else ""})
        return move

    def _revert(self, edit: dict[str, Any], reason: str, measured: dict[str, Any]) -> Move | None:
        run, path = self.run, str(edit["file"])
        ws, state = run.workspace, run.state
        edited = ws.read(edit["commit"], path) or ""
        before = ws.read(edit.get("parent") or edit["commit"] + "^", path) or ""
        restored = merge3(edited, before, ws.read(state.incumbent, path) or "")
        if restored is None:
            return None  # a later edit rewrote the same lines; undoing ours would undo it too
        old = state.incumbent
        gen = edit["generation"]
        new = ws.commit_file(
            old,
            path,
            restored,
            f"meta: revert generation {gen} ({path})\n\n{reason}\n\nGeneration: {gen}",
            len(state.experiments) + 1,
            META,
        )
        run.emit(
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
        return Move(new, old)

    # ---- proposals
    def propose(
        self, role: Role, edits: dict[str, str], rationale: str, turn: str, base: str
    ) -> list[Move]:
        """Judge a meta turn's edits, made against the incumbent `base` of its start; commit an
        accepted one. Returns the move the engine applies once the turn is durable."""
        run = self.run
        ws, state = run.workspace, run.state
        path, text = next(iter(sorted(edits.items())))
        mine = ws.read(base, path)
        current = ws.read(state.incumbent, path)
        reason = self._refusal(edits, mine)
        merged = None
        if not reason:
            assert mine is not None and current is not None
            merged = merge3(mine, text, current)
            if merged is None:
                reason = f"{path} changed since this turn read it, and the edits conflict"
        if not reason and merged is not None:
            org, reason = candidate(ws, state.incumbent, path, merged)
            if reason:  # the findings point into the proposed text, not the user's file
                reason = f"the proposed edit of {path} leaves the org unable to run: {reason}"
            reason = reason or self._protected_change(org, path)
        if reason or merged is None:
            self._reject(role.name, sorted(edits), reason, turn)
            return []
        mid = state.running.get(turn, ("", ""))[1]
        window = state.messages[mid].data if mid in state.messages else {}
        ids = window.get("experiments") or [e.id for e in state.decided()[-5:]]
        proposal = {
            "role": (role_at(run.org, path) or role).name,
            "file": path,
            "proposer": role.name,
            "rationale": rationale or "no rationale given",
            "evidence": {"experiments": ids, "window": window.get("window")},
            "metric_before": state.incumbent_metric,
            "turn": turn,
        }
        if run.org.program.meta.approve == "human":
            gen = next_generation(state)
            run.emit(
                "org_proposed",
                {
                    **proposal,
                    "generation": gen,
                    "content": merged,
                    "base": state.incumbent,
                    "diff": unified(path, current or "", merged),
                },
            )
            return []
        return [self._accept(proposal, merged)]

    def _refusal(self, edits: dict[str, str], mine: str | None) -> str:
        run, p = self.run, self.run.org.program
        if len(edits) != 1:
            return f"one role file per proposal, got {len(edits)}: {', '.join(sorted(edits))}"
        path, text = next(iter(edits.items()))
        protected = [*rules.protected(run.org), *self._own_files()]
        if matches(path, tuple(protected)):
            return f"{path} is protected"
        if not matches(path, p.meta.editable):
            return f"{path} is not editable by meta (meta.editable: {', '.join(p.meta.editable)})"
        if mine is None or run.workspace.read(run.state.incumbent, path) is None:
            return f"{path} is not a file of the org; meta edits change existing role files"
        if self.waiting():
            return f"generation {self.waiting()[0]} is still waiting for approval"
        size = changed_lines(mine, text)
        if size > p.meta.max_lines:
            return f"the edit changes {size} lines; meta.max_lines is {p.meta.max_lines}"
        return ""

    def _own_files(self) -> list[str]:
        return rules.closed_to_meta(self.run.org)

    def _protected_change(self, org: Org | None, path: str) -> str:
        """What the edit changes that no meta edit may: who is the meta role, any role's kind or
        limits (compared by role name, so renaming a role does not slip past)."""
        if org is None:
            return "the edited org does not load"
        old = self.run.org
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
        self.run.emit("org_rejected", data)

    def _accept(self, proposal: dict[str, Any], text: str) -> Move:
        run = self.run
        gen = int(proposal.get("generation") or next_generation(run.state))
        metric = run.org.program.metric.name
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
            # the edited role's turns so far: its trial alternates versions from here
            "turns": run.state.role_turns[str(proposal["role"])],
        }
        return apply_edit(run, proposal["file"], text, data, author=META, message=message)

    # ---- approval
    def waiting(self) -> list[int]:
        """Generations proposed and waiting for a human's approve or reject."""
        return sorted(self.run.state.proposals)

    def answer(self, verdict: str, generation: object) -> tuple[str, list[Move]]:
        """A human's approve or reject of a waiting edit: (a problem to report or "", moves)."""
        waiting = self.run.state.proposals
        try:
            gen = int(str(generation))
        except ValueError:
            return "give the generation number to approve or reject", []
        proposal = waiting.get(gen)
        if proposal is None:
            listed = ", ".join(map(str, sorted(waiting))) or "none"
            return f"no meta edit with generation {gen} is waiting (waiting: {listed})", []
        ws, state, path = self.run.workspace, self.run.state, proposal["file"]
        if verdict == "reject":
            self._reject(proposal["role"], [path], "rejected by a human", generation=gen)
            return "", []
        current = ws.read(state.incumbent, path) or ""
        merged = merge3(ws.read(proposal["base"], path) or "", proposal["content"], current)
        reason = "the file changed since and the edits conflict" if merged is None else ""
        if merged is not None and not reason:
            org, reason = candidate(ws, state.incumbent, path, merged)
            reason = reason or self._protected_change(org, path)
        if reason or merged is None:
            self._reject(proposal["role"], [path], reason, generation=gen)
            return "", []
        return "", [self._accept({**proposal, "generation": gen}, merged)]


def _meta_names(org: Org) -> set[str]:
    return {n for n, r in org.roles.items() if "window" in r.receives}


def _powers(org: Org) -> dict[str, tuple[str, str]]:
    return {
        n: (r.kind, repr(sorted(r.limits.items())))
        for n, r in org.roles.items()
        if r.kind != "agent" or r.limits
    }


def _ids(arm: trial.Arm) -> str:
    shown = ", ".join(arm.experiments) or "none"
    mean = f" (mean {arm.mean:.6f})" if arm.mean is not None else ""
    return f"{shown}{mean}"


def _floor(org: Org) -> float:
    """The reviewer's `min_delta`: the smallest gain worth anything, whatever the noise."""
    reviewer = next((r for r in org.roles.values() if r.policy.kind == "review"), None)
    return float(reviewer.policy.data.get("min_delta", 0.0)) if reviewer else 0.0


def _best(metric: Metric, values: list[float]) -> float | None:
    if not values:
        return None
    return min(values) if metric.goal == "minimize" else max(values)
