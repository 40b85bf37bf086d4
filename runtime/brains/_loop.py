"""One role turn as a Messages API tool-use loop, over any transport (the live API, a cassette).

Each reply is read by its `stop_reason` before anything in it runs:

- `tool_use` / `end_turn`: every `tool_use` runs through the turn's Toolbox (the runtime's rules
  apply) and goes back as a `tool_result`; a reply without one ends the turn once the role has
  acted, after one nudge if it has not.
- `max_tokens`: the reply was cut off, and a cut-off tool call may carry half its input (an
  edit_file whose content stops mid-line, a send whose body stops mid-word): none of its tool
  calls runs. The same request goes again with twice the limit, up to the role's ceiling
  (`max_tokens` in its role file); a reply cut off at the ceiling ends the turn. Each cut is a
  `reply_cut` event. `model_context_window_exceeded` ends the turn the same way (a larger limit
  cannot help).
- `refusal`: asked once more; a second refusal in a row ends the turn. Each is a `refusal`
  event.
- `pause_turn`: the API paused a long turn; the reply goes back as it is and the model goes on.

A turn that ends without the role having done its duty (sent or decided; an edit or a note, for
a role that sends nothing) is a `turn_undone` event with the reason. Every answered call is one
`llm_call` event, priced by `Prices`; a call that would overspend the run's or the role's token
or dollar budget is not made (the budget is declared spent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..core import rules
from ..core.tools import ToolResult
from ._request import MAX_RESULT_CHARS, TurnSettings, build_request, clip, estimate_tokens, marked
from .base import TurnContext
from .pricing import DEFAULT, Prices

Block = dict[str, Any]
Transport = Callable[[TurnContext, int, dict[str, Any]], Awaitable[tuple[dict[str, Any], float]]]
"""(ctx, step, request) -> (response as the API's JSON, seconds). Raises BrainPaused when it
cannot answer for now."""
NUDGE = (
    "You have not acted on the message yet. You act only through tool calls; text outside a tool "
    "call reaches no one. Call the tools your duty needs now, or reply without a tool call to end "
    "your turn with nothing done."
)
CONTINUE = frozenset({"pause_turn"})
CUT = frozenset({"max_tokens", "model_context_window_exceeded"})


class _Turn:
    """What one turn's loop keeps between calls."""

    def __init__(self, ctx: TurnContext, settings: TurnSettings, prices: Prices) -> None:
        self.ctx, self.settings, self.prices = ctx, settings, prices
        self.request = build_request(ctx, settings.model, settings=settings)
        self.max_tokens = settings.max_tokens
        self.nudged = self.refused = self.continuing = False

    def cut(self, step: int, stop: str, uses: list[Block]) -> bool:
        """Report a cut-off reply; True when the turn asks again with a larger limit."""
        s = self.settings
        retry = min(s.ceiling, self.max_tokens * 2) if stop == "max_tokens" else None
        retry = retry if retry is not None and retry > self.max_tokens else None
        self.ctx.report_cut(
            step=step,
            stop_reason=stop,
            max_tokens=self.max_tokens,
            retry_with=retry,
            dropped=[str(u.get("name", "")) for u in uses],
        )
        if retry is None:
            why = (
                f"its reply was cut off at max_tokens {self.max_tokens:,}, the role's ceiling "
                "(raise `max_tokens` in its role file)"
                if stop == "max_tokens"
                else "the conversation outgrew the model's context window"
            )
            undone(self.ctx, why, force=True)
            return False
        self.max_tokens = retry
        return True

    def refusal(self, step: int, response: dict[str, Any]) -> bool:
        """Report a refusal; True when the turn asks once more."""
        details = response.get("stop_details") or {}
        self.ctx.report_refusal(
            step=step,
            category=details.get("category"),
            explanation=details.get("explanation"),
            retried=not self.refused,
        )
        if self.refused:
            undone(self.ctx, "the model refused twice")  # after its duty was done: nothing lost
            return False
        self.refused = True
        return True

    def add(self, content: list[Block], results: list[Block] | None) -> None:
        """Append the model's reply (joined to the one it continues, after a pause) and what
        answers it (tool results, a nudge), if anything."""
        messages = self.request["messages"]
        if self.continuing and messages[-1]["role"] == "assistant":
            messages[-1] = {"role": "assistant", "content": [*messages[-1]["content"], *content]}
        else:
            messages.append({"role": "assistant", "content": content or [_text("…")]})
        self.continuing = results is None
        if results is not None:
            messages.append({"role": "user", "content": results})


async def run_turn(
    ctx: TurnContext,
    transport: Transport,
    *,
    model: str,
    settings: TurnSettings | None = None,
    prices: Prices = DEFAULT,
) -> None:
    """One role turn as a tool-use loop; see the module docstring for when it ends."""
    s = settings or TurnSettings(model)
    t = _Turn(ctx, s, prices)
    if not t.request["tools"]:
        return  # a role with no tools cannot act; asking the model would only cost money
    limit = ctx.org.program.max_steps
    for step in range(2 * limit + 8):  # the loop below ends sooner; this bound is a backstop
        if _over_budget(ctx, t.request, prices):
            undone(ctx, "the next call would overspend a budget")
            return
        response, seconds = await transport(ctx, step, marked(t.request, t.max_tokens))
        _account(ctx, step, s.model, response, seconds, prices, t.max_tokens)
        content: list[Block] = list(response.get("content") or [])
        uses = [b for b in content if b.get("type") == "tool_use"]
        stop = str(response.get("stop_reason") or "")
        if stop in CUT:
            if t.cut(step, stop, uses):
                continue
            return
        if stop == "refusal":
            if t.refusal(step, response):
                continue
            return
        t.refused = False  # answered: a later refusal is asked once more too
        if stop in CONTINUE:
            t.add(content, None)
            continue
        if not uses:
            if t.nudged or _acted(ctx):
                undone(ctx, "it replied without a tool call twice")
                return
            t.nudged = True
            t.add(content, [_text(NUDGE)])
            continue
        t.add(content, [_result_block(use, _execute(ctx, use, limit)) for use in uses])
        if ctx.calls >= limit:
            undone(ctx, f"it made {limit} tool calls, the step limit, without doing its duty")
            return
    undone(ctx, "the turn asked the model too many times")


def undone(ctx: TurnContext, reason: str, *, force: bool = False) -> None:
    """A `turn_undone` event when the role has not done its duty (or, with `force`, when the
    turn ends on a failure even though something was done: its reply was lost)."""
    if force or not _acted(ctx):
        ctx.report_undone(reason)


def _execute(ctx: TurnContext, use: Block, limit: int) -> ToolResult:
    if ctx.calls >= limit:
        return ToolResult(False, f"step limit reached ({limit} tool calls); this turn ends")
    args = use.get("input")
    return ctx.call_with(str(use.get("name", "")), args if isinstance(args, dict) else {})


def _text(s: str) -> Block:
    return {"type": "text", "text": s}


def _result_block(use: Block, result: ToolResult) -> Block:
    block: Block = {
        "type": "tool_result",
        "tool_use_id": use.get("id", ""),
        "content": clip(result.content, MAX_RESULT_CHARS) or "(empty)",
    }
    if not result.ok:
        block["is_error"] = True
    return block


def _acted(ctx: TurnContext) -> bool:
    """Whether the turn did something that counts: sent or decided (a PI may rightly only
    decide once the experiment budget is spent). An edit or a note counts only for a role that
    sends nothing (the meta-agent's edit, or its "no edit this time"): an engineer whose edit
    never went out as an experiment, its send refused, has not done its duty."""
    done = ctx.effects
    if ctx.role.sends:
        return bool(done.sent or done.decided)
    return bool(done.sent or done.decided or done.edited or done.notes)


def _over_budget(ctx: TurnContext, request: dict[str, Any], prices: Prices) -> bool:
    """Whether the next call could overspend the run's or the role's tokens or dollars: the
    request's prompt, estimated, priced as uncached input."""
    state, role = ctx.state, ctx.role
    guess = estimate_tokens(request)
    usd = prices.cost(request["model"], input_tokens=guess)
    b, r = ctx.org.program.budget, role.budget
    if b.tokens is not None and state.tokens + guess > b.tokens:
        ctx.declare_spent("tokens")
        return True
    if b.usd is not None and state.usd + usd > b.usd:
        ctx.declare_spent("usd")
        return True
    used = state.by_role.get(role.name)
    if r.tokens is not None and (used.tokens if used else 0) + guess > r.tokens:
        ctx.declare_spent("tokens", role=True)
        return True
    if r.usd is not None and (used.usd if used else 0.0) + usd > r.usd:
        ctx.declare_spent("usd", role=True)
        return True
    return bool(rules.role_spent(ctx.org, state, role))


def _account(
    ctx: TurnContext,
    step: int,
    model: str,
    response: dict[str, Any],
    seconds: float,
    prices: Prices,
    max_tokens: int,
) -> None:
    usage = response.get("usage") or {}
    served = str(response.get("model") or model)
    created = usage.get("cache_creation") or {}
    counts = {
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_read": int(usage.get("cache_read_input_tokens") or 0),
        "cache_write": int(usage.get("cache_creation_input_tokens") or 0),
        "cache_write_1h": int(created.get("ephemeral_1h_input_tokens") or 0),
    }
    ctx.record_usage(
        step=step,
        model=served,
        **counts,
        usd=round(prices.cost(served, **counts), 8),
        seconds=round(seconds, 3),
        stop_reason=response.get("stop_reason"),
        max_tokens=max_tokens,
    )


__all__ = ["NUDGE", "Transport", "run_turn", "undone"]
