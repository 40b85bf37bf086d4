"""ReplayBrain: runs a recorded cassette again, with no network and no API key.

A cassette is what `AnthropicBrain(record=PATH)` wrote: JSON lines, one per Messages API call,
each with the turn, role, message kind and step it belonged to, the request and the response.
Replay groups the lines by turn and hands each role its recorded turns in order. Within a turn it
runs the same tool-use loop as the live brain (`anthropic_brain.run_turn`), answering each call
with the next recorded response: the tool calls in those responses run for real through the
toolbox, so files, messages, decisions and `llm_call` accounting evolve as they did live.

A replay that goes another way than the recording — a role receives a different kind of message
than it did, or a turn asks for more or fewer calls — raises `ReplayDivergence`, which names the
turn and what differed. Replay does not compare prompts word for word: they hold commit ids and
other facts of the folder the run lives in. Turns the recording marked aborted (the brain paused
mid-turn, the process died) are skipped; their rerun follows them in the cassette.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from ._request import settings_for
from .anthropic_brain import Call, prices_for, resolve_model, run_turn
from .base import TurnContext


class ReplayDivergence(Exception):
    """The run asked the cassette for something it did not record."""


class CassetteError(Exception):
    """The cassette cannot be read; the message says where."""


def read_cassette(path: Path) -> list[Call]:
    """The cassette's calls in recorded order, aborted turns left out."""
    calls = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CassetteError(f"cannot read cassette {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if raw.get("aborted"):
                continue
            calls.append(Call(**{k: raw[k] for k in Call.__dataclass_fields__}))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CassetteError(f"{path}:{n}: not a cassette line ({e!r})") from None
    return calls


class ReplayBrain:
    name = "replay"

    def __init__(self, cassette: Path, *, model: str | None = None) -> None:
        self.path = Path(cassette)
        self.model = model
        """The --model the recording ran with, if any: the budget checks price requests with it."""
        turns: dict[str, list[Call]] = {}
        for call in read_cassette(self.path):
            turns.setdefault(call.turn, []).append(call)
        self._queues: dict[str, deque[list[Call]]] = defaultdict(deque)
        for calls in turns.values():
            self._queues[calls[0].role].append(sorted(calls, key=lambda c: c.step))
        self._current: dict[str, deque[Call]] = {}

    @property
    def remaining(self) -> int:
        """Recorded turns not replayed yet."""
        return sum(len(q) for q in self._queues.values())

    async def turn(self, ctx: TurnContext) -> None:
        model = resolve_model(ctx.role.model, self.model, ctx.org.program.model)
        try:
            await run_turn(
                ctx,
                self._answer,
                model=model,
                settings=settings_for(ctx, model),
                prices=prices_for(ctx.org.program, None),
            )
            left = self._current.get(ctx.turn_id)
            if left:
                raise ReplayDivergence(
                    f"turn {ctx.turn_id} of {ctx.role.name} ended after fewer calls than the "
                    f"recorded turn {left[0].turn} ({len(left)} left) in {self.path}"
                )
        finally:
            self._current.pop(ctx.turn_id, None)

    async def _answer(
        self, ctx: TurnContext, step: int, request: dict[str, Any]
    ) -> tuple[dict[str, Any], float]:
        if step == 0:
            # A turn takes its recording at its first call: a turn the live brain ended before
            # calling (a spent budget) recorded nothing and takes nothing here either.
            queue = self._queues.get(ctx.role.name)
            if not queue:
                raise ReplayDivergence(
                    f"{ctx.role.name} calls the model in turn {ctx.turn_id} (a "
                    f"`{ctx.message.kind}` message), but {self.path} has no more turns of it"
                )
            recorded = queue.popleft()
            if recorded[0].kind != ctx.message.kind:
                raise ReplayDivergence(
                    f"{ctx.role.name} handles a `{ctx.message.kind}` message in turn "
                    f"{ctx.turn_id}, but its next recorded turn ({recorded[0].turn}) handled "
                    f"`{recorded[0].kind}`"
                )
            self._current[ctx.turn_id] = deque(recorded)
        calls = self._current[ctx.turn_id]
        if not calls:
            raise ReplayDivergence(
                f"turn {ctx.turn_id} of {ctx.role.name} makes call {step + 1}, but the recorded "
                f"turn made only {step}"
            )
        call = calls.popleft()
        return call.response, call.seconds


__all__ = ["CassetteError", "ReplayBrain", "ReplayDivergence", "read_cassette"]
