"""AnthropicBrain: Claude decides a role's turn through the Messages API's tool use.

A turn is the tool-use loop of `_loop.run_turn` over the request `_request.build_request` makes:
the role's rendered prompt as cacheable system blocks, its allowed tools, and the message it must
handle with the budget left. Every reply is read by its stop reason before any tool in it runs
(a reply cut off at `max_tokens` runs none); see `_loop`.

A role that edits the experiment (it has edit_file, and its editable files are the experiment's)
also gets its editable files in its system prompt, so it need not read them each turn: whole as
they were at a snapshot commit, cached until the snapshot moves, then the diff kept since. A
meta role is told the paths of the role files it may edit.

What stays bounded: the prompt is the program and the role's Markdown with a bounded ledger and
memory, plus the editable files clipped to `MAX_FILES_CHARS` and the diff kept since their
snapshot; the conversation lives for one turn and holds at most `max_steps` tool results, each
clipped. Nothing is carried from one turn to the next except through tools.

Prompt caching: four breakpoints (the API's most) — the system prompt's head, the editable
files, the rest of the system prompt, the newest message. The system blocks live five minutes,
or an hour when the role's turns are further apart than that (`_request.cache_ttl`).

Failures (`_outage`): the brain retries what is transient itself — 408, 409, 429, 5xx, dropped
and timed-out connections, bodies that are not JSON — fast at first, then waiting with growing
backoff (honouring `retry-after`) until ORG.md's `brain.outage` (default 4 h) has passed, each
wait an `api_waiting` event; then the run pauses. Credentials (401), permission (403), billing
(402) and other rejections pause it at once, with the cause. Only answered calls are counted,
each once. Time runs on an injected `clock` and `sleep`, so tests wait out a night in seconds.

A request whose `max_tokens` is too large for one non-streaming answer (the SDK refuses one that
may take over ten minutes) is streamed. Models reached through a local base URL (Ollama,
llama.cpp, vLLM) need no key, and one the price table does not know costs nothing.

The `anthropic` package is imported only when a turn runs. Not here: server-side tools, the
Batches API, and any state kept from one turn to the next.
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

from ...org import Program
from ..core import rules
from ..core.text import duration
from ._loop import NUDGE, Transport, run_turn
from ._outage import QUICK, Backoff, Failure, problem
from ._request import (
    ALIASES,
    MAX_FILES_CHARS,
    MAX_TOKENS,
    build_request,
    estimate_tokens,
    files_block,
    kept_block,
    resolve_model,
    settings_for,
    system_blocks,
    system_prompt,
)
from .base import BrainPaused, TurnContext
from .pricing import Price, Prices, is_local

if TYPE_CHECKING:
    import ssl

    import anthropic

NO_CREDENTIALS = (
    "no Anthropic credentials: set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN and resume the run"
)
LOCAL_KEY = "no-key-needed"
"""What goes as the key to a local server when none is set: such servers ignore it."""
STREAM_OVER = 21_333
"""The largest `max_tokens` the SDK answers without streaming: it refuses requests that may take
over ten minutes, reckoning 128,000 output tokens an hour."""
NONSTREAMING_TOKENS = {
    "claude-opus-4-0": 8_192,
    "claude-opus-4-1": 8_192,
    "claude-opus-4-2025": 8_192,
}
"""Models the SDK streams sooner (its MODEL_NONSTREAMING_TOKENS), by id prefix."""
SLICE = 60.0
"""A long wait is slept in slices this long, so a run that ends meanwhile is not kept waiting."""


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


def prices_for(program: Program, base_url: str | None) -> Prices:
    """The price table with ORG.md's `price:` over it, for models reached through `base_url`."""
    overrides = {
        model: Price(p.input, p.output, p.cache_write, p.cache_write_1h, p.cache_read)
        for model, p in program.prices.items()
    }
    return Prices(overrides, local=is_local(base_url))


def streams(request: Mapping[str, Any]) -> bool:
    """Whether the SDK needs this request streamed (see STREAM_OVER)."""
    limit = int(request.get("max_tokens") or 0)
    model = str(request.get("model", ""))
    small = next((n for prefix, n in NONSTREAMING_TOKENS.items() if model.startswith(prefix)), None)
    return limit > STREAM_OVER or (small is not None and limit > small)


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

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        max_retries: int = QUICK,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        max_tokens: int = MAX_TOKENS,
        record: Path | None = None,
        env: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.model = model
        self.api_key = api_key or env.get("ANTHROPIC_API_KEY") or None
        self.auth_token = None if self.api_key else auth_token or env.get("ANTHROPIC_AUTH_TOKEN")
        self.base_url = base_url or env.get("ANTHROPIC_BASE_URL") or None
        if not (self.api_key or self.auth_token) and is_local(self.base_url):
            self.api_key = LOCAL_KEY
        self.max_retries = max_retries
        """Fast retries of a failing call before the wait becomes an outage (with events)."""
        self.timeout = timeout
        """Seconds to wait for an answer once connected; connecting waits `connect_timeout`."""
        self.connect_timeout = connect_timeout
        self.max_tokens = max_tokens
        """A reply's first limit; a cut-off reply doubles it up to the role's ceiling."""
        self.record = record
        self.clock = clock
        self.sleep = sleep
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
                response, seconds = await self._post(client, ctx, request)
                where = (ctx.turn_id, ctx.role.name, ctx.message.kind, step)
                calls.append(Call(*where, request, response, round(seconds, 3)))
                return response, seconds

            try:
                await run_turn(
                    ctx,
                    post,
                    model=model,
                    settings=settings_for(ctx, model, self.max_tokens),
                    prices=prices_for(ctx.org.program, self.base_url),
                )
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
                max_retries=0,  # the brain retries itself, on its own clock (see _post)
                timeout=httpx2.Timeout(self.timeout, connect=self.connect_timeout),
                http_client=anthropic.DefaultAsyncHttpxClient(verify=self._ssl),
            )
        except anthropic.CredentialsError as e:  # a profile or config file that does not load
            raise BrainPaused(f"{NO_CREDENTIALS} ({e})") from e

    async def _post(
        self, client: anthropic.AsyncAnthropic, ctx: TurnContext, request: dict[str, Any]
    ) -> tuple[dict[str, Any], float]:
        """One answered call: transient failures waited out (see the module docstring)."""
        backoff = Backoff(ctx.org.program.brain.outage, quick=self.max_retries, seed=ctx.seed)
        since: float | None = None
        while True:
            start = self.clock()
            failure = None
            try:
                return await _ask(client, request), self.clock() - start
            except Exception as e:  # sorted below: what is not a failure of the API goes up
                failure = _failure(e)
                if failure is None:
                    raise
            if not failure.transient:
                raise BrainPaused(problem(failure, str(request.get("model"))))
            now = self.clock()
            since = start if since is None else since
            delay = backoff.next(failure, now - since)
            if delay is None:
                raise BrainPaused(
                    f"the Messages API has been failing for {duration(now - since)} "
                    f"({failure.detail()}), longer than brain.outage "
                    f"({duration(ctx.org.program.brain.outage)}); resume the run when it is back"
                )
            if not backoff.quiet:
                ctx.report_waiting(
                    status=failure.status,
                    error=failure.detail(),
                    what=failure.what(),
                    attempt=backoff.attempts,
                    retry_in=round(delay, 1),
                    since=since,
                    waited=round(now - since, 1),
                )
            await self._wait(ctx, delay)

    async def _wait(self, ctx: TurnContext, delay: float) -> None:
        """Sleep `delay` seconds on the brain's clock, giving the turn up (the run is ending:
        a budget was spent, a human stopped it) rather than keep the run waiting."""
        end = self.clock() + delay
        while (left := end - self.clock()) > 0:
            if ctx.stopping or rules.spent(ctx.org, ctx.state, self.clock()):
                raise BrainPaused("the run is ending; the turn waiting on the API is given up")
            await self.sleep(min(left, SLICE))


async def _ask(client: anthropic.AsyncAnthropic, request: dict[str, Any]) -> dict[str, Any]:
    if streams(request):
        async with client.messages.stream(**request) as stream:
            message = await stream.get_final_message()
    else:
        message = await client.messages.create(**request)
    if not hasattr(message, "model_dump"):  # a body that parsed, but not as a message
        raise json.JSONDecodeError("not a message", str(message)[:100], 0)
    dumped: dict[str, Any] = message.model_dump(mode="json", exclude_none=True)
    return dumped


def _failure(e: Exception) -> Failure | None:
    """The API failure `e` stands for, or None when it is not one (a bug to raise)."""
    import anthropic
    import httpx2

    if isinstance(e, anthropic.APIStatusError):
        return Failure(
            e.status_code, str(e.type or "error"), str(e.api_message or e.message), _retry_after(e)
        )
    if isinstance(e, anthropic.APITimeoutError | httpx2.TimeoutException):
        return Failure(None, "timeout", "no answer in time")
    if isinstance(e, anthropic.APIConnectionError | httpx2.TransportError):
        return Failure(None, "connection", type(e).__name__)
    if isinstance(e, json.JSONDecodeError | anthropic.APIResponseValidationError):
        return Failure(None, "malformed", "the body is not a message")
    return None


def _retry_after(e: anthropic.APIStatusError) -> float | None:
    headers = e.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
    return None


__all__ = [
    "ALIASES",
    "MAX_FILES_CHARS",
    "MAX_TOKENS",
    "NUDGE",
    "AnthropicBrain",
    "Call",
    "Transport",
    "build_request",
    "estimate_tokens",
    "files_block",
    "kept_block",
    "prices_for",
    "resolve_model",
    "run_turn",
    "system_blocks",
    "system_prompt",
    "write_calls",
]
