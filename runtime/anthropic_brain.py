"""AnthropicBrain: Claude decides a role's turn through the Messages API's tool use.

A turn is a tool-use loop. The system prompt is the role's rendered prompt, the tools are the
role's allowed tools, and the first user message is the message the role must handle. Every
`tool_use` the model returns is executed through the turn's Toolbox (so the runtime's rules apply:
allowed tools, paths, budgets) and goes back as a `tool_result` (`is_error` when refused). The turn
ends when the model stops calling tools after acting, after one nudge if it never acted, when the
turn has made `max_steps` tool calls, or before a call that would overspend the org's token or
USD budget. Every successful response is accounted as one `llm_call` event.

What stays bounded: the prompt is the role's Markdown with a bounded ledger and memory; the
conversation lives for one turn and holds at most `max_steps` tool results, each clipped. Nothing
is carried from one turn to the next except through tools (memory notes, messages, files).

Prompt caching (four breakpoints, the API's most): on the last tool; on the head of the system
prompt, everything before the ledger, which is the same for all of a role's turns; on the rest of
the system prompt, which changes when an experiment ends; and on the newest message, so each call
of a turn reads the one before from the cache.

Failures: the SDK retries 408/409/429/5xx and dropped connections itself (`max_retries`, honouring
`retry-after`); this module retries bodies that are not JSON (the SDK does not), and turns what
still fails into `BrainPaused`, so the engine pauses the run and the turn reruns on resume.

The `anthropic` package is imported only when a turn runs. `run_turn` takes any transport, so
`replay.ReplayBrain` runs the same loop over a recorded cassette. Not here: streaming, thinking
settings, server-side tools, the Batches API, and any state kept from one turn to the next.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .brain import BrainPaused, ToolResult, TurnContext
from .pricing import cost

if TYPE_CHECKING:
    import ssl

    import anthropic

Block = dict[str, Any]
ALIASES: Mapping[str, str] = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
}
"""Claude Code's model aliases, mapped to current ids from the SDK's own list (ModelParam)."""
EPHEMERAL: Block = {"type": "ephemeral"}
MAX_TOKENS = 4096
MAX_RESULT_CHARS = 12_000
"""A tool result is clipped to this many characters: one file read must not flood the turn."""
MAX_BODY_CHARS = 8_000
HIDDEN_DATA = frozenset({"files", "base", "seconds"})
"""Message data the model is not shown: file contents travel as edits, and wall-clock seconds
would make two runs' prompts differ for no reason."""
NO_CREDENTIALS = (
    "no Anthropic credentials: set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN and resume the run"
)
NUDGE = (
    "You have not acted on the message yet. You act only through tool calls; text outside a tool "
    "call reaches no one. Call the tools your duty needs now, or reply without a tool call to end "
    "your turn with nothing done."
)


def resolve_model(role_model: str, brain_model: str | None, program_model: str) -> str:
    """The model for a role: its own unless `inherit`, then the brain's (the CLI's --model),
    then the org's; Claude Code aliases become ids."""
    chosen = role_model if role_model and role_model != "inherit" else brain_model or program_model
    return ALIASES.get(chosen, chosen)


@dataclass(frozen=True)
class Call:
    """One Messages API exchange, as a cassette line holds it."""

    turn: str
    role: str
    kind: str
    step: int
    request: dict[str, Any]
    response: dict[str, Any]
    seconds: float


Transport = Callable[[TurnContext, int, dict[str, Any]], Awaitable[tuple[dict[str, Any], float]]]
"""(ctx, step, request) -> (response as the API's JSON, seconds). Raises BrainPaused when it
cannot answer for now."""


# ---- the request
def system_blocks(prompt: str, ledger_summary: str) -> list[Block]:
    """The system prompt as cacheable blocks. The head, before the ledger, changes only when the
    org's Markdown does: its breakpoint shares it among all of a role's turns. The rest changes
    when an experiment ends: its breakpoint shares it among turns in between."""
    cut = prompt.find(ledger_summary) if ledger_summary else -1
    if cut > 0 and prompt[:cut].strip():
        return [
            {"type": "text", "text": prompt[:cut], "cache_control": EPHEMERAL},
            {"type": "text", "text": prompt[cut:], "cache_control": EPHEMERAL},
        ]
    return [{"type": "text", "text": prompt, "cache_control": EPHEMERAL}]


def first_message(ctx: TurnContext, tools: list[str]) -> str:
    msg = ctx.message
    body = msg.body if len(msg.body) <= MAX_BODY_CHARS else msg.body[:MAX_BODY_CHARS] + " […]"
    data = {k: v for k, v in msg.data.items() if k not in HIDDEN_DATA}
    sends = "; ".join(f"`{s.kind}` to {', '.join(s.to)}" for s in ctx.role.sends)
    parts = [f"A `{msg.kind}` message from {msg.sender}:", "", body or "(empty)"]
    if data:
        parts += ["", "Its data: " + _clip(json.dumps(data, default=str), 2000)]
    parts += [
        "",
        "Handle it as your duty above says. You act only through your tools "
        f"({', '.join(tools)}); text outside a tool call reaches no one. "
        + (f"You may send: {sends}. " if sends else "")
        + "When you are done, reply without a tool call.",
    ]
    return "\n".join(parts)


def build_request(ctx: TurnContext, model: str, max_tokens: int) -> dict[str, Any]:
    tools = [dict(t) for t in ctx.tools.schemas()]
    if tools:
        tools[-1]["cache_control"] = EPHEMERAL
    first = first_message(ctx, [t["name"] for t in tools])
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": system_blocks(ctx.prompt, str(ctx.ledger.get("summary", ""))),
        "tools": tools,
        "messages": [{"role": "user", "content": [{"type": "text", "text": first}]}],
    }


def _marked(request: dict[str, Any]) -> dict[str, Any]:
    """The request with a cache breakpoint on its newest block (copied: earlier messages must
    not keep old breakpoints, the API allows four)."""
    messages = list(request["messages"])
    last = dict(messages[-1])
    last["content"] = [*last["content"][:-1], {**last["content"][-1], "cache_control": EPHEMERAL}]
    messages[-1] = last
    return {**request, "messages": messages}


def estimate_tokens(request: dict[str, Any]) -> int:
    """A pessimistic guess at a request's prompt tokens: JSON characters / 4."""
    return len(json.dumps(request, separators=(",", ":"))) // 4


# ---- the loop
async def run_turn(
    ctx: TurnContext, transport: Transport, *, model: str, max_tokens: int = MAX_TOKENS
) -> None:
    """One role turn as a tool-use loop; see the module docstring for when it ends."""
    request = build_request(ctx, model, max_tokens)
    if not request["tools"]:
        return  # a role with no tools cannot act; asking the model would only cost money
    box, limit = ctx.tools, ctx.org.program.max_steps
    nudged = False
    for step in range(limit + 2):  # the loop below ends sooner; this bound is a backstop
        if _over_budget(ctx, request):
            return
        response, seconds = await transport(ctx, step, _marked(request))
        _account(ctx, step, model, response, seconds)
        content: list[Block] = list(response.get("content") or [])
        uses = [b for b in content if b.get("type") == "tool_use"]
        if not uses:
            if nudged or _acted(ctx):
                return
            nudged = True
            request["messages"] += [
                {"role": "assistant", "content": content or [{"type": "text", "text": "…"}]},
                {"role": "user", "content": [{"type": "text", "text": NUDGE}]},
            ]
            continue
        results = [_result_block(use, _execute(ctx, use, limit)) for use in uses]
        request["messages"] += [
            {"role": "assistant", "content": content},
            {"role": "user", "content": results},
        ]
        if box.calls >= limit:
            return


def _execute(ctx: TurnContext, use: Block, limit: int) -> ToolResult:
    if ctx.tools.calls >= limit:
        return ToolResult(False, f"step limit reached ({limit} tool calls); this turn ends")
    args = use.get("input")
    return ctx.tools.call(str(use.get("name", "")), args if isinstance(args, dict) else {})


def _result_block(use: Block, result: ToolResult) -> Block:
    block: Block = {
        "type": "tool_result",
        "tool_use_id": use.get("id", ""),
        "content": _clip(result.content, MAX_RESULT_CHARS) or "(empty)",
    }
    if not result.ok:
        block["is_error"] = True
    return block


def _acted(ctx: TurnContext) -> bool:
    """Whether the turn did something that counts: sent, decided or edited (a PI may rightly
    only decide once the experiment budget is spent). A note counts only for a role that sends
    nothing (the meta-agent's "no edit this time"); for others it is bookkeeping, not the duty."""
    box = ctx.tools
    return bool(box.sent or box.decisions or box.edits or (box.notes and not ctx.role.sends))


def _over_budget(ctx: TurnContext, request: dict[str, Any]) -> bool:
    budget, state = ctx.org.program.budget, ctx.state
    guess = estimate_tokens(request)
    over = ""
    if budget.tokens is not None and state.tokens + guess > budget.tokens:
        over = "tokens"
    elif budget.usd is not None and state.usd + cost(request["model"], input_tokens=guess) > (
        budget.usd
    ):
        over = "usd"
    if over and over not in state.exhausted:
        ctx.tools.engine.emit(
            "budget_exhausted",
            {"budget": over, "turn": ctx.turn_id, "role": ctx.role.name, "by": "brain"},
        )
    return bool(over)


def _account(
    ctx: TurnContext, step: int, model: str, response: dict[str, Any], seconds: float
) -> None:
    usage = response.get("usage") or {}
    served = str(response.get("model") or model)
    counts = {
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_read": int(usage.get("cache_read_input_tokens") or 0),
        "cache_write": int(usage.get("cache_creation_input_tokens") or 0),
    }
    ctx.tools.engine.emit(
        "llm_call",
        {
            "turn": ctx.turn_id,
            "role": ctx.role.name,
            "step": step,
            "model": served,
            **counts,
            "usd": round(cost(served, **counts), 8),
            "seconds": round(seconds, 3),
            "stop_reason": response.get("stop_reason"),
        },
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" […{len(text) - limit} more chars]"


# ---- cassettes
def write_calls(path: Path, calls: list[Call], *, aborted: bool = False) -> None:
    """Append one turn's calls to a cassette (JSON lines). A turn's lines are written together
    when it ends, so a cassette never holds half a turn; an aborted turn's lines say so."""
    if not calls:
        return
    extra = {"aborted": True} if aborted else {}
    lines = "".join(json.dumps({**asdict(c), **extra}, sort_keys=True) + "\n" for c in calls)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(lines)


# ---- the brain
class AnthropicBrain:
    """Claude through the anthropic SDK. Credentials, base URL and model come from the arguments,
    then from `env` (ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN, ANTHROPIC_BASE_URL)."""

    name = "anthropic"
    retry_delay = 0.5
    """Seconds before the first retry of a body that is not JSON; doubles each time."""

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        max_retries: int = 4,
        timeout: float = 600.0,
        max_tokens: int = MAX_TOKENS,
        record: Path | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        self.model = model
        self.api_key = api_key or env.get("ANTHROPIC_API_KEY") or None
        self.auth_token = None if self.api_key else auth_token or env.get("ANTHROPIC_AUTH_TOKEN")
        self.base_url = base_url or env.get("ANTHROPIC_BASE_URL") or None
        self.max_retries = max_retries
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.record = record
        self._ssl: ssl.SSLContext | None = None

    async def turn(self, ctx: TurnContext) -> None:
        model = resolve_model(ctx.role.model, self.model, ctx.org.program.model)
        calls: list[Call] = []
        # A client per turn: its connections close with the turn, whichever event loop runs it.
        async with self._client() as client:
            if not (client.api_key or client.auth_token or getattr(client, "credentials", None)):
                raise BrainPaused(NO_CREDENTIALS)

            async def post(
                ctx: TurnContext, step: int, request: dict[str, Any]
            ) -> tuple[dict[str, Any], float]:
                response, seconds = await self._post(client, request)
                where = (ctx.turn_id, ctx.role.name, ctx.message.kind, step)
                calls.append(Call(*where, request, response, round(seconds, 3)))
                return response, seconds

            try:
                await run_turn(ctx, post, model=model, max_tokens=self.max_tokens)
            except BaseException:
                if self.record:
                    write_calls(self.record, calls, aborted=True)
                raise
        if self.record:
            write_calls(self.record, calls)

    def _client(self) -> anthropic.AsyncAnthropic:
        import anthropic
        import httpx2

        if self._ssl is None:  # loading the CA bundle takes ~0.1 s: once per brain, not per turn
            self._ssl = httpx2.create_ssl_context()
        try:
            return anthropic.AsyncAnthropic(
                api_key=self.api_key,
                auth_token=self.auth_token,
                base_url=self.base_url,
                max_retries=self.max_retries,
                timeout=self.timeout,
                http_client=anthropic.DefaultAsyncHttpxClient(verify=self._ssl),
            )
        except anthropic.CredentialsError as e:  # a profile or config file that does not load
            raise BrainPaused(f"{NO_CREDENTIALS} ({e})") from e

    async def _post(
        self, client: anthropic.AsyncAnthropic, request: dict[str, Any]
    ) -> tuple[dict[str, Any], float]:
        import anthropic

        for attempt in range(self.max_retries + 1):
            start = time.monotonic()
            try:
                message = await client.messages.create(**request)
            except anthropic.APIStatusError as e:
                raise BrainPaused(_status_problem(e, self.max_retries)) from e
            except anthropic.APIConnectionError as e:
                what = "timed out" if isinstance(e, anthropic.APITimeoutError) else "failed"
                raise BrainPaused(
                    f"the Messages API connection {what} after {self.max_retries} retries "
                    f"({client.base_url}); resume the run when it is reachable"
                ) from e
            except json.JSONDecodeError:
                message = None  # the SDK does not retry a body that is not JSON; we do
            if message is not None and hasattr(message, "model_dump"):
                return message.model_dump(mode="json", exclude_none=True), time.monotonic() - start
            if attempt < self.max_retries:
                await asyncio.sleep(min(8.0, self.retry_delay * 2**attempt))
        raise BrainPaused(
            f"the Messages API answered with a body that is not a message "
            f"{self.max_retries + 1} times in a row; resume the run later"
        )


def _status_problem(e: anthropic.APIStatusError, retries: int) -> str:
    detail = f"{e.status_code} {e.type or 'error'}: {e.api_message or e.message}"
    if e.status_code in (401, 403):
        return (
            f"the Messages API refused the credentials ({detail}); "
            "check ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN"
        )
    if e.status_code in (408, 409, 429) or e.status_code >= 500:
        return f"the Messages API kept failing after {retries} retries ({detail})"
    return f"the Messages API rejected the request ({detail})"


__all__ = [
    "ALIASES",
    "AnthropicBrain",
    "Call",
    "Transport",
    "build_request",
    "estimate_tokens",
    "resolve_model",
    "run_turn",
    "write_calls",
]
