"""The Brain seam: what decides a role's turn.

A brain gets a `TurnContext` — the role, the message it must handle, its rendered prompt, the
ledger summary, the editable files (for a role that edits them), and a toolbox — and acts only by
calling tools. It returns nothing: what it sent, decided or edited is what the toolbox recorded,
and the engine commits that as one turn.

Brains: `OfflineBrain` (deterministic policies, no network), `AnthropicBrain` (Claude through the
anthropic SDK), `ReplayBrain` (a recorded cassette), and the test doubles in `testing.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..org import Org, Role
from .state import Message, RunState

if TYPE_CHECKING:
    from .tools import Toolbox


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    content: str
    value: Any = None
    """A structured result for in-process brains (a message id, a file's text)."""


@dataclass
class TurnContext:
    org: Org
    role: Role
    message: Message
    render: Callable[[], str]
    """Renders the role's system prompt; `prompt` calls it once, and only brains that need it."""
    ledger: Mapping[str, Any]
    state: RunState
    tools: Toolbox
    turn_id: str
    seed: str
    """A string unique to this turn and stable across runs and resumes; seed RNGs with it."""
    memory: str = ""
    files: Callable[[], Mapping[str, str]] = field(default=lambda: {}, repr=False)
    """The incumbent's experiment files this role may edit (path -> text, what read_file gives
    at the start of the turn), empty for roles that edit none. A mapping that reads a file only
    when asked, so a brain that does not use them costs no git calls."""
    snapshot: Callable[[], Mapping[str, str]] = field(default=lambda: {}, repr=False)
    """The same files at the snapshot commit (`Toolbox.snapshot_files`): what a brain may show
    whole, with the changes kept since as a diff, so a keep does not rewrite every file in a
    cached prompt. Empty when `files` is, or when the engine gives none: then show `files`."""
    _prompt: str | None = field(default=None, repr=False)

    @property
    def prompt(self) -> str:
        if self._prompt is None:
            self._prompt = self.render()
        return self._prompt

    def call(self, tool: str, **args: Any) -> ToolResult:
        return self.tools.call(tool, args)


class Brain(Protocol):
    """Decides one turn of one role by calling `ctx.call(...)` / `ctx.tools`."""

    name: str

    async def turn(self, ctx: TurnContext) -> None: ...


class BrainPaused(Exception):
    """The brain cannot go on for now (the API keeps failing): the engine pauses the run with this
    message; the turn is not committed and runs again on resume."""
