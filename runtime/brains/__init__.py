"""The Brain seam (`base.py`: `Brain`, `TurnContext`), the brains, and choosing one by name: what
`orgloop run --brain NAME --model M --record PATH` builds.

`make_brain(None, ...)` picks `anthropic` when the environment holds an API key, an auth token or
`ANTHROPIC_BASE_URL` (a local model server), and `offline` otherwise, so a fresh checkout runs with
no key and a configured one uses Claude. Brains
are imported only when chosen: the offline path never imports the anthropic SDK.

It does not check that a key works (the first call does, and pauses the run if it does not) and
does not read the org: per-role models are resolved at each turn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..core.tools import ToolResult
from .base import Brain, BrainPaused, Effects, TurnContext

NAMES = ("offline", "anthropic", "replay")


class BrainChoiceError(ValueError):
    """The flags do not name a brain that can be built; the message says which flag to fix."""


def default_brain_name(env: Mapping[str, str] = os.environ) -> str:
    """`anthropic` when the environment names credentials or an endpoint (a local model
    server needs no key), else `offline`."""
    chosen = env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN")
    return "anthropic" if chosen or env.get("ANTHROPIC_BASE_URL") else "offline"


def make_brain(
    name: str | None,
    *,
    model: str | None = None,
    record: Path | None = None,
    cassette: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> Brain:
    """The brain `name` names (None: anthropic with a key in `env`, else offline).

    `model` overrides the org's model for roles whose model is `inherit` (anthropic, replay);
    `record` writes the anthropic brain's calls to a cassette; `cassette` is what replay reads.
    """
    name = name or default_brain_name(env)
    if name not in NAMES:
        raise BrainChoiceError(f"unknown brain {name!r}; choose one of {', '.join(NAMES)}")
    if record is not None and name != "anthropic":
        raise BrainChoiceError(f"--record needs the anthropic brain, not {name}")
    if cassette is not None and name != "replay":
        raise BrainChoiceError(f"a cassette is read only by the replay brain, not {name}")
    if name == "offline":
        if model is not None:
            raise BrainChoiceError("--model needs an LLM brain (anthropic or replay)")
        from .offline import OfflineBrain

        return OfflineBrain()
    if name == "replay":
        if cassette is None:
            raise BrainChoiceError("the replay brain needs a cassette to read")
        if not Path(cassette).is_file():
            raise BrainChoiceError(f"no cassette at {cassette}")
        from .replay import ReplayBrain

        return ReplayBrain(Path(cassette), model=model)
    from .anthropic_brain import AnthropicBrain

    return AnthropicBrain(model, record=record, env=env)


__all__ = [
    "NAMES",
    "Brain",
    "BrainChoiceError",
    "BrainPaused",
    "Effects",
    "ToolResult",
    "TurnContext",
    "default_brain_name",
    "make_brain",
]
