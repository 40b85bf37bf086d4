"""The engine: steps an org through its message graph until its budget is spent.

What it knows: the event log (every fact, appended; the state is their fold), the scheduler (pending
messages in the order they became deliverable; an experiment on every free slot at once, each
agent role up to its replicas, all agent turns up to `throughput.agent_limit`), budgets (checked
before every turn), the turn transaction (a turn's messages, decisions and edits are committed
together by its `turn_completed`), and git (the run branch advances on keep).

What it leaves to others: deciding a turn (the Brain), running an experiment (the Executor), how
many candidates and replicas the measured pace needs (`core/throughput.py`), the org's files and
lint (`orgloop.org`), meta edits (`meta/`), and faces (the CLI and the TUI read the run folder).
A run ends when nothing is left to deliver, a budget is spent, or a human stops it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...org import HUMAN, KICKOFF, Role, render_prompt
from ..brains.base import Brain, BrainPaused, TurnContext
from ..core import autoresearch, rules, throughput
from ..core.confirm import requests
from ..core.errors import RunError, RunStopped, disk_trouble
from ..core.events import Event
from ..core.git import GitError
from ..core.ledger import results_tsv, run_summary, summarize
from ..core.run import Move
from ..core.state import Message, RunState
from ..core.text import clip, os_error
from ..core.tools import Toolbox
from ..executors._choose import ExecutorChoice, make_executor
from ..executors.base import Executor, ExperimentResult
from ..meta.desk import MetaDesk
from ._control import ControlReader
from ._experiments import (
    SEED_STRIDE,
    abandoned,
    experiment_id,
    experiment_spec,
    result_message,
    seed_for,
)
from ._setup import RUNS, Opened, open_new, releasing, reopen, snapshot_org

_LEDGER_EVENTS = frozenset({"experiment_started", "experiment_finished", "decision", "org_edited"})
MEMORY = Path(".orgloop") / "memory"
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
    arm: dict[str, Any] | None = None
    """The arm of a meta edit's paired trial this turn runs in (`meta/trial.py`), if any."""
    seed: str = ""
    """`seed:role:n`, n counting the role's turns (replicas in flight included)."""


class Engine:
    """One run of one org. It satisfies the desks' `Run` contract (org, state, run_dir,
    workspace, emit, send) and alone commits the log, moves the run branch and replaces its org."""

    def __init__(
        self,
        opened: Opened,
        *,
        brain: Brain,
        executor: Executor | ExecutorChoice | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = opened.lock  # held: one engine per run, until run() ends or close()
        self.org = opened.org
        self.workspace = opened.workspace
        self.repo = opened.workspace.repo
        self.run_dir = opened.run_dir
        self.state = opened.state
        self.log = opened.log
        self.brain = brain
        if executor is None or isinstance(executor, ExecutorChoice):
            executor = make_executor(self.org.program.experiment, self._choice(executor))
        self.executor: Executor = executor
        self.clock = clock
        self.listeners: list[Callable[[Event], None]] = []
        self._tasks: dict[asyncio.Task[Any], _Turn] = {}
        self._free_slots = list(range(self.executor.slots))
        self._stopping = ""
        self._last_commit = 0.0
        self._step_budget = 0
        self._topped_up = 0  # experiments finished when the director was last asked for more
        self._halt = False
        self._stopped = False
        self._control = ControlReader(self.run_dir / "control.jsonl")
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
        executor: Executor | ExecutorChoice | None = None,
        seed: int | None = None,
        run_id: str | None = None,
        durable: bool = True,
        extra: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        tag: str | None = None,
    ) -> Engine:
        """A new run of the org at `org_path`: its run_started, baselines and kickoff logged.
        `tag` names its branch (`autoresearch/<tag>` in an autoresearch folder, else
        `orgloop/<tag>`; by default today's tag, or the run id). `executor`: an executor, or
        one to build by name (None: the org's `experiment.executor`); a run that is not local
        records which in its run_started, for `resume`."""
        opened = open_new(Path(org_path), run_id=run_id, durable=durable, tag=tag)
        with releasing(opened):
            engine = cls(opened, brain=brain, executor=executor, clock=clock)
            p = engine.org.program
            run_seed = p.seed if seed is None else seed
            engine.emit(
                "run_started",
                {
                    "run_id": opened.run_dir.name,
                    "org": str(engine.org.root),
                    "org_name": p.name,
                    "branch": opened.branch,
                    "base": opened.base,
                    "seed": run_seed,
                    "first_seed": SEED_STRIDE * run_seed,
                    "brain": brain.name,
                    "slots": engine.executor.slots,
                    "clock": engine.workspace.clock,
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
                    **engine._recorded(executor),
                    **(extra or {}),
                },
            )
            sandbox = engine.org.sandbox_roles()[0].name
            for i in range(p.experiment.baseline_runs):
                baseline = {"baseline": True, "files": {}}
                engine.send(HUMAN, sandbox, "experiment", f"baseline run {i + 1}", baseline)
            engine.send(HUMAN, p.entry, KICKOFF, p.body, {})
        engine.log.commit()
        return engine

    @classmethod
    def resume(
        cls,
        run_dir: Path | str,
        *,
        brain: Brain,
        executor: Executor | ExecutorChoice | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Engine:
        """The run in `run_dir`, replayed from its log, ready to go on (on the executor its
        run_started recorded, unless `executor` says otherwise)."""
        opened = reopen(Path(run_dir))
        with releasing(opened):
            engine = cls(opened, brain=brain, executor=executor, clock=clock)
        engine.emit("run_resumed", {"brain": brain.name, "pending": len(engine.state.pending)})
        if engine.state.paused:
            engine.emit("resumed", {})
        engine.log.commit()
        return engine

    def _choice(self, given: ExecutorChoice | None) -> ExecutorChoice:
        """`given`, filled in from what the run recorded when it started (on resume)."""
        recorded = self.state.config.get("executor") or {}
        name = (given.name if given else None) or recorded.get("name")
        same = name is None or name == recorded.get("name")
        address = (given.address if given else None) or (recorded.get("address") if same else None)
        return ExecutorChoice(name, address)

    def _recorded(self, given: Executor | ExecutorChoice | None) -> dict[str, Any]:
        if given is not None and not isinstance(given, ExecutorChoice):
            return {}
        choice = self._choice(given).for_record(self.org.program.experiment)
        return {} if choice == {"name": "local"} else {"executor": choice}

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
                self._schedule()
                if not self._tasks:
                    if self.state.paused and not self._stopping and not self._halt:
                        self.commit()
                        await asyncio.sleep(0.1)
                        continue
                    if self._confirm():
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
        except (OSError, GitError) as e:
            if not disk_trouble(e):
                raise
            self._stopped = True
            raise RunStopped(self._stopped_because(e)) from None
        finally:
            self.meta.unwatch()
            for task in self._tasks:
                task.cancel()
            self.close()
        return self.state

    def _stopped_because(self, e: OSError | GitError) -> str:
        what = os_error(e) if isinstance(e, OSError) else clip(str(e), 300)
        return (
            f"the run stopped: {what}. Its log is whole up to event {self.log.durable_seq} and "
            f"nothing in it is lost; fix that (free some space), then: orgloop resume "
            f"{self.run_dir}"
        )

    def close(self) -> None:
        """Make the log durable and let go of the run (another engine may resume it). A run
        that stopped because the disk refused a write drops what it could not make durable."""
        try:
            if self._stopped:
                self.log.abandon()
            else:
                self.log.close()
        finally:
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

    def _confirm(self) -> bool:
        """The org has drained: rerun the best and the baseline on fresh seeds before the end
        (once; not when the run was stopped or paused). True when reruns were sent."""
        if self._stopping or self._halt or self.state.paused:
            return False
        sandbox = self.org.sandbox_roles()[0].name
        sent = [
            self.send(HUMAN, sandbox, "experiment", body, data)
            for body, data in requests(self.org, self.state)
        ]
        self.commit()
        return bool(sent)

    def _end(self) -> None:
        reason = self._stopping or rules.drained(self.org, self.state)
        self.emit("run_finished", {"reason": reason, **self.summary()})
        self.log.commit()
        self.write_results()

    def _schedule(self) -> None:
        """Start every turn that may start, then ask the director for more work when the
        cycle runs short of what keeps the slots busy (`throughput.top_up`): at most once per
        experiment finished, so a cycle that makes no experiments is not asked again and again."""
        for turn in self._ready():
            self._launch(turn)
        lead = throughput.director(self.org)
        finished = sum(1 for e in self.state.experiments.values() if e.finished)
        if lead is None or finished <= self._topped_up or self._stopping or self._halt:
            return
        if self.state.paused or not (n := throughput.top_up(self.org, self.state)):
            return
        self._topped_up = finished
        body = (
            f"The experiment slots will run short of work: thinking takes longer than training "
            f"at the pace this run has measured. Send {n} more independent direction(s) now."
        )
        self.send(HUMAN, lead.name, KICKOFF, body, {"runahead": n})
        self.commit()
        for turn in self._ready():
            self._launch(turn)

    def _ready(self) -> Iterator[_Turn]:
        """The turns that may start now, in the order their messages became deliverable; each
        is launched before the next is looked at, so the rules see it running."""
        if self._stopping or self._halt or (self.state.paused and self._step_budget <= 0):
            return
        # the time of the latest event, not the clock's: looking costs no tick of an injected one
        pace = throughput.pace(self.org, self.state, self.state.last_t)
        for mid in list(self.state.pending):
            turn = self._startable(mid, pace)
            if turn is None:
                continue
            yield turn
            if self.state.paused:
                self._step_budget -= 1
                return

    def _startable(self, mid: str, pace: throughput.Pace) -> _Turn | None:
        """A turn for pending message `mid`, or None while it must wait: an experiment waits for
        a free slot and nothing else; an agent role runs up to its replicas at once, and all
        agent turns up to `throughput.agent_limit`."""
        msg = self.state.messages[mid]
        role = self.org.roles.get(msg.receiver)
        in_flight = {t.message.id for t in self._tasks.values()}
        if role is None or mid in in_flight or rules.held(self.org, self.state, role):
            return None
        if role.kind == "sandbox":
            return _Turn("", role, msg, slot=self._free_slots.pop(0)) if self._free_slots else None
        agents = [t for t in self._tasks.values() if t.role.kind == "agent"]
        mine = sum(1 for t in agents if t.role.name == role.name)
        if mine >= throughput.replicas(self.org, self.state, role, pace):
            return None
        if len(agents) >= throughput.agent_limit(self.org, self.state, pace):
            return None
        return _Turn("", role, msg)

    def _launch(self, turn: _Turn) -> None:
        # replicas of a role in flight take the next seeds: each turn draws its own
        nth = self.state.role_turns[turn.role.name] + sum(
            1 for t in self._tasks.values() if t.role.name == turn.role.name
        )
        turn.seed = f"{self.state.config.get('seed', 0)}:{turn.role.name}:{nth}"
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
            turn.role, turn.arm = self.meta.version(turn.role, turn.message)  # a paired trial
            box = Toolbox(self, turn.role, turn.id)
            box.others = lambda: [
                s for t in self._tasks.values() if t.box and t.box is not box for s in t.box.sent
            ]
            turn.box = box
        coro = self._experiment(turn) if turn.role.kind == "sandbox" else self._agent(turn)
        self._tasks[asyncio.ensure_future(coro)] = turn

    async def _finish(self, task: asyncio.Task[Any], turn: _Turn) -> None:
        if turn.slot is not None:
            self._free_slots.append(turn.slot)
            self._free_slots.sort()
        try:
            outcome = task.result()
        except BrainPaused as e:
            self._check_budgets()
            if not self._stopping:  # else the run is ending: the turn is given up, still pending
                self._pause(f"{turn.role.name}: {e}")
            return
        except Exception as e:  # a brain's bug must not lose the message: pause, keep it pending
            if disk_trouble(e):  # not the turn's fault: the whole run stops, resumably
                raise
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
        ctx = TurnContext(
            org=self.org,
            role=role,
            message=turn.message,
            render=lambda: render_prompt(self.org, role, ledger, memory),
            ledger=ledger,
            state=self.state,
            box=toolbox,
            seed=turn.seed,
            memory=memory,
            stopping=lambda: bool(self._stopping or self._halt),
            runahead=lambda: throughput.runahead(
                self.org,
                self.state,
                role,
                turn.message.id,
                [*toolbox.sent, *toolbox.others()],
                self.clock(),
            ),
            in_flight=toolbox.others,
        )
        await self.brain.turn(ctx)
        return toolbox

    def _commit_agent(self, turn: _Turn, box: Toolbox) -> None:
        arm = {"arm": turn.arm} if turn.arm else {}
        produced = [
            self.send(
                turn.role.name, s["receiver"], s["kind"], s["body"], {**s["data"], **arm}, turn.id
            )
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
    async def _experiment(self, turn: _Turn) -> ExperimentResult:
        msg = turn.message
        exp_id = experiment_id(self.state, msg)
        if (given_up := abandoned(self.state, exp_id)) is not None:
            return given_up
        files: dict[str, str] = msg.data.get("files", {})
        base = self.state.incumbent
        proposed = msg.data.get("base", base)
        # The engineer edited the incumbent of its turn; if a keep has moved on since and touched
        # the same files, test the change where it was written rather than merge it blind.
        read = self.workspace.read
        if msg.data.get("confirm") or (
            proposed != base and any(read(base, f) != read(proposed, f) for f in files)
        ):
            base = proposed  # a confirmation reruns its commit as it was
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
                **(
                    {"confirm": msg.data["confirm"], "seed": seed_for(self.state, msg)}
                    if msg.data.get("confirm")
                    else {}
                ),
                **({"arm": msg.data["arm"]} if msg.data.get("arm") else {}),
            },
        )
        self.commit()
        spec = experiment_spec(
            self.org, self.state, self.workspace, self.run_dir, turn.role, msg, exp_id, base
        )
        return await self.executor.run(spec, turn.slot or 0)

    def _commit_experiment(self, turn: _Turn, result: ExperimentResult) -> None:
        exp_id = experiment_id(self.state, turn.message)
        exp = self.state.experiments[exp_id]
        self.emit("experiment_finished", {"id": exp_id, **result.to_event()})
        produced = []
        if exp.baseline:
            self._stop_without_baseline()
        elif not exp.confirm:  # a confirmation rerun is for the report, not for the roles
            body, data = result_message(self.org, self.state, exp, result)
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
        s = self.state
        for name in rules.spent(self.org, s, self.clock()):
            if not self._stopping:
                if name not in s.exhausted:
                    self.emit("budget_exhausted", {"budget": name})
                self._stopping = f"{name} budget spent"
        limit = self.org.program.budget.experiments  # None: forever
        spent = limit is not None and s.experiments_sent >= limit
        if spent and "experiments" not in s.exhausted:
            self.emit("budget_exhausted", {"budget": "experiments"})
        for role in self.org.roles.values():
            for name in rules.role_spent(self.org, s, role):
                if name not in s.role_exhausted.get(role.name, []):
                    self.emit(
                        "budget_exhausted", {"budget": name, "role": role.name, "scope": "role"}
                    )

    def poll_control(self) -> None:
        """Apply the commands appended to control.jsonl since the last look."""
        for command in self._control.read(self.state.control_lines):
            problem = command.problem or self._apply_control(command.cmd)
            extra = {"error": problem} if problem else {}
            # the line number is the reader's: a command that carries its own cannot move it
            self.emit("control", {**command.cmd, "line": command.line, **extra})

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
        """RUN/results.tsv, and in an autoresearch folder its own results.tsv, where and as
        program.md keeps it (autoresearch's statuses only)."""
        _write_atomic(self.run_dir / "results.tsv", results_tsv(self.state, self.org))
        if self.org.autoresearch and self.org.program.results:
            _write_atomic(
                self.org.root / self.org.program.results,
                autoresearch.results_tsv(self.state, self.org),
            )

    def summary(self) -> dict[str, Any]:
        return run_summary(self.state, self.org)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


__all__ = ["NO_BASELINE", "RUNS", "Engine", "RunError"]
