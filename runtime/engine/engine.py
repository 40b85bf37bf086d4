"""The engine: steps an org through its message graph until its budget is spent.

What it knows: the event log (every fact, appended; the state is their fold), the scheduler (pending
messages in the order they became deliverable; one turn at a time per role, `turns.concurrency`
agent turns and one experiment per executor slot at once), budgets (checked before every turn), the
turn transaction (a turn's messages, decisions and edits are committed together by its
`turn_completed`), and git (the run branch advances on keep).

What it leaves to others: deciding a turn (the Brain), running an experiment (the Executor), the
org's files and lint (`orgloop.org`), meta edits (`meta/`), and faces (the CLI and the TUI read
the run folder). A run ends when nothing is left to deliver, a budget is spent, or a human stops it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...org import HUMAN, KICKOFF, Org, OrgError, Role, lint, load_org, render_prompt
from ..brains.base import Brain, BrainPaused, TurnContext
from ..core import rules
from ..core.errors import RunError
from ..core.events import Event, EventLog, LogError, read_events
from ..core.git import Git
from ..core.ledger import results_tsv, run_summary, summarize
from ..core.lock import RunLock
from ..core.run import Move
from ..core.state import Message, RunState, fold
from ..core.tools import Toolbox
from ..core.workspace import Workspace
from ..executors.base import Executor, ExperimentResult, ExperimentSpec
from ..executors.local import LocalExecutor
from ..meta.desk import MetaDesk
from ._setup import prepare_repo, snapshot_org

RUNS = Path(".orgloop") / "runs"
_LEDGER_EVENTS = frozenset({"experiment_started", "experiment_finished", "decision", "org_edited"})
MEMORY = Path(".orgloop") / "memory"
RESULT_DIFF_CHARS, RESULT_LOG_CHARS = 4_000, 1_500
"""How much of an experiment's diff and of its log's end a result message carries: the critic
checks the change and quotes the error from them."""
NO_BASELINE = "every baseline run failed"
"""How a run_finished reason begins when the run stopped because no baseline run measured."""


@dataclass
class _Turn:
    id: str
    role: Role
    message: Message
    slot: int | None = None
    box: Toolbox | None = None
    """An agent turn's toolbox, made when the turn starts (its `base` is that incumbent)."""


class Engine:
    """One run of one org. It satisfies the desks' `Run` contract (org, state, run_dir,
    workspace, emit, send) and alone commits the log, moves the run branch and replaces its org."""

    def __init__(
        self,
        org: Org,
        run_dir: Path,
        state: RunState,
        log: EventLog,
        *,
        brain: Brain,
        executor: Executor,
        workspace: Workspace,
        clock: Callable[[], float] = time.time,
        lock: RunLock | None = None,
    ) -> None:
        self.lock = lock or RunLock(run_dir)
        self.lock.acquire()  # one engine per run, from here until run() ends or close()
        self.org = org
        self.workspace = workspace
        self.repo = workspace.repo
        self.run_dir = run_dir
        self.state = state
        self.log = log
        self.brain = brain
        self.executor = executor
        self.clock = clock
        self.listeners: list[Callable[[Event], None]] = []
        self._tasks: dict[asyncio.Task[Any], _Turn] = {}
        self._free_slots = list(range(executor.slots))
        self._stopping = ""
        self._last_commit = 0.0
        self._step_budget = 0
        self._halt = False
        self._control_size = -1
        self._ledger: dict[str, Any] | None = None
        self._memory: dict[str, str] = {}
        self.meta = MetaDesk(self)

    # ---- starting and resuming
    @classmethod
    def start(
        cls,
        org_path: Path | str,
        *,
        brain: Brain,
        executor: Executor | None = None,
        seed: int | None = None,
        run_id: str | None = None,
        durable: bool = True,
        extra: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Engine:
        root = Path(org_path).resolve()
        errors = [f for f in lint(load_org(root)) if f.severity == "error"]
        if errors:  # a graph that fails lint never runs; fail before touching anything
            raise OrgError(errors)
        repo = Git(root)
        base = prepare_repo(repo)
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
        run_dir = root / RUNS / run_id
        run_dir.mkdir(parents=True, exist_ok=False)
        lock = RunLock(run_dir)
        lock.acquire()
        try:
            base_time = int(repo.run("log", "-1", "--format=%ct", base).strip() or 0)
            workspace = Workspace(repo, base_time)
            org = snapshot_org(workspace, base, run_dir)
            branch = f"orgloop/{run_id}"
            repo.branch(branch, base)
            log = EventLog(run_dir / "events.jsonl", durable=durable)
            state = RunState()
            executor = executor or LocalExecutor(org.program.experiment.parallel)
            engine = cls(
                org,
                run_dir,
                state,
                log,
                brain=brain,
                executor=executor,
                workspace=workspace,
                clock=clock,
                lock=lock,
            )
            p = org.program
            engine.emit(
                "run_started",
                {
                    "run_id": run_id,
                    "org": str(root),
                    "org_name": p.name,
                    "branch": branch,
                    "base": base,
                    "seed": p.seed if seed is None else seed,
                    "brain": brain.name,
                    "slots": executor.slots,
                    "clock": base_time,
                    "format": 1,
                    "metric": {
                        "name": p.metric.name,
                        "goal": p.metric.goal,
                        "bound": p.metric.bound,
                    },
                    "budget": {
                        k: getattr(p.budget, k)
                        for k in ("experiments", "wall", "usd", "tokens", "gpu_seconds", "visits")
                    },
                    **(extra or {}),
                },
            )
            sandbox = org.sandbox_roles()[0].name
            for i in range(p.experiment.baseline_runs):
                engine.send(
                    HUMAN,
                    sandbox,
                    "experiment",
                    f"baseline run {i + 1}",
                    {"baseline": True, "files": {}},
                )
            engine.send(HUMAN, p.entry, KICKOFF, p.body, {})
        except BaseException:
            lock.release()
            raise
        engine.log.commit()
        return engine

    @classmethod
    def resume(
        cls,
        run_dir: Path | str,
        *,
        brain: Brain,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Engine:
        run_dir = Path(run_dir).resolve()
        if not (run_dir / "events.jsonl").is_file():
            raise RunError(f"{run_dir}/events.jsonl: no such event log; give a run folder")
        lock = RunLock(run_dir)
        lock.acquire()  # before reading: a second engine must not replay what the first appends
        try:
            try:
                events = read_events(run_dir / "events.jsonl")
            except LogError as e:
                raise RunError(str(e)) from None
            if not events or events[0].kind != "run_started":
                raise RunError(f"{run_dir}/events.jsonl does not start with run_started")
            try:
                state = fold(events)
            except (KeyError, TypeError, ValueError) as e:
                raise RunError(f"{run_dir}/events.jsonl is inconsistent ({e!r})") from None
            if state.finished:
                raise RunError(f"run {state.run_id} already finished ({state.finish_reason})")
            repo = Git(Path(state.config["org"]))
            workspace = Workspace(repo, int(state.config.get("clock", 0)))
            org = snapshot_org(workspace, state.incumbent, run_dir)
            repo.branch(state.branch, state.incumbent)  # a keep whose event was lost is undone
            log = EventLog(run_dir / "events.jsonl", next_seq=len(events))
            executor = executor or LocalExecutor(org.program.experiment.parallel)
            engine = cls(
                org,
                run_dir,
                state,
                log,
                brain=brain,
                executor=executor,
                workspace=workspace,
                clock=clock,
                lock=lock,
            )
        except BaseException:
            lock.release()
            raise
        engine.emit("run_resumed", {"brain": brain.name, "pending": len(state.pending)})
        if state.paused:
            engine.emit("resumed", {})
        engine.log.commit()
        return engine

    # ---- events
    def emit(self, kind: str, data: dict[str, Any]) -> Event:
        ev = self.log.append(kind, data, self.clock())
        self.state.apply(ev)
        if kind in _LEDGER_EVENTS:
            self._ledger = None
        for listener in self.listeners:
            listener(ev)
        return ev

    def commit(self, *, force: bool = True) -> None:
        now = time.monotonic()
        if force or now - self._last_commit > 0.01:
            self.log.commit()
            self._last_commit = now

    def send(
        self,
        sender: str,
        receiver: str,
        kind: str,
        body: str,
        data: dict[str, Any],
        turn: str | None = None,
    ) -> str:
        mid = f"m{self.log.next_seq}"
        self.emit(
            "message_sent",
            {
                "id": mid,
                "sender": sender,
                "receiver": receiver,
                "kind": kind,
                "body": body,
                "data": data,
                "turn": turn,
            },
        )
        return mid

    # ---- the loop
    async def run(self) -> RunState:
        """Step until done; returns the final state. Safe to call once per Engine."""
        self.meta.watch()  # human edits of role files, applied by meta.poll() between turns
        self._stop_without_baseline()  # a run killed just after its last baseline failed
        try:
            while True:
                self.poll_control()
                seq = self.log.next_seq
                self.apply(self.meta.poll())
                if self.log.next_seq != seq:  # a human edit accepted or refused: say so now
                    self.commit()
                self._check_budgets()
                for turn in self._ready():
                    self._launch(turn)
                if not self._tasks:
                    if self.state.paused and not self._stopping and not self._halt:
                        self.commit()
                        await asyncio.sleep(0.1)
                        continue
                    break
                self.commit(force=False)
                done, _ = await asyncio.wait(
                    self._tasks, timeout=0.25, return_when=asyncio.FIRST_COMPLETED
                )
                for task in sorted(done, key=lambda t: int(self._tasks[t].id[1:])):
                    await self._finish(task, self._tasks.pop(task))
            if not self._halt and (not self.state.paused or self._stopping):
                self._end()
        finally:
            self.meta.unwatch()
            for task in self._tasks:
                task.cancel()
            self.close()
        return self.state

    def close(self) -> None:
        """Make the log durable and let go of the run (another engine may resume it)."""
        self.log.close()
        self.lock.release()

    def apply(self, moves: list[Move]) -> None:
        """What the desks asked for, in order: the log made durable first, then the run branch
        moved (compare-and-swap), then the org reloaded from the new incumbent."""
        if not moves:
            return
        self.commit()
        for move in moves:
            self.repo.move_branch(self.state.branch, move.new, move.old)
        self.org = snapshot_org(self.workspace, self.state.incumbent, self.run_dir)

    def _end(self) -> None:
        reason = self._stopping or (
            "experiment budget spent"
            if "experiments" in self.state.exhausted
            else "nothing left to deliver"
        )
        self.emit("run_finished", {"reason": reason, **self.summary()})
        self.log.commit()
        self.write_results()

    def _ready(self) -> list[_Turn]:
        if self._stopping or self._halt or (self.state.paused and self._step_budget <= 0):
            return []
        busy = {t.role.name for t in self._tasks.values()}
        agents = sum(1 for t in self._tasks.values() if t.role.kind == "agent")
        out = []
        for mid in self.state.pending:
            msg = self.state.messages[mid]
            role = self.org.roles.get(msg.receiver)
            if role is None or role.name in busy:
                continue
            if role.kind == "sandbox":
                if not self._free_slots:
                    continue
            elif agents >= self.org.program.concurrency:
                continue
            else:
                agents += 1
                busy.add(role.name)
            turn = _Turn("", role, msg)
            if role.kind == "sandbox":
                turn.slot = self._free_slots.pop(0)
            out.append(turn)
            if self.state.paused:
                self._step_budget -= 1
                break
        return out

    def _launch(self, turn: _Turn) -> None:
        ev = self.emit(
            "turn_started",
            {
                "turn": f"t{self.log.next_seq}",
                "role": turn.role.name,
                "message": turn.message.id,
                "slot": turn.slot,
            },
        )
        turn.id = ev.data["turn"]
        if turn.role.kind != "sandbox":
            turn.box = Toolbox(self, turn.role, turn.id)
        coro = self._experiment(turn) if turn.role.kind == "sandbox" else self._agent(turn)
        self._tasks[asyncio.ensure_future(coro)] = turn

    async def _finish(self, task: asyncio.Task[Any], turn: _Turn) -> None:
        if turn.slot is not None:
            self._free_slots.append(turn.slot)
            self._free_slots.sort()
        try:
            outcome = task.result()
        except BrainPaused as e:
            self._pause(f"{turn.role.name}: {e}")
            return
        except Exception as e:  # a brain's bug must not lose the message: pause, keep it pending
            self.emit(
                "error",
                {"turn": turn.id, "role": turn.role.name, "error": f"{type(e).__name__}: {e}"},
            )
            self._pause(f"{turn.role.name} failed: {type(e).__name__}: {e}")
            return
        if isinstance(outcome, Toolbox):
            self._commit_agent(turn, outcome)
        else:
            self._commit_experiment(turn, outcome)

    def _pause(self, reason: str) -> None:
        """Stop stepping: the run ends this session paused, and `orgloop resume` continues it."""
        self._halt = True
        if not self.state.paused:
            self.emit("paused", {"reason": reason})
        self.commit()

    # ---- agent turns
    async def _agent(self, turn: _Turn) -> Toolbox:
        role, toolbox = turn.role, turn.box
        assert toolbox is not None
        memory = self.read_memory(role.name)
        if self._ledger is None:
            self._ledger = summarize(self.state, self.org)
        ledger = self._ledger
        seed = f"{self.state.config.get('seed', 0)}:{role.name}:{self.state.role_turns[role.name]}"
        ctx = TurnContext(
            org=self.org,
            role=role,
            message=turn.message,
            render=lambda: render_prompt(self.org, role, ledger, memory),
            ledger=ledger,
            state=self.state,
            box=toolbox,
            seed=seed,
            memory=memory,
        )
        await self.brain.turn(ctx)
        return toolbox

    def _commit_agent(self, turn: _Turn, box: Toolbox) -> None:
        produced = [
            self.send(turn.role.name, s["receiver"], s["kind"], s["body"], s["data"], turn.id)
            for s in box.sent
        ]
        keeps = [m for m in map(self._decide, box.decisions) if m is not None]
        edits: list[Move] = []
        if (
            box.edits
            and turn.role.kind == "agent"
            and rules.editable_for(self.org, turn.role) != self.org.program.experiment.editable
        ):
            edits = self.meta.propose(turn.role, box.edits, box.rationale, turn.id, box.base)
        self.emit(
            "turn_completed",
            {
                "turn": turn.id,
                "role": turn.role.name,
                "message": turn.message.id,
                "produced": produced,
                "tool_calls": box.calls,
            },
        )
        if box.decisions or edits or box.notes:  # effects outside the log wait for it
            self.commit()
        for keep in keeps:  # a keep changes no role file: the org stays as it is
            self.repo.move_branch(self.state.branch, keep.new, keep.old)
        self.apply(edits)  # an accepted org edit: move the branch to it, reload the org
        if box.notes:
            self.append_memory(turn.role.name, turn.id, box.notes)
        if box.decisions:
            self.write_results()
            self.apply(self.meta.after_decisions())

    def _decide(self, d: dict[str, Any]) -> Move | None:
        exp = self.state.experiments[d["experiment"]]
        commit = ""
        old = self.state.incumbent
        if d["verdict"] == "keep":
            tree = self.meta.keep_tree(exp.commit, old)  # org edits since the experiment stay
            commit = self.workspace.commit_tree(
                tree,
                old,
                f"keep {exp.id}: {exp.description}\n\n{d.get('reason', '')}".strip(),
                len(self.state.experiments) + 1,
            )
        self.emit(
            "decision",
            {
                **d,
                "commit": commit,
                "metric": exp.metric,
                "incumbent_metric": self.state.incumbent_metric,
            },
        )
        return Move(commit, old) if commit else None

    # ---- experiments
    def _experiment_id(self, msg: Message) -> str:
        for e in self.state.experiments.values():
            if e.message == msg.id:
                return e.id  # a rerun after a crash keeps its id
        return f"e{len(self.state.experiments) + 1}"

    async def _experiment(self, turn: _Turn) -> ExperimentResult:
        msg, p = turn.message, self.org.program
        exp_id = self._experiment_id(msg)
        files: dict[str, str] = msg.data.get("files", {})
        base = self.state.incumbent
        proposed = msg.data.get("base", base)
        # The engineer edited the incumbent of its turn; if a keep has moved on since and touched
        # the same files, test the change where it was written rather than merge it blind.
        read = self.workspace.read
        if proposed != base and any(read(base, f) != read(proposed, f) for f in files):
            base = proposed
        number = int(exp_id[1:])
        self.emit(
            "experiment_started",
            {
                "id": exp_id,
                "turn": turn.id,
                "message": msg.id,
                "slot": turn.slot,
                "baseline": bool(msg.data.get("baseline")),
                "description": msg.body,
                "base": base,
                "files": sorted(files),
            },
        )
        self.commit()
        spec = ExperimentSpec(
            id=exp_id,
            repo=self.org.root,
            base=base,
            files=files,
            command=p.experiment.command,
            metric=p.metric,
            timeout=p.experiment.timeout,
            workdir=self.run_dir / "experiments" / exp_id,
            evaluate=p.experiment.evaluate,
            protected=p.experiment.protected,
            message=f"{exp_id}: {msg.body}"[:200],
            commit_date=self.workspace.date(number),
            ref=f"refs/orgloop/{self.state.run_id}/{exp_id}",
            limits=turn.role.limits,
            env=p.experiment.env,
            network=p.experiment.network,
            seed=self._seed_for(msg),
        )
        return await self.executor.run(spec, turn.slot or 0)

    def _seed_for(self, msg: Message) -> int:
        """Baseline run i runs with ORGLOOP_SEED=i, every candidate with 0: the spread of the
        baselines is then the seed noise a candidate must beat."""
        if not msg.data.get("baseline"):
            return 0
        runs = [m for m in self.state.messages.values() if m.data.get("baseline")]
        return next((i for i, m in enumerate(runs) if m.id == msg.id), 0)

    def _commit_experiment(self, turn: _Turn, result: ExperimentResult) -> None:
        exp_id = self._experiment_id(turn.message)
        exp = self.state.experiments[exp_id]
        self.emit("experiment_finished", {"id": exp_id, **result.to_event()})
        produced = []
        if exp.baseline:
            self._stop_without_baseline()
        else:
            data = {
                "experiment": exp_id,
                "status": result.status,
                "metric": result.metric,
                "reason": result.reason,
                "incumbent_metric": self.state.incumbent_metric,
                "noise": self.state.noise,
                "seconds": round(result.seconds, 2),
            }
            body = (
                f"{exp_id} ({exp.description}): {result.status}, "
                f"{self.org.program.metric.name} = {result.metric}"
                + (f" — {result.reason}" if result.reason else "")
                + _evidence(result)
            )
            for send in turn.role.sends:
                for to in send.to:
                    produced.append(self.send(turn.role.name, to, send.kind, body, data, turn.id))
        self.emit(
            "turn_completed",
            {
                "turn": turn.id,
                "role": turn.role.name,
                "message": turn.message.id,
                "produced": produced,
            },
        )
        self.commit()
        self.write_results()

    def _stop_without_baseline(self) -> None:
        """Once every baseline run has ended and none measured anything, there is nothing to
        compare a change with: the run stops with the first failure, rather than spend its
        budget on candidates that cannot be judged."""
        runs = [e for e in self.state.experiments.values() if e.baseline]
        want = self.org.program.experiment.baseline_runs
        if len(runs) < want or not all(e.finished for e in runs) or self.state.baselines:
            return
        first = runs[0]
        reason = str(first.info.get("reason") or "no metric")
        log = self.run_dir / "experiments" / first.id / "log.txt"
        self._stopping = self._stopping or (
            f"{NO_BASELINE}: {first.id} {first.status} ({reason}); see {log}, fix the "
            "experiment, then start a new run"
        )

    # ---- budgets and control
    def _check_budgets(self) -> None:
        b, s = self.org.program.budget, self.state
        spent = {
            "wall": b.wall is not None and s.wall_seconds(self.clock()) >= b.wall,
            "tokens": b.tokens is not None and s.tokens >= b.tokens,
            "usd": b.usd is not None and s.usd >= b.usd,
            "gpu_seconds": b.gpu_seconds is not None and s.gpu_seconds >= b.gpu_seconds,
        }
        for name, over in spent.items():
            over = over or name in s.exhausted  # a brain may declare it spent before a call
            if over and not self._stopping:
                if name not in s.exhausted:
                    self.emit("budget_exhausted", {"budget": name})
                self._stopping = f"{name} budget spent"
        if s.experiments_sent >= b.experiments and "experiments" not in s.exhausted:
            self.emit("budget_exhausted", {"budget": "experiments"})

    def poll_control(self) -> None:
        path = self.run_dir / "control.jsonl"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size == self._control_size:  # the loop polls every turn: read only what changed
            return
        self._control_size = size
        text = path.read_text(encoding="utf-8", errors="replace")
        # only whole lines: a command still being written is read on the next poll
        lines = text[: text.rfind("\n") + 1].split("\n")[:-1]
        for n in range(self.state.control_lines, len(lines)):
            raw = lines[n]
            try:
                cmd = json.loads(raw)
                if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
                    raise ValueError("needs a JSON object with a `cmd`")
                problem = self._apply_control(cmd)
            except ValueError as e:
                cmd, problem = {"raw": raw[:200]}, str(e)
            self.emit("control", {"line": n, **cmd, **({"error": problem} if problem else {})})

    def _apply_control(self, cmd: dict[str, Any]) -> str:
        op = cmd["cmd"]
        if op == "pause" and not self.state.paused:
            self.emit("paused", {"reason": "human"})
        elif op == "resume" and self.state.paused:
            self.emit("resumed", {})
        elif op == "step":
            self._step_budget += 1
        elif op == "stop":
            self._stopping = "stopped by human"
        elif op == "inject":
            to, kind = cmd.get("to"), cmd.get("kind", "note")
            if not isinstance(to, str) or to not in self.org.roles:
                return f"no role {to!r}"
            self.send(HUMAN, to, str(kind), str(cmd.get("body", "")), {"human": True})
        elif op in ("approve", "reject"):
            problem, moves = self.meta.answer(op, cmd.get("generation"))
            self.apply(moves)
            return problem
        elif op not in ("pause", "resume"):
            return f"unknown command {op!r}"
        return ""

    # ---- files the run keeps
    def memory_path(self, role: str) -> Path:
        return self.org.root / MEMORY / f"{role}.md"

    def read_memory(self, role: str) -> str:
        if role not in self._memory:
            path = self.memory_path(role)
            self._memory[role] = path.read_text(encoding="utf-8")[-4000:] if path.exists() else ""
        return self._memory[role]

    def append_memory(self, role: str, turn: str, notes: list[str]) -> None:
        path = self.memory_path(role)
        path.parent.mkdir(parents=True, exist_ok=True)
        tag = f"<!-- {self.state.run_id} {turn} -->"
        if path.exists() and tag in path.read_text(encoding="utf-8"):
            return  # already written before a crash; the turn is committed once
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(f"- {n} {tag}\n" for n in notes))
        self._memory.pop(role, None)

    def write_results(self) -> None:
        text = results_tsv(self.state, self.org)
        tmp = self.run_dir / "results.tsv.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.run_dir / "results.tsv")

    def summary(self) -> dict[str, Any]:
        return run_summary(self.state, self.org)


def _evidence(result: ExperimentResult) -> str:
    """The change and the end of the log, for the result message's reader."""
    parts = []
    if result.diff.strip():
        diff = (
            result.diff
            if len(result.diff) <= RESULT_DIFF_CHARS
            else (
                result.diff[:RESULT_DIFF_CHARS]
                + f"\n[… {len(result.diff) - RESULT_DIFF_CHARS} more chars]"
            )
        )
        parts.append(f"The change (diff against its base):\n```diff\n{diff.rstrip()}\n```")
    if result.log_tail.strip():
        log = result.log_tail[-RESULT_LOG_CHARS:]
        parts.append(f"The end of its log:\n```\n{log.rstrip()}\n```")
    return "".join("\n\n" + part for part in parts)


__all__ = ["Engine", "RunError", "prepare_repo", "snapshot_org"]
