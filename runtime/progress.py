"""What `orgloop run` prints while the org works: a line per experiment and decision on a terminal
(rich), or every event as a JSON line with `--json`. It only listens to events; it changes nothing.

A line that says a budget is spent waits until the experiments it covers have reported (the
experiment budget is spent when its last experiment is sent, not when it finishes), and text that
does not fit its line is cut with an ellipsis, never inside a number. A resumed run's printer is
told what the run already knows (`know`), so its lines name the metric and the experiments.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape as _escape

from .core.events import Event
from .core.state import RunState
from .core.text import clip, duration


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.6f}"


class Progress:
    def __init__(self, *, json_lines: bool = False, file: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.file = file or sys.stdout
        self.console = Console(file=self.file, highlight=False, soft_wrap=True)
        self.metric = "metric"
        self.descriptions: dict[str, str] = {}
        self.owed: set[str] = set()
        """Candidate experiment messages sent whose experiment has not reported yet."""
        self.running: dict[str, str] = {}
        """Experiments started and not finished: id -> the message that asked for it."""
        self.held: list[tuple[str, str]] = []
        """(budget, line) of budgets spent while experiments they cover are still to report."""
        self.now = 0.0
        """The time of the latest event."""
        self.waiting: dict[str, float] = {}
        """Roles waiting out an API outage: role -> since when (the engine's clock)."""

    def know(self, state: RunState) -> None:
        """What a resumed run already holds: the metric's name and the experiments so far."""
        metric = state.config.get("metric")
        if isinstance(metric, dict) and isinstance(metric.get("name"), str):
            self.metric = metric["name"]
        for e in state.experiments.values():  # one that never finished runs again, and says so
            self.descriptions[e.id] = e.description
        done = {e.message for e in state.experiments.values() if e.finished}
        for m in state.messages.values():
            if m.kind == "experiment" and not m.data.get("baseline") and m.id not in done:
                self.owed.add(m.id)

    def __call__(self, ev: Event) -> None:
        if self.json_lines:
            self.file.write(ev.to_json().decode() + "\n")
            self.file.flush()
            return
        self.now = ev.t
        handler = getattr(self, "_" + ev.kind, None)
        if handler is not None:
            handler(ev.data)

    def say(self, text: str) -> None:
        if not self.json_lines:
            self.console.print(text)

    def _run_started(self, d: Mapping[str, Any]) -> None:
        self.metric = d["metric"]["name"]
        bound = d["metric"].get("bound")
        experiments = d["budget"]["experiments"]
        budget = (
            "no experiment budget (until stopped)"
            if experiments is None
            else (f"budget {experiments} experiments")
        )
        self.say(
            f"[bold]orgloop[/] run [cyan]{d['run_id']}[/] of [bold]{d['org_name']}[/] — "
            f"brain {d['brain']}, {d['slots']} slot(s), {budget}; "
            f"{self.metric} {d['metric']['goal']}"
            + (f", bound {bound}" if bound is not None else "")
        )

    def _run_resumed(self, d: Mapping[str, Any]) -> None:
        self.say(f"[bold]orgloop[/] resumed with {d['pending']} pending message(s)")

    def _message_sent(self, d: Mapping[str, Any]) -> None:
        data = d.get("data") or {}
        if d.get("kind") == "experiment" and not data.get("baseline"):
            self.owed.add(str(d["id"]))

    def _experiment_started(self, d: Mapping[str, Any]) -> None:
        self.descriptions[d["id"]] = d.get("description", "")
        self.running[d["id"]] = str(d.get("message", ""))

    def _experiment_finished(self, d: Mapping[str, Any]) -> None:
        status = d["status"]
        colour = {"ok": "green", "timeout": "yellow"}.get(status, "red")
        reason = f"  [dim]{_escape(clip(d['reason'], 100))}[/]" if d.get("reason") else ""
        description = _escape(clip(self.descriptions.get(d["id"], ""), 80))
        self.say(
            f"  {d['id']:>4} [{colour}]{status:<7}[/] {self.metric} {_num(d.get('metric'))}  "
            f"{d.get('seconds', 0):5.1f}s  {description}{reason}"
        )
        self.owed.discard(self.running.pop(d["id"], ""))
        self._release(force=False)

    def _decision(self, d: Mapping[str, Any]) -> None:
        keep = d["verdict"] == "keep"
        where = f" → branch at {d['commit'][:7]}" if keep else ""
        mark = "[bold green]keep[/]" if keep else "[dim]discard[/]"
        self.say(f"       {mark} {d['experiment']}{where}")

    def _org_edited(self, d: Mapping[str, Any]) -> None:
        self.say(
            f"  [magenta]org edit[/] gen {d.get('generation')} {d.get('file', '')} by "
            f"{d.get('author', 'meta')}: {_escape(clip(str(d.get('rationale', '')), 120))}"
        )

    def _org_reverted(self, d: Mapping[str, Any]) -> None:
        self.say(
            f"  [magenta]org edit reverted[/] gen {d.get('generation')}: "
            f"{_escape(clip(str(d.get('reason', '')), 160))}"
        )

    def _org_rejected(self, d: Mapping[str, Any]) -> None:
        self.say(f"  [magenta]org edit rejected[/]: {_escape(clip(str(d.get('reason', '')), 160))}")

    def _budget_exhausted(self, d: Mapping[str, Any]) -> None:
        budget = str(d["budget"])
        self.held.append((budget, f"  [yellow]budget spent:[/] {budget}"))
        self._release(force=False)

    def _release(self, *, force: bool) -> None:
        """Print the held budget lines whose experiments have all reported (all, with force)."""
        keep = []
        for budget, line in self.held:
            waiting = self.owed if budget == "experiments" else self.running
            if waiting and not force:
                keep.append((budget, line))
            else:
                self.say(line)
        self.held = keep

    def _api_waiting(self, d: Mapping[str, Any]) -> None:
        since = float(d.get("since") or 0.0)
        self.waiting[str(d.get("role"))] = since
        self.say(
            f"  [yellow]{_escape(str(d.get('what', 'API error')))}[/], retry in "
            f"{duration(float(d.get('retry_in') or 0))}, waiting since "
            f"{time.strftime('%H:%M', time.localtime(since))} [dim]({d.get('role')})[/]"
        )

    def _llm_call(self, d: Mapping[str, Any]) -> None:
        since = self.waiting.pop(str(d.get("role")), None)
        if since is not None:
            self.say(
                f"  [green]API back[/] after {duration(self.now - since)} [dim]({d.get('role')})[/]"
            )

    def _reply_cut(self, d: Mapping[str, Any]) -> None:
        again = d.get("retry_with")
        then = f"asked again with {again:,}" if again else "the turn gives up"
        dropped = ", ".join(d.get("dropped") or []) or "no tool call"
        self.say(
            f"  [yellow]reply cut off[/] at {d.get('max_tokens', 0):,} tokens ({d.get('role')}): "
            f"{dropped} not run; {then}"
        )

    def _refusal(self, d: Mapping[str, Any]) -> None:
        then = "asked once more" if d.get("retried") else "the turn ends"
        self.say(
            f"  [yellow]refused[/] ({d.get('role')}, {d.get('category') or 'no category'}): {then}"
        )

    def _turn_undone(self, d: Mapping[str, Any]) -> None:
        self.say(
            f"  [red]turn undone[/]: {d.get('role')} on `{d.get('kind')}` "
            f"{d.get('message')}: {_escape(clip(str(d.get('reason', '')), 120))}"
        )

    def _paused(self, d: Mapping[str, Any]) -> None:
        self._release(force=True)
        self.say(f"  [yellow]paused:[/] {_escape(str(d.get('reason', '')))}")

    def _run_finished(self, d: Mapping[str, Any]) -> None:
        self._release(force=True)
        closed = d.get("gap_closed")
        c = d.get("confirmed") or {}
        confirmed = c.get("delta") is not None
        gap = (
            f", {closed:.0%} of the gap to the bound closed{' (confirmed)' if confirmed else ''}"
            if closed is not None
            else ""
        )
        self.say(
            f"[bold]done[/] ({d['reason']}): best {self.metric} {_num(d.get('best'))} "
            f"from baseline {_num(d.get('baseline'))}{gap}; {d.get('kept', 0)} of "
            f"{d.get('experiments', 0)} experiments kept"
        )
        if confirmed:
            sem = f" ± {c['sem']:.6f}" if c.get("sem") is not None else ""
            verdict = "replicates" if c.get("replicates") else "does not replicate"
            self.say(
                f"  confirmed on {len(c.get('seeds') or [])} fresh seeds: {c.get('experiment')} "
                f"beats the baseline by {c['delta']:+.6f}{sem}: {verdict}"
            )
        roles = d.get("by_role") or {}
        if roles:
            each = ", ".join(f"{role} ${r['usd']:.2f}" for role, r in roles.items())
            self.say(f"  cost: ${d.get('usd', 0.0):.2f} ({each})")
        if d.get("turns_undone"):
            self.say(f"  [red]{d['turns_undone']} turn(s) ended without their duty done[/]")
