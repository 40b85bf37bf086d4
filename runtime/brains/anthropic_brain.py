"""AnthropicBrain: Claude decides a role's turn through the Messages API's tool use.

A turn is a tool-use loop. The system prompt is the role's rendered prompt, the tools are the
role's allowed tools, and the first user message is the message the role must handle. Every
`tool_use` the model returns is executed through the turn's Toolbox (so the runtime's rules apply:
allowed tools, paths, budgets) and goes back as a `tool_result` (`is_error` when refused). The turn
ends when the model stops calling tools after acting, after one nudge if it never acted, when the
turn has made `max_steps` tool calls, or before a call that would overspend the org's token or
USD budget. Every successful response is accounted as one `llm_call` event.

A role that edits the experiment (it has edit_file, and its editable files are the experiment's)
also gets its editable files in its system prompt, so it need not read them each turn: whole as
they were at a snapshot commit, cached until the snapshot moves, then the diff kept since, so a
keep adds a few lines to the prompt rather than writing every file to the cache again.

What stays bounded: the prompt is the program and the role's Markdown with a bounded ledger and
memory, plus the editable files clipped to `MAX_FILES_CHARS` and the diff kept since their
snapshot; the conversation lives for one turn and holds at most `max_steps` tool results, each
clipped. Nothing is carried from one turn to the next except through tools (memory notes,
messages, files).

Prompt caching (four breakpoints, the API's most), in the order the API reads a prompt: on the
head of the system prompt, everything before the ledger, which with the tools before it is the
same for all of a role's turns; on the editable files, which change when an experiment is kept;
on the rest of the system prompt (ledger, memory), which changes when an experiment ends; and on
the newest message, so each call of a turn reads the one before from the cache. The tools get no
breakpoint of their own: caching is by prefix, so the head's entry covers them.

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

from ..core.text import changes, page
from ..core.tools import ToolResult
from .base import BrainPaused, TurnContext
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
MIN_QUOTED_CHARS = 400
"""A message body this long that the system prompt already holds word for word (the kickoff
carries the program) is pointed to, not sent twice."""
MAX_FILES_CHARS = 48_000
"""The editable files in a prompt: whole files while they fit in this many characters (a longer
one is cut at a line, with the offset read_file goes on from); the rest are named for read_file.
Room for a train.py of several hundred lines; it is read from the cache, not sent anew."""
MAX_UNSHOWN_NAMES = 20
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
def system_blocks(
    prompt: str, ledger_summary: str, files: str = "", rules: str = "", kept: str = ""
) -> list[Block]:
    """The system prompt as cacheable blocks, each a breakpoint, from the least to the most
    changing. The head, before the ledger, and the turn `rules` (see `turn_rules`) change only
    when the org's Markdown does: they are shared among all of a role's turns. `files` (see
    `files_block`) change when the snapshot moves, every few keeps. The rest changes when an
    experiment ends: the `kept` changes since the snapshot (see `kept_block`), then the prompt
    from the ledger (and the heading that introduces it) on."""
    cut = _ledger_start(prompt, ledger_summary)
    if cut > 0 and prompt[:cut].strip():
        parts = [prompt[:cut].rstrip() + rules, files, kept + prompt[cut:]]
    else:
        parts = [prompt.rstrip() + rules, files, kept]
    return [{"type": "text", "text": p, "cache_control": EPHEMERAL} for p in parts if p]


def _ledger_start(prompt: str, ledger_summary: str) -> int:
    """Where the ledger begins in the prompt: at its summary, or at the Markdown heading right
    above it (`## The ledger`), which must stay with it; -1 when the prompt has no ledger."""
    cut = prompt.find(ledger_summary) if ledger_summary else -1
    if cut <= 0:
        return cut
    above = prompt[:cut].rstrip()
    line = above.rfind("\n") + 1
    return line if above[line:].startswith("#") else cut


def org_chart(ctx: TurnContext) -> str:
    """Who is in the org and what flows between them, from the role files: what each role can
    expect of the others. It changes only when a role file does, so it sits in the cached head
    (and makes the short roles' heads long enough for the API to cache at all)."""
    lines = [f"\n\n## The org\n\nThe roles of {ctx.org.name} and the messages between them:"]
    for role in ctx.org.roles.values():
        sends = "; ".join(f"`{s.kind}` to {', '.join(s.to)}" for s in role.sends)
        you = " (you)" if role.name == ctx.role.name else ""
        what = " ".join(role.description.split())
        lines.append(f"- **{role.name}**{you}: {what}" + (f" Sends {sends}." if sends else ""))
    return "\n".join(lines)


def turn_rules(ctx: TurnContext, tools: list[str]) -> str:
    """How a role acts, the same for all of its turns: it belongs with the cached head of the
    system prompt, not in each turn's first message."""
    sends = "; ".join(f"`{s.kind}` to {', '.join(s.to)}" for s in ctx.role.sends)
    return org_chart(ctx) + (
        "\n\n## How you act\n"
        f"You act only through your tools ({', '.join(tools)}); text outside a tool call reaches "
        "no one. " + (f"You may send: {sends}. " if sends else "") + "Each turn hands you one "
        "message; when you are done with it, reply without a tool call.\n\n"
    )


def files_block(files: Mapping[str, str]) -> str:
    """The editable files as a system block ("" when there are none): whole files while they
    fit in MAX_FILES_CHARS (the first may be cut at a line, saying where read_file goes on), and
    the names of those that did not, so the model knows to read them."""
    shown: list[str] = []
    size = 0
    paths = list(files)
    for n, path in enumerate(paths):
        try:
            text = page(files[path], chars=MAX_FILES_CHARS)
        except KeyError:
            continue  # gone from the commit since it was listed: read_file would say so too
        if size + len(text) > MAX_FILES_CHARS and shown:
            rest = paths[n:]
            names = ", ".join(rest[:MAX_UNSHOWN_NAMES])
            more = (
                f" and {len(rest) - MAX_UNSHOWN_NAMES} more"
                if len(rest) > MAX_UNSHOWN_NAMES
                else ""
            )
            shown.append(f"Not shown, for want of room (use read_file): {names}{more}.")
            break
        shown.append(f'<file path="{path}">\n{text}\n</file>')
        size += len(text)
    if not shown:
        return ""
    head = (
        "## The editable files\n\n"
        "The files you may edit, as the run last took them whole. The incumbent is these files "
        'with the diff under "Changes kept since" applied, when that section follows; read_file '
        "gives the incumbent as it is. Edit them with edit_file without reading them first.\n\n"
    )
    return head + "\n\n".join(shown) + "\n\n"


def kept_block(snapshot: Mapping[str, str], incumbent: Mapping[str, str]) -> str:
    """The incumbent as a diff from the files shown whole ("" when they agree), clipped like a
    tool result; it is at most a fraction of the files (see tools.SNAPSHOT_SLACK)."""
    diff = _clip(changes(snapshot, incumbent), MAX_RESULT_CHARS)
    if not diff:
        return ""
    diff += "" if diff.endswith("\n") else "\n"
    return (
        "## Changes kept since\n\n"
        "The incumbent is the editable files above with this diff applied: `+` lines are its "
        "text, `-` lines are gone. In edit_file's old_string, quote the incumbent's text.\n\n"
        f"```diff\n{diff}```\n\n"
    )


def system_prompt(ctx: TurnContext) -> str:
    """The role's rendered prompt, after the program (ORG.md's body) when the role file does not
    already hold it: every role works for the same goal, whatever its Markdown says."""
    program = ctx.org.program.body.strip()
    if not program or program in ctx.prompt:
        return ctx.prompt
    return f"# The program\n\n{program}\n\n# Your role\n\n{ctx.prompt}"


def first_message(ctx: TurnContext, system: str) -> str:
    """The turn's message, and only what is new in it: how to act is in the `system` prompt,
    and a long body that prompt already holds is pointed to."""
    msg = ctx.message
    body = msg.body if len(msg.body) <= MAX_BODY_CHARS else msg.body[:MAX_BODY_CHARS] + " […]"
    if len(body) >= MIN_QUOTED_CHARS and body.strip() in system:
        body = "(The body is in your system prompt above, word for word; it is not repeated here.)"
    data = {k: v for k, v in msg.data.items() if k not in HIDDEN_DATA}
    parts = [f"A `{msg.kind}` message from {msg.sender}:", "", body or "(empty)"]
    if data:
        parts += ["", "Its data: " + _clip(json.dumps(data, default=str), 2000)]
    parts += ["", "Handle it as your duty above says."]
    return "\n".join(parts)


def build_request(ctx: TurnContext, model: str, max_tokens: int) -> dict[str, Any]:
    tools = ctx.schemas()
    rules = turn_rules(ctx, [t["name"] for t in tools])
    summary = str(ctx.ledger.get("summary", ""))
    files = ctx.files()
    snapshot = ctx.snapshot() if files else {}
    shown, kept = (snapshot, kept_block(snapshot, files)) if snapshot else (files, "")
    system = system_prompt(ctx)
    first = first_message(ctx, system)
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": system_blocks(system, summary, files_block(shown), rules, kept),
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
    limit = ctx.org.program.max_steps
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
        if ctx.calls >= limit:
            return


def _execute(ctx: TurnContext, use: Block, limit: int) -> ToolResult:
    if ctx.calls >= limit:
        return ToolResult(False, f"step limit reached ({limit} tool calls); this turn ends")
    args = use.get("input")
    return ctx.call_with(str(use.get("name", "")), args if isinstance(args, dict) else {})


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
    done = ctx.effects
    return bool(done.sent or done.decided or done.edited or (done.notes and not ctx.role.sends))


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
    if over:
        ctx.declare_spent(over)
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
    ctx.record_usage(
        step=step,
        model=served,
        **counts,
        usd=round(cost(served, **counts), 8),
        seconds=round(seconds, 3),
        stop_reason=response.get("stop_reason"),
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
    "files_block",
    "kept_block",
    "resolve_model",
    "run_turn",
    "system_prompt",
    "write_calls",
]
