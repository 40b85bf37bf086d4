"""The metric from protected code, through a channel the sandbox owns.

With `experiment.measured_by: prepare.evaluate_bpb` (an autoresearch folder sets it when its
prepare.py defines `evaluate_bpb`), the sandbox runs the experiment with `_hook/` first on
PYTHONPATH and a file descriptor it opened on `measured.jsonl` in the experiment's folder, which
the experiment cannot see; the hook wraps that function when its module is imported and writes
every value it returns to that descriptor. `judge` then holds
the printed metric against the last value returned: a printed value that differs by more than its
own rounding, or a metric printed when the function never returned, makes the experiment
`suspect`; the value the function returned is recorded either way.

What it does not do: make the channel tamper-proof. Code in the experiment's process can reach
the descriptor and the wrapper; this catches a script that reports a number the protected code
did not compute, not one written to fool the sandbox (docs/sandbox.md).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

HOOK = Path(__file__).with_name("_hook")
CHANNEL = "measured.jsonl"


def channel(workdir: Path) -> Path:
    return workdir / CHANNEL


def open_channel(workdir: Path) -> int:
    """A new, empty channel file in `workdir`, open for appending: the descriptor the experiment
    inherits. The file itself lies where the experiment cannot see it (its folder is hidden)."""
    workdir.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    return os.open(channel(workdir), flags, 0o600)


def hook_env(measured_by: str, fd: int, pythonpath: str | None) -> dict[str, str]:
    """What the experiment's environment gains for the hook to write to descriptor `fd`."""
    path = os.pathsep.join([str(HOOK), *([pythonpath] if pythonpath else [])])
    return {
        "PYTHONPATH": path,
        "ORGLOOP_MEASURED_BY": measured_by,
        "ORGLOOP_MEASURED_FD": str(fd),
    }


def returned(workdir: Path) -> list[float | None]:
    """Every value the measured function returned, in order (None for one that is no number)."""
    out: list[float | None] = []
    try:
        lines = channel(workdir).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        try:
            value = json.loads(line).get("value")
        except (ValueError, AttributeError):
            continue
        out.append(float(value) if isinstance(value, int | float) else None)
    return out


@dataclass(frozen=True)
class Verdict:
    measured: float | None
    """The last value the protected function returned (None: it never returned a number)."""
    problem: str = ""
    """Why the printed metric is not to be believed; "" when it agrees."""


def judge(
    printed: float, printed_text: str, name: str, function: str, values: list[float | None]
) -> Verdict:
    """The printed metric held against what `function` returned."""
    measured = values[-1] if values else None
    if measured is None:
        never = "never returned a number" if values else "never returned"
        return Verdict(None, f"{name} {printed_text} was printed, but {function} {never}")
    if not math.isfinite(measured) or abs(printed - measured) > _rounding(printed_text):
        return Verdict(
            measured, f"{name} printed {printed_text}, but {function} returned {measured!r}"
        )
    return Verdict(measured)


def _rounding(text: str) -> float:
    """Half a unit in the last printed digit (with a little slack for float noise)."""
    mantissa, _, exponent = text.strip().lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals) * (1 + 1e-9) + 1e-15


__all__ = ["CHANNEL", "HOOK", "Verdict", "channel", "hook_env", "judge", "returned"]
