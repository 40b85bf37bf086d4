"""A role in full: what it is doing and has cost, its system prompt as the engine renders it for
its next turn (its Markdown template with the org, the ledger of the run so far and its memory),
its memory file, and its last turns. Steps through the roles (`BrowseScreen`).

The prompt is rendered from the org snapshot in the run folder and the memory file in the org's
`.orgloop/memory/`, the same inputs the engine uses; a run folder without a snapshot says so.
Rendering imports the org's template engine and the ledger, never the engine itself.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ._activity import Turn
from ._browse import BrowseScreen
from ._feed import Feed
from ._format import STATE_STYLE, clock, count, duration
from ._org import render_prompt
from ._roles import role_label, role_now

MEMORY = Path(".orgloop") / "memory"
MEMORY_TAIL = 4000
"""Characters of the memory file the engine puts in a prompt (and this view shows)."""


def memory_of(feed: Feed, role: str) -> tuple[Path | None, str]:
    """The role's memory file and its last `MEMORY_TAIL` characters ('' when there is none)."""
    org = feed.state.config.get("org")
    if not org:
        return None, ""
    path = Path(str(org)) / MEMORY / f"{role}.md"
    try:
        return path, path.read_text(encoding="utf-8")[-MEMORY_TAIL:]
    except OSError:
        return path, ""


def cache_share(feed: Feed, role: str) -> str:
    """` (76% of its prompts from the cache)`, for a role whose model calls report caching."""
    used = feed.state.by_role.get(role)
    share = used.cache_share if used is not None else None
    return "" if share is None else f" ({share:.0%} of its prompts from the cache)"


def role_prompt(feed: Feed, role: str, memory: str) -> Text:
    view = feed.view
    if view.org is None:
        why = view.error or "the run folder has no org snapshot (RUN/org/)"
        return Text(f"(not rendered: {why})", style="dim")
    if role not in view.org.roles:
        return Text("(not rendered: the org snapshot has no such role)", style="dim")
    try:
        return Text(render_prompt(view, role, feed.state, memory))
    except Exception as e:  # a template error is the role's, and worth showing as such
        return Text(f"(the template does not render: {type(e).__name__}: {e})", style="red")


def turns_table(feed: Feed, turns: list[Turn]) -> RenderableType:
    if not turns:
        return Text("(no turns yet)", style="dim")
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in ("started", "handled", "sent", "secs", "tools", "tokens", "$"):
        table.add_column(
            name, justify="right" if name in ("secs", "tools", "tokens", "$") else "left"
        )
    messages = feed.state.messages
    for t in reversed(turns):
        handled = messages.get(t.message)
        sent = [messages[m] for m in t.produced if m in messages]
        table.add_row(
            clock(feed.since_start(t.start)),
            f"{handled.kind} {handled.id} from {handled.sender}" if handled else t.message,
            ", ".join(f"{m.kind} → {m.receiver}" for m in sent) or "—",
            "abandoned" if t.abandoned else f"{t.seconds:.1f}" if t.seconds is not None else "",
            str(t.tool_calls),
            count(t.tokens) if t.tokens else "—",
            f"{t.usd:.3f}" if t.usd else "—",
        )
    return table


class RoleScreen(BrowseScreen):
    """One role: its state, prompt, memory and last turns."""

    what = "role"

    def __init__(
        self, feed: Feed, keys: list[str], start: str, *, alive: bool, clock: float
    ) -> None:
        super().__init__(keys, start)
        self.feed = feed
        self.alive = alive
        self.clock = clock

    def head(self, key: str) -> RenderableType:
        now = role_now(self.feed, key, self.alive)
        totals = self.feed.activity.totals(key)
        kind = "sandbox" if key in self.feed.sandbox else "agent"
        text = Text()
        text.append(key, style="bold")
        text.append(f" · {kind} · ", style="dim")
        text.append(role_label(now, self.clock), style=STATE_STYLE.get(now.state, ""))
        if now.on:
            text.append(f" · on {now.on}", style="cyan")
        text.append(
            f" · {self.feed.state.role_turns.get(key, 0)} turns · {count(totals.tokens)} tokens"
            f" · ${totals.usd:.2f}{cache_share(self.feed, key)} · {duration(totals.busy)} busy",
            style="dim",
        )
        return text

    def body(self, key: str) -> RenderableType:
        path, memory = memory_of(self.feed, key)
        recent = list(self.feed.activity.totals(key).recent)
        where = f" ({path})" if path else ""
        return Group(
            Text("Last turns", style="bold"),
            turns_table(self.feed, recent),
            Text(f"\nMemory{where}", style="bold"),
            Text(memory.rstrip() or "(empty)", style="" if memory else "dim"),
            Text("\nPrompt, as rendered for its next turn", style="bold"),
            role_prompt(self.feed, key, memory),
        )
