"""The form for sending a message into the org as the human: a role, a kind, a Markdown body.

It returns what was typed (`{"to", "kind", "body"}`) and sends nothing itself: the app turns it
into an `inject` command in control.jsonl, and the engine checks the role and delivers it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, TextArea


class InjectScreen(ModalScreen[dict[str, Any] | None]):
    """Role, kind, body; ctrl+s sends, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    DEFAULT_CSS = """
    InjectScreen { align: center middle; }
    InjectScreen > Vertical {
        width: 80; height: auto; border: thick $accent; background: $surface; padding: 1 2;
    }
    InjectScreen Horizontal { height: auto; }
    InjectScreen Select { width: 1fr; }
    InjectScreen Input { width: 1fr; }
    InjectScreen TextArea { height: 10; }
    InjectScreen #inject-buttons { margin-top: 1; }
    """

    def __init__(self, roles: list[str], role: str | None = None, kind: str = "note") -> None:
        super().__init__()
        self.roles = roles
        self.role = role if role in roles else (roles[0] if roles else None)
        self.kind = kind

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Send a message as the human[/b]  (ctrl+s sends, escape cancels)")
            with Horizontal():
                yield Select(
                    [(r, r) for r in self.roles],
                    value=self.role if self.role is not None else Select.NULL,
                    allow_blank=not self.roles,
                    id="inject-role",
                )
                yield Input(self.kind, placeholder="kind", id="inject-kind")
            yield TextArea(id="inject-body", language="markdown")
            with Horizontal(id="inject-buttons"):
                yield Button("Send", variant="primary", id="inject-send")
                yield Button("Cancel", id="inject-cancel")

    def on_mount(self) -> None:
        self.query_one("#inject-body", TextArea).focus()

    def action_send(self) -> None:
        role = self.query_one("#inject-role", Select).value
        kind = self.query_one("#inject-kind", Input).value.strip() or "note"
        body = self.query_one("#inject-body", TextArea).text
        if not isinstance(role, str):
            self.notify("Choose a role to send to.", severity="warning")
            return
        if not body.strip():
            self.notify("Write a message first.", severity="warning")
            return
        self.dismiss({"to": role, "kind": kind, "body": body})

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "inject-send":
            self.action_send()
        else:
            self.action_cancel()
