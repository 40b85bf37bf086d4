"""The Brain seam: what decides a role's turn.

A brain gets a `TurnContext` — the role, the message it must handle, its rendered prompt, the
ledger summary, the editable files (for a role that edits them) — and acts only by calling tools
through it. It returns nothing: what it sent, decided or edited is what the toolbox recorded,
and the engine commits that as one turn.

Brains: `OfflineBrain` (deterministic policies, no network), `AnthropicBrain` (Claude through the
anthropic SDK), `ReplayBrain` (a recorded cassette), and the test doubles in `testing.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...org import Org, Role
from ..core.state import Message, RunState
from ..core.tools import Toolbox, ToolResult


@dataclass(frozen=True)
class Effects:
    """What a turn has done so far, as a brain may see it: the kinds it sent (in order), how many
    experiments it decided, the files it edited, how many notes it wrote."""

    sent: tuple[str, ...] = ()
    decided: int = 0
    edited: tuple[str, ...] = ()
    notes: int = 0


class TurnContext:
    """Everything a brain gets for one turn, and all it may do: read what it is given, call the
    role's tools, and record what its model calls used. It holds no engine and no event log; its
    toolbox is the only way its actions reach the run, under the runtime's rules."""

    def __init__(
        self,
        *,
        org: Org,
        role: Role,
        message: Message,
        render: Callable[[], str],
        ledger: Mapping[str, Any],
        state: RunState,
        box: Toolbox,
        seed: str,
        memory: str = "",
        stopping: Callable[[], bool] = lambda: False,
        runahead: Callable[[], int | None] = lambda: None,
        in_flight: Callable[[], list[dict[str, Any]]] = lambda: [],
    ) -> None:
        self.org = org
        self.role = role
        self.message = message
        self.ledger = ledger
        self.state = state
        """The run's state as of the turn's start. Read it; the fold owns it."""
        self.seed = seed
        """A string unique to this turn and stable across runs and resumes; seed RNGs with it."""
        self.memory = memory
        self._stopping = stopping
        self._runahead = runahead
        self._in_flight = in_flight
        self._render = render
        self._box = box
        self._prompt: str | None = None

    @property
    def turn_id(self) -> str:
        return self._box.turn_id

    @property
    def prompt(self) -> str:
        """The role's rendered system prompt, rendered on first use (only brains that need it)."""
        if self._prompt is None:
            self._prompt = self._render()
        return self._prompt

    def files(self) -> Mapping[str, str]:
        """The incumbent's experiment files this role may edit (path -> text, what read_file gives
        at the start of the turn), empty for roles that edit none. A mapping that reads a file only
        when asked, so a brain that does not use them costs no git calls."""
        return self._box.incumbent_files()

    def editable_paths(self) -> list[str]:
        """The paths of the incumbent's files this role may edit (for a meta role, the role
        files open to it), as edit_file takes them."""
        return self._box.editable_paths()

    def snapshot(self) -> Mapping[str, str]:
        """The same files at the snapshot commit (`Toolbox.snapshot_files`): what a brain may show
        whole, with the changes kept since as a diff, so a keep does not rewrite every file in a
        cached prompt. Empty when `files()` is."""
        return self._box.snapshot_files()

    def file_at(self, commit: str, path: str) -> str | None:
        """A file of the org as it is at a commit of the run (an experiment's base, say); None
        when the commit has no such file."""
        return self._box.read_at(commit, path)

    # ---- acting
    def call(self, tool: str, /, **args: Any) -> ToolResult:
        return self._box.call(tool, args)

    def call_with(self, tool: str, args: dict[str, Any]) -> ToolResult:
        """`call` with the arguments as a model gave them (any names, any JSON object)."""
        return self._box.call(tool, args)

    def schemas(self) -> list[dict[str, Any]]:
        """The tools this role may call, with their JSON schemas."""
        return self._box.schemas()

    @property
    def calls(self) -> int:
        """Tool calls made this turn, refused ones included."""
        return self._box.calls

    @property
    def effects(self) -> Effects:
        box = self._box
        return Effects(
            tuple(s["kind"] for s in box.sent), len(box.decisions), tuple(box.edits), len(box.notes)
        )

    # ---- accounting
    def record_usage(self, **usage: Any) -> None:
        """One model call: model, step, input_tokens, output_tokens, cache_read, cache_write, usd,
        seconds, stop_reason. Becomes an `llm_call` event of this turn."""
        self._box.usage(usage)

    def declare_spent(self, budget: str, *, role: bool = False) -> None:
        """The next call would overspend `budget` ("tokens" or "usd"): the run stops there. With
        `role`, it is the role's own budget: this role takes no more turns."""
        self._box.spent(budget, role=role)

    # ---- what the brain reports (each one event kind; see docs/architecture.md)
    def report_waiting(self, **data: Any) -> None:
        """Waiting out an API outage: status, error, attempt, retry_in, since, waited."""
        self._box.waiting(data)

    def report_cut(self, **data: Any) -> None:
        """A reply cut off at its token limit whose tool calls were not run: step,
        stop_reason, max_tokens, retry_with (None: the turn gives up), dropped."""
        self._box.cut(data)

    def report_refusal(self, **data: Any) -> None:
        """The model refused: step, category, explanation, retried."""
        self._box.refused(data)

    def report_undone(self, reason: str) -> None:
        """The turn ends without the role's duty done (nothing sent where it must send)."""
        self._box.undone(self.message.id, self.message.kind, reason)

    @property
    def runahead(self) -> int | None:
        """How many directions this turn should send to keep every experiment slot busy at the
        pace the run has measured, within the experiment budget (`core/throughput.py`); None
        before there is a measure. Asked anew each time: it counts what the turn has sent."""
        return self._runahead()

    @property
    def in_flight(self) -> list[dict[str, Any]]:
        """What the other turns in flight (this role's replicas among them) are sending and
        have not committed: {kind, receiver, body, data}. Propose something else."""
        return self._in_flight()

    @property
    def stopping(self) -> bool:
        """The run is ending (a budget spent, a human's stop, a pause): a brain that is only
        waiting should give up its turn rather than make the run wait for it."""
        return self._stopping()


class Brain(Protocol):
    """Decides one turn of one role by calling `ctx.call(...)`."""

    name: str

    async def turn(self, ctx: TurnContext) -> None: ...


class BrainPaused(Exception):
    """The brain cannot go on for now (the API keeps failing): the engine pauses the run with this
    message; the turn is not committed and runs again on resume."""
