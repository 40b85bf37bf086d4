"""What an LLM brain reads from the org's files, validated where they are written.

- A role's model settings (`effort`, `thinking`, `max_tokens`) and its own `budget` (`usd`,
  `tokens`), from the role's frontmatter.
- ORG.md's `brain` (`outage`: how long an API outage is waited out; `cache_ttl`: the prompt
  cache's lifetime) and `price` (per model: input, output, cache writes and reads, dollars per
  million tokens).

Every surprise is a Finding at its file and line, as everywhere in `orgloop.org`; nothing here
knows the price table or talks to an API (see `runtime/brains/`).
"""

from __future__ import annotations

from typing import Literal

from ._fields import Fields, describe
from ._model import BrainSettings, ModelSettings, PriceOverride, RoleBudget

EFFORTS = ("low", "medium", "high", "xhigh", "max")
"""`output_config.effort` as the Messages API takes it."""
THINKING = ("adaptive", "disabled", "between_tools")
MIN_THINKING_BUDGET = 1024
"""The API's smallest thinking budget (`budget_tokens`)."""
MAX_OUTPUT_TOKENS = 300_000
"""No model writes more in one reply (the Batch API's largest output); beyond it is a typo."""
CACHE_TTLS = ("auto", "5m", "1h")
ROLE_KEYS = ("effort", "thinking", "max_tokens", "budget")
BRAIN_KEYS = ("outage", "cache_ttl")
PRICE_KEYS = ("input", "output", "cache_write", "cache_write_1h", "cache_read")


def model_settings(f: Fields) -> ModelSettings:
    """A role's `effort`, `thinking` and `max_tokens`."""
    effort = f.data.get("effort")
    if effort is not None and effort not in EFFORTS:
        f.error(
            f.line_of("effort"),
            f"`effort` must be one of {', '.join(EFFORTS)}, got {describe(effort)}",
            "or leave it out for the model's default",
            "type",
        )
        effort = None
    max_tokens = f.integer("max_tokens", None, minimum=1)
    if max_tokens is not None and max_tokens > MAX_OUTPUT_TOKENS:
        f.error(
            f.line_of("max_tokens"),
            f"`max_tokens` is {max_tokens:,}; no model writes more than {MAX_OUTPUT_TOKENS:,}",
            "it is the most output tokens of one reply, e.g. 32000",
        )
        max_tokens = None
    return ModelSettings(effort, _thinking(f, max_tokens), max_tokens)


def _thinking(f: Fields, max_tokens: int | None) -> str | int | None:
    value = f.data.get("thinking")
    if value is None or value in THINKING:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        f.error(
            f.line_of("thinking"),
            f"`thinking` must be {', '.join(THINKING)} or a budget in tokens, got "
            f"{describe(value)}",
            "e.g. thinking: adaptive, or thinking: 8000",
            "type",
        )
        return None
    if value < MIN_THINKING_BUDGET:
        f.error(
            f.line_of("thinking"),
            f"a thinking budget must be at least {MIN_THINKING_BUDGET:,} tokens, got {value:,}",
            "raise it, or write thinking: disabled",
        )
        return None
    if max_tokens is not None and value >= max_tokens:
        f.error(
            f.line_of("thinking"),
            f"the thinking budget ({value:,}) must be less than max_tokens ({max_tokens:,})",
            "thinking counts against max_tokens: raise max_tokens or lower the budget",
        )
        return None
    return value


def role_budget(f: Fields) -> RoleBudget:
    """A role's `budget: {usd, tokens}`: its share of the run's model spend."""
    b = f.section("budget")
    b.unknown({"usd", "tokens"}, typos=True)
    return RoleBudget(usd=b.number("usd", None), tokens=b.integer("tokens", None, minimum=1))


def brain_settings(f: Fields) -> BrainSettings:
    """ORG.md's `brain: {outage, cache_ttl}`."""
    b = f.section("brain")
    b.unknown(set(BRAIN_KEYS), typos=True)
    default = BrainSettings()
    ttl = b.choice("cache_ttl", CACHE_TTLS, default.cache_ttl)
    chosen: Literal["auto", "5m", "1h"] = "5m" if ttl == "5m" else "1h" if ttl == "1h" else "auto"
    return BrainSettings(
        outage=b.duration("outage", default.outage) or default.outage, cache_ttl=chosen
    )


def prices(f: Fields) -> dict[str, PriceOverride]:
    """ORG.md's `price`: model (or a prefix of model ids) -> dollars per million tokens."""
    section = f.section("price")
    out = {}
    for model in section.data:
        p = section.section(model)
        line = f.lines.get(f"price.{model}", f.line_of("price"))
        if not isinstance(section.data[model], dict):
            f.error(
                line,
                f"`price.{model}` must be a mapping, got {describe(section.data[model])}",
                "e.g. {input: 3.0, output: 15.0}, in dollars per million tokens",
                "type",
            )
            continue
        p.unknown(set(PRICE_KEYS), typos=True)
        given = {key: p.number(key, None) for key in PRICE_KEYS}
        missing = [key for key in ("input", "output") if given[key] is None]
        if missing:
            f.error(
                line,
                f"`price.{model}` needs {' and '.join(missing)} (dollars per million tokens)",
                "cache prices may be left out; they follow 1.25x/2x/0.1x of input",
                "missing",
            )
            continue
        out[model] = PriceOverride(
            input=given["input"] or 0.0,
            output=given["output"] or 0.0,
            cache_write=given["cache_write"],
            cache_write_1h=given["cache_write_1h"],
            cache_read=given["cache_read"],
            line=line,
        )
    return out


__all__ = [
    "BRAIN_KEYS",
    "CACHE_TTLS",
    "EFFORTS",
    "ROLE_KEYS",
    "THINKING",
    "brain_settings",
    "model_settings",
    "prices",
    "role_budget",
]
