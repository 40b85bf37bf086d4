"""The Messages API request for one role's turn: system prompt blocks, tools, first message and
the role's model settings. Pure: it reads the TurnContext and calls no API.

The system prompt is cacheable blocks from the least to the most changing (see `system_blocks`
and docs/brains.md "Prompt caching"); the turn's first message carries what is new in it: the
message to handle and the budget left. A role's `effort` and `thinking` become `output_config`
and `thinking`; `max_tokens` is the ceiling a cut-off reply is retried up to (`TurnSettings`).
The cache's lifetime is chosen per turn (`cache_ttl`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core import rules
from ..core.text import changes, duration, page
from .base import TurnContext

Block = dict[str, Any]
ALIASES: Mapping[str, str] = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
}
"""Claude Code's model aliases, mapped to current ids from the SDK's own list (ModelParam)."""
MAX_TOKENS = 8192
"""A reply's first limit of output tokens, thinking included; a reply cut off there is asked
again with twice the limit, up to the role's `max_tokens` ceiling."""
CEILING = 32_000
"""The ceiling when the role file sets no `max_tokens`."""
FIVE_MINUTES = 300.0
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
MAX_LISTED_PATHS = 40
HIDDEN_DATA = frozenset({"files", "base", "seconds"})
"""Message data the model is not shown: file contents travel as edits, and wall-clock seconds
would make two runs' prompts differ for no reason."""


def resolve_model(role_model: str, brain_model: str | None, program_model: str) -> str:
    """The model for a role: its own unless `inherit`, then the brain's (the CLI's --model),
    then the org's; Claude Code aliases become ids."""
    chosen = role_model if role_model and role_model != "inherit" else brain_model or program_model
    return ALIASES.get(chosen, chosen)


@dataclass(frozen=True)
class TurnSettings:
    """How one turn asks: the model, its first and largest `max_tokens`, thinking and effort
    (None: the model's default), and the system blocks' cache lifetime."""

    model: str
    max_tokens: int = MAX_TOKENS
    ceiling: int = CEILING
    thinking: str | int | None = None
    effort: str | None = None
    ttl: str = "5m"


def settings_for(ctx: TurnContext, model: str, start: int = MAX_TOKENS) -> TurnSettings:
    """The role's settings for this turn. A thinking budget is added to the first limit, since
    thinking counts against it."""
    s = ctx.role.settings
    ceiling = s.max_tokens or max(CEILING, start)
    budget = s.thinking if isinstance(s.thinking, int) else 0
    first = min(ceiling, start + budget)
    return TurnSettings(model, first, ceiling, s.thinking, s.effort, cache_ttl(ctx))


def cache_ttl(ctx: TurnContext) -> str:
    """`1h` when the role's prompt must outlive five minutes unused — an experiment may take
    longer (its timeout), or the role's last two turns were further apart — else `5m`; ORG.md's
    `brain.cache_ttl` forces either. A 1h entry costs more to write (2x the input price against
    1.25x) and pays off from the first turn that would have found a 5m one gone."""
    forced = ctx.org.program.brain.cache_ttl
    if forced != "auto":
        return forced
    gap = ctx.state.turn_gaps.get(ctx.role.name, 0.0)
    slow = ctx.org.program.experiment.timeout > FIVE_MINUTES or gap > FIVE_MINUTES
    return "1h" if slow else "5m"


def cache_control(ttl: str) -> Block:
    return {"type": "ephemeral", "ttl": ttl} if ttl == "1h" else {"type": "ephemeral"}


# ---- the system prompt
def system_blocks(
    prompt: str,
    ledger_summary: str,
    files: str = "",
    rules_text: str = "",
    kept: str = "",
    ttl: str = "5m",
) -> list[Block]:
    """The system prompt as cacheable blocks, each a breakpoint, from the least to the most
    changing. The head, before the ledger, and the turn rules (see `turn_rules`) change only
    when the org's Markdown does: they are shared among all of a role's turns. `files` (see
    `files_block`) change when the snapshot moves, every few keeps. The rest changes when an
    experiment ends: the `kept` changes since the snapshot (see `kept_block`), then the prompt
    from the ledger (and the heading that introduces it) on."""
    cut = _ledger_start(prompt, ledger_summary)
    if cut > 0 and prompt[:cut].strip():
        parts = [prompt[:cut].rstrip() + rules_text, files, kept + prompt[cut:]]
    else:
        parts = [prompt.rstrip() + rules_text, files, kept]
    mark = cache_control(ttl)
    return [{"type": "text", "text": p, "cache_control": mark} for p in parts if p]


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


def _sends(ctx: TurnContext) -> str:
    def times(n: int) -> str:
        return "once a turn" if n == 1 else f"up to {n} a turn"

    return "; ".join(
        f"`{s.kind}` to {', '.join(s.to)} ({times(s.per_turn)})" for s in ctx.role.sends
    )


def turn_rules(ctx: TurnContext, tools: list[str]) -> str:
    """How a role acts, the same for all of its turns: it belongs with the cached head of the
    system prompt, not in each turn's first message."""
    sends = _sends(ctx)
    text = org_chart(ctx) + (
        "\n\n## How you act\n"
        f"You act only through your tools ({', '.join(tools)}); text outside a tool call reaches "
        "no one. " + (f"You may send: {sends}. " if sends else "") + _timeout(ctx) + "Each turn "
        "hands you one message; when you are done with it, reply without a tool call.\n\n"
    )
    return text + _meta_paths(ctx)


def _timeout(ctx: TurnContext) -> str:
    """For a role that sends experiments, how long one may run: a change that trains past it
    is killed and wastes its slot."""
    sandboxes = {r.name for r in ctx.org.sandbox_roles()}
    if not any(set(s.to) & sandboxes for s in ctx.role.sends):
        return ""
    limit = duration(ctx.org.program.experiment.timeout)
    return (
        f"An experiment is killed after {limit} (ORG.md's experiment.timeout), training and "
        "evaluation together. "
    )


def _meta_paths(ctx: TurnContext) -> str:
    """For a role that edits the org's Markdown (the meta-agent), the files it may edit, by
    path: it changes only when a file is added or removed, so it is cached with the head."""
    if "window" not in ctx.role.receives or "edit_file" not in {s["name"] for s in ctx.schemas()}:
        return ""
    paths = ctx.editable_paths()
    if not paths:
        return ""
    shown = ", ".join(f"`{p}`" for p in paths[:MAX_LISTED_PATHS])
    more = f" and {len(paths) - MAX_LISTED_PATHS} more" if len(paths) > MAX_LISTED_PATHS else ""
    return f"## Files you may edit\n\n{shown}{more}. Give edit_file one of these paths.\n\n"


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
    diff = clip(changes(snapshot, incumbent), MAX_RESULT_CHARS)
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


# ---- the first message
def budget_line(ctx: TurnContext) -> str:
    """What is left of the budgets, the run's and the role's own: new every turn, so it rides in
    the first message rather than in a cached block."""
    return "Budget left: " + rules.budget_left(ctx.org, ctx.state, ctx.role) + "."


def pipeline_lines(ctx: TurnContext) -> list[str]:
    """How many directions keep the slots busy (for a role that directs the experiment makers,
    once the pace is measured), and what other turns in flight are sending: a replica proposes
    something else."""
    out = []
    ahead = ctx.runahead
    if ahead:
        out.append(
            f"Run-ahead: send {ahead} direction(s) this turn to keep the experiment slots busy "
            "at the pace the run has measured."
        )
    others = ctx.in_flight
    if others:
        out.append("Being sent right now by other turns (not yet measured; do not repeat them):")
        out += [f"- {s['kind']} to {s['receiver']}: {clip(s['body'], 200)}" for s in others[:8]]
    return ["", *out] if out else []


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
        parts += ["", "Its data: " + clip(json.dumps(data, default=str), 2000)]
    parts += ["", budget_line(ctx), *pipeline_lines(ctx), "", "Handle it as your duty above says."]
    return "\n".join(parts)


def build_request(
    ctx: TurnContext, model: str, max_tokens: int = MAX_TOKENS, settings: TurnSettings | None = None
) -> dict[str, Any]:
    s = settings or TurnSettings(model, max_tokens)
    tools = ctx.schemas()
    rules_text = turn_rules(ctx, [t["name"] for t in tools])
    summary = str(ctx.ledger.get("summary", ""))
    files = ctx.files()
    snapshot = ctx.snapshot() if files else {}
    shown, kept = (snapshot, kept_block(snapshot, files)) if snapshot else (files, "")
    system = system_prompt(ctx)
    first = first_message(ctx, system)
    request: dict[str, Any] = {
        "model": s.model,
        "max_tokens": s.max_tokens,
        "system": system_blocks(system, summary, files_block(shown), rules_text, kept, s.ttl),
        "tools": tools,
        "messages": [{"role": "user", "content": [{"type": "text", "text": first}]}],
    }
    if s.thinking is not None:
        request["thinking"] = (
            {"type": "enabled", "budget_tokens": s.thinking}
            if isinstance(s.thinking, int)
            else {"type": s.thinking}
        )
    if s.effort is not None:
        request["output_config"] = {"effort": s.effort}
    return request


def marked(request: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """The request as sent: this call's `max_tokens`, and a cache breakpoint on its newest block
    (copied: earlier messages must not keep old breakpoints, the API allows four). It always
    lives five minutes: it serves the next call of the same turn, seconds away."""
    messages = list(request["messages"])
    last = dict(messages[-1])
    mark = {"type": "ephemeral"}
    last["content"] = [*last["content"][:-1], {**last["content"][-1], "cache_control": mark}]
    messages[-1] = last
    return {**request, "max_tokens": max_tokens, "messages": messages}


def estimate_tokens(request: dict[str, Any]) -> int:
    """A pessimistic guess at a request's prompt tokens: JSON characters / 4."""
    return len(json.dumps(request, separators=(",", ":"))) // 4


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" […{len(text) - limit} more chars]"


__all__ = [
    "ALIASES",
    "CEILING",
    "MAX_TOKENS",
    "TurnSettings",
    "budget_line",
    "build_request",
    "cache_ttl",
    "estimate_tokens",
    "files_block",
    "first_message",
    "kept_block",
    "marked",
    "resolve_model",
    "settings_for",
    "system_blocks",
    "system_prompt",
    "turn_rules",
]
