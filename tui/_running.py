"""The experiments running now: per slot the experiment, how long it has run against its timeout,
the change it tries, the GPU memory in use where the machine has GPUs, and the live end of its
log (`RUN/experiments/<id>/log.txt`, which the sandbox writes as the experiment prints).

With nothing running it shows the last experiment that finished and the end of its log. The log
is read only when its size changed, and only its last few kilobytes; times are counted against
the clock the app passes in (the wall clock while an engine runs the run, the last event's time
otherwise), so a finished run reads the same forever. Each experiment gets a line and under it
as many log lines as the terminal's height allows (none on a short one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rich.text import Text
from textual.widget import Widget

from orgloop.runtime.core.state import RunState

from ._feed import Feed
from ._format import STATUS_STYLE, duration, metric
from ._gpu import GpuMemory

TAIL_BYTES = 8192
"""Bytes read from the end of a log."""
BAR = 10
"""Cells of the elapsed-against-timeout bar."""
TAILS = ((44, 4), (30, 1), (0, 0))
"""(terminal rows from which, log lines per experiment)."""


class LogTails:
    """The last lines of log files, read again only when a file's size changes."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[int, list[str]]] = {}

    def lines(self, path: Path) -> list[str]:
        try:
            size = os.stat(path).st_size
        except OSError:
            return []
        cached = self._cache.get(path)
        if cached is not None and cached[0] == size:
            return cached[1]
        try:
            with open(path, "rb") as f:
                f.seek(max(0, size - TAIL_BYTES))
                data = f.read(TAIL_BYTES)
        except OSError:
            return []
        text = data.decode("utf-8", errors="replace").replace("\r", "\n")
        lines = [ln.rstrip() for ln in text.split("\n") if ln.strip()]
        if size > TAIL_BYTES and lines:
            lines = lines[1:]  # the first may be cut
        self._cache[path] = (size, lines)
        return lines


def timeout_of(feed: Feed) -> float | None:
    """Seconds an experiment may run: the org's setting, else what finished ones were given."""
    if feed.view.timeout:
        return feed.view.timeout
    for e in reversed(list(feed.state.experiments.values())):
        iso = e.info.get("isolation")
        if isinstance(iso, dict) and isinstance(iso.get("timeout_s"), (int, float)):
            return float(iso["timeout_s"])
    return None


def slot_gpus(feed: Feed) -> dict[int, list[str]]:
    """The GPUs each slot used, from the experiments that finished there."""
    out: dict[int, list[str]] = {}
    for e in feed.state.experiments.values():
        gpus = e.info.get("gpus")
        if e.finished and isinstance(gpus, list) and gpus:
            out[e.slot] = [str(g) for g in gpus]
    return out


def _bar(fraction: float) -> Text:
    filled = round(max(0.0, min(1.0, fraction)) * BAR)
    style = "red" if fraction >= 0.9 else "yellow" if fraction >= 0.7 else "green"
    return Text.assemble(("▮" * filled, style), ("▯" * (BAR - filled), "dim"))


def render_running(
    feed: Feed,
    tails: LogTails,
    *,
    alive: bool,
    clock: float,
    tail: int,
    gpus: Mapping[str, GpuMemory],
) -> Text:
    """A line per running experiment (or the last one to finish) and `tail` lines of its log."""
    s = feed.state
    running = sorted(feed.activity.running, key=lambda e: (s.experiments[e].slot, e))
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    folder = feed.run_dir / "experiments"
    if not running:
        done = [e for e in s.experiments.values() if e.finished]
        if not done:
            out.append("No experiment has run yet.", style="dim")
            return out
        last = done[-1]
        out.append("No experiment running; the last: ", style="dim")
        out.append(f"{last.id} ", style="bold")
        out.append(last.status, style=STATUS_STYLE.get(last.status, ""))
        out.append(f" {metric(last.metric)} in {duration(last.seconds)}  {last.description}")
        _tail(out, tails.lines(folder / last.id / "log.txt"), tail)
        return out
    limit = timeout_of(feed)
    by_slot = slot_gpus(feed)
    for i, exp_id in enumerate(running):
        e = s.experiments[exp_id]
        if i:
            out.append("\n")
        elapsed = clock - feed.activity.running[exp_id]
        out.append(f"slot {e.slot} ", style="dim")
        out.append(f"{e.id} ", style="bold")
        if not alive and not s.finished:
            out.append("stopped ", style="red")
        out.append(duration(elapsed), style="bold")
        if limit:
            out.append(f"/{duration(limit)} ", style="dim")
            out.append_text(_bar(elapsed / limit))
        out.append("  ")
        for gpu in by_slot.get(e.slot, [str(e.slot)] if gpus else []):
            mem = gpus.get(gpu)
            if mem is not None:
                out.append(f"GPU {gpu} {mem.used_gb:.1f}/{mem.total_gb:.0f} GB  ", style="cyan")
        out.append(e.description)
        _tail(out, tails.lines(folder / e.id / "log.txt"), tail)
    return out


def pace_line(s: RunState) -> str:
    """Throughput, for the panel's title: slots busy, experiments an hour, and thinking against
    training (each agent role's mean turn, the mean experiment); '' before an experiment ended."""
    busy, per_hour, train = s.slots_busy(), s.per_hour(), s.training().mean
    if busy is None or per_hour is None or train is None:
        return ""
    think = ", ".join(
        f"{role} {t.mean:.1f}s" for role, t in s.thinking().items() if t.mean is not None
    )
    return (
        f"slots {busy:.0%} busy · {per_hour:.0f} exp/h · thinking {think or 'none yet'}"
        f" · training {train:.1f}s"
    )


def _tail(out: Text, lines: list[str], rows: int) -> None:
    for line in lines[-rows:] if rows > 0 else []:
        out.append("\n  " + line, style="dim")


class RunningPanel(Widget):
    """The running experiments and the ends of their logs."""

    DEFAULT_CSS = """
    RunningPanel { height: auto; padding: 0 1; }
    """

    def __init__(self, feed: Feed, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.feed = feed
        self.tails = LogTails()
        self.gpus: Mapping[str, GpuMemory] = {}
        self.alive = False
        self.clock = 0.0
        self._text = Text()

    def show(self, *, alive: bool, clock: float) -> None:
        self.alive, self.clock = alive, clock
        pace = pace_line(self.feed.state)
        title = "running" + (f" · {pace}" if pace else "")
        if self.border_title != title:
            self.border_title = title
        text = self._render_text()
        if text != self._text:
            grew = len(text.plain.split("\n")) != len(self._text.plain.split("\n"))
            self._text = text
            self.refresh(layout=grew)

    @property
    def tail(self) -> int:
        """Log lines per experiment the terminal's height allows."""
        height = self.screen.size.height if self.is_attached else 0
        return next(n for rows, n in TAILS if height >= rows)

    def _render_text(self) -> Text:
        return render_running(
            self.feed,
            self.tails,
            alive=self.alive,
            clock=self.clock,
            tail=self.tail,
            gpus=self.gpus,
        )

    def on_resize(self) -> None:
        text = self._render_text()
        if text != self._text:
            self._text = text
            self.refresh(layout=True)

    def render(self) -> Text:
        """Each line cut at the panel's width (a log line can be as long as it likes)."""
        width = self.content_size.width
        lines = self._text.split("\n")
        for line in lines:
            line.truncate(max(1, width), overflow="ellipsis")
        return Text("\n", end="").join(lines)
