"""The confirmation for approving or rejecting a meta edit: which generation, typed or accepted.

It suggests the newest edit waiting for approval (or the one highlighted in the history) and
returns the generation; the app writes the `approve`/`reject` command. Whether that generation is
really waiting is the engine's to say: it answers in a `control` event, which the app shows.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class VerdictScreen(ModalScreen[int | None]):
    """Enter confirms the generation, escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    VerdictScreen { align: center middle; }
    VerdictScreen > Vertical {
        width: 64; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, verdict: str, generation: int | None) -> None:
        super().__init__()
        self.verdict = verdict
        self.generation = generation

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self.verdict.capitalize()}[/b] the meta edit of generation:")
            yield Input(
                "" if self.generation is None else str(self.generation),
                placeholder="generation number",
                type="integer",
                id="verdict-generation",
            )
            yield Label("enter confirms, escape cancels", classes="dim")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text.lstrip("-").isdigit():
            self.notify("Type the generation number of the edit.", severity="warning")
            return
        self.dismiss(int(text))

    def action_cancel(self) -> None:
        self.dismiss(None)
