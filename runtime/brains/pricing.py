"""What an LLM call costs: one price table, per model family, in US dollars per million tokens.

`cost(model, usage)` prices one Messages API response from its usage: input, output, cache writes
(1.25x the input price: five-minute cache entries) and cache reads (0.1x the input price). A model
is matched to the longest family prefix in `PRICES`; a model the table does not know is priced
as the most expensive family, so a budget in USD errs on the side of stopping early.

It does not know about batch discounts, one-hour cache writes, long-prompt price bands (Haiku
5.5's starts low and rises), cache prices a model sets apart from these multipliers, or negotiated
prices: it estimates, it does not bill. The figures are Anthropic's published list prices (the
model pages on platform.claude.com) when the table was written; update them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CACHE_WRITE = 1.25
CACHE_READ = 0.10


@dataclass(frozen=True)
class Price:
    input: float
    output: float

    @property
    def cache_write(self) -> float:
        return self.input * CACHE_WRITE

    @property
    def cache_read(self) -> float:
        return self.input * CACHE_READ


PRICES: Mapping[str, Price] = {
    "claude-fable": Price(10.0, 50.0),
    "claude-mythos": Price(10.0, 50.0),  # shares Fable's pricing
    "claude-opus-5-5": Price(4.0, 20.0),
    "claude-opus-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4-0": Price(15.0, 75.0),
    "claude-opus-4": Price(5.0, 25.0),  # 4.5 onwards
    "claude-sonnet-5": Price(2.0, 10.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-haiku-5": Price(0.10, 0.50),  # the band for prompts up to 100k tokens
    "claude-haiku-4": Price(1.0, 5.0),
}
"""Family prefix → price. Longer prefixes win, so a version can differ from its family."""

UNKNOWN: Price = max(PRICES.values(), key=lambda p: (p.output, p.input))


def price(model: str) -> Price:
    """The price of `model`; the most expensive family's when the table does not know it."""
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else UNKNOWN


def known(model: str) -> bool:
    return any(model.startswith(prefix) for prefix in PRICES)


def cost(
    model: str,
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read: int = 0,
    cache_write: int = 0,
) -> float:
    """US dollars for one call. `input_tokens` excludes the cached ones, as the API reports it."""
    p = price(model)
    millions = (
        input_tokens * p.input
        + output_tokens * p.output
        + cache_write * p.cache_write
        + cache_read * p.cache_read
    )
    return millions / 1_000_000


__all__ = ["PRICES", "UNKNOWN", "Price", "cost", "known", "price"]
