"""The meta desk: when the org's meta role looks at its own Markdown, and what happens to its edits.

The engine calls `after_decisions()` after every committed decision (it sends the meta role a
`window` every `meta.every` decided experiments), and `propose()` when a meta turn edited files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..org import HUMAN, Role
from .brain import TurnContext

if TYPE_CHECKING:
    from .engine import Engine


class MetaDesk:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def meta_roles(self) -> list[Role]:
        return [r for r in self.engine.org.roles.values() if "window" in r.receives]

    def after_decisions(self) -> None:
        s, every = self.engine.state, self.engine.org.program.meta.every
        decided = len(s.decided())
        if decided < (s.windows + 1) * every:
            return
        window = s.windows + 1
        ids = [e.id for e in s.decided()[-every:]]
        for role in self.meta_roles():
            self.engine._send(
                HUMAN,
                role.name,
                "window",
                f"window {window}: {', '.join(ids)}",
                {"window": window, "experiments": ids},
            )
        s.windows = window

    def propose(self, role: Role, edits: dict[str, str], rationale: str, turn: str) -> None:
        self.engine.emit(
            "org_rejected",
            {
                "turn": turn,
                "role": role.name,
                "files": sorted(edits),
                "reason": "meta edits are not applied yet",
            },
        )

    def answer(self, verdict: str, generation: object) -> str:
        return "no meta edit is waiting for approval"


def offline_proposal(ctx: TurnContext) -> tuple[str, str, str] | None:
    """The offline meta policy's edit: (path, new content, rationale), or None."""
    return None
