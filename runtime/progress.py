"""What `orgloop run` prints while the org works: a line per experiment and decision on a terminal
(rich), or every event as a JSON line with `--json`. It only listens to events; it changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console

from .core.events import Event


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.6f}"


class Progress:
    def __init__(self, *, json_lines: bool = False, file: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.file = file or sys.stdout
        self.console = Console(file=self.file, highlight=False, soft_wrap=True)
        self.metric = "metric"
        self.descriptions: dict[str, str] = {}

    def __call__(self, ev: Event) -> None:
        if self.json_lines:
            self.file.write(ev.to_json().decode() + "\n")
            self.file.flush()
            return
        handler = getattr(self, "_" + ev.kind, None)
        if handler is not None:
            handler(ev.data)

    def say(self, text: str) -> None:
        if not self.json_lines:
            self.console.print(text)

    def _run_started(self, d: Mapping[str, Any]) -> None:
        self.metric = d["metric"]["name"]
        bound = d["metric"].get("bound")
        self.say(
            f"[bold]orgloop[/] run [cyan]{d['run_id']}[/] of [bold]{d['org_name']}[/] — "
            f"brain {d['brain']}, {d['slots']} slot(s), budget {d['budget']['experiments']} "
            f"experiments; {self.metric} {d['metric']['goal']}"
            + (f", bound {bound}" if bound is not None else "")
        )

    def _run_resumed(self, d: Mapping[str, Any]) -> None:
        self.say(f"[bold]orgloop[/] resumed with {d['pending']} pending message(s)")

    def _experiment_started(self, d: Mapping[str, Any]) -> None:
        self.descriptions[d["id"]] = d.get("description", "")

    def _experiment_finished(self, d: Mapping[str, Any]) -> None:
        status = d["status"]
        colour = {"ok": "green", "timeout": "yellow"}.get(status, "red")
        reason = f"  [dim]{d['reason'][:80]}[/]" if d.get("reason") else ""
        self.say(
            f"  {d['id']:>4} [{colour}]{status:<7}[/] {self.metric} {_num(d.get('metric'))}  "
            f"{d.get('seconds', 0):5.1f}s  {self.descriptions.get(d['id'], '')}{reason}"
        )

    def _decision(self, d: Mapping[str, Any]) -> None:
        keep = d["verdict"] == "keep"
        where = f" → branch at {d['commit'][:7]}" if keep else ""
        mark = "[bold green]keep[/]" if keep else "[dim]discard[/]"
        self.say(f"       {mark} {d['experiment']}{where}")

    def _org_edited(self, d: Mapping[str, Any]) -> None:
        self.say(
            f"  [magenta]org edit[/] gen {d.get('generation')} {d.get('file', '')} by "
            f"{d.get('author', 'meta')}: {str(d.get('rationale', ''))[:100]}"
        )

    def _org_reverted(self, d: Mapping[str, Any]) -> None:
        self.say(
            f"  [magenta]org edit reverted[/] gen {d.get('generation')}: {d.get('reason', '')}"
        )

    def _org_rejected(self, d: Mapping[str, Any]) -> None:
        self.say(f"  [magenta]org edit rejected[/]: {d.get('reason', '')}")

    def _budget_exhausted(self, d: Mapping[str, Any]) -> None:
        self.say(f"  [yellow]budget spent:[/] {d['budget']}")

    def _paused(self, d: Mapping[str, Any]) -> None:
        self.say(f"  [yellow]paused:[/] {d.get('reason', '')}")

    def _run_finished(self, d: Mapping[str, Any]) -> None:
        closed = d.get("gap_closed")
        gap = f", {closed:.0%} of the gap to the bound closed" if closed is not None else ""
        self.say(
            f"[bold]done[/] ({d['reason']}): best {self.metric} {_num(d.get('best'))} "
            f"from baseline {_num(d.get('baseline'))}{gap}; {d.get('kept', 0)} of "
            f"{d.get('experiments', 0)} experiments kept"
        )
