"""What an LLM call costs: one price table, per model family, in US dollars per million tokens.

`Prices` prices one Messages API response from its usage: input, output, cache writes (five-minute
and one-hour entries) and cache reads, each at its own price. A model is matched to the longest
prefix in the table; ORG.md's `price:` entries (`Prices(overrides=...)`) come first, matched the
same way. A model the table does not know costs:

- nothing when it is reached through a local base URL (`ANTHROPIC_BASE_URL` on this machine or
  the local network: an open-weight model on Ollama, llama.cpp or vLLM);
- the table's most expensive row otherwise (`UNKNOWN`), so a budget in USD errs on the side of
  stopping early.

A Claude model keeps its price behind a local URL too: such a URL is often a proxy to the API.

The figures are Anthropic's published list prices (platform.claude.com's pricing page and model
pages), checked row by row against the anthropic SDK's model list (`ModelParam`) when the table
was last updated; update them here. It does not know batch discounts, regional or priority
surcharges, or negotiated prices: it estimates, it does not bill.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CACHE_WRITE = 1.25
"""Five-minute cache writes, as a multiple of the input price (every model's, so far)."""
CACHE_WRITE_1H = 2.0
CACHE_READ = 0.10
"""The usual cache-read multiple; several current models charge less (their rows say so)."""


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens. Cache prices left None follow the usual multiples of input.
    `long` is the price of a prompt of more than `long_over` tokens (cache included), for a
    model priced in bands."""

    input: float
    output: float
    cache_write: float | None = None
    cache_write_1h: float | None = None
    cache_read: float | None = None
    long: Price | None = None
    long_over: int = 0

    def write_5m(self) -> float:
        return self.input * CACHE_WRITE if self.cache_write is None else self.cache_write

    def write_1h(self) -> float:
        return self.input * CACHE_WRITE_1H if self.cache_write_1h is None else self.cache_write_1h

    def read(self) -> float:
        return self.input * CACHE_READ if self.cache_read is None else self.cache_read

    def for_prompt(self, prompt_tokens: int) -> Price:
        """The band that applies to a prompt of this many tokens."""
        if self.long is not None and prompt_tokens > self.long_over:
            return self.long
        return self


FREE = Price(0.0, 0.0, 0.0, 0.0, 0.0)

_HAIKU_5_5 = Price(
    0.10, 0.50, 0.125, 0.20, 0.01, long=Price(0.50, 2.50, cache_read=0.05), long_over=100_000
)

PRICES: Mapping[str, Price] = {
    # Fable and Mythos are one model offered two ways; each release shares its pricing.
    "claude-fable-5-2": Price(8.0, 40.0, 10.0, 16.0, 0.20),
    "claude-mythos-5-2": Price(8.0, 40.0, 10.0, 16.0, 0.20),
    "claude-fable-5-1": Price(10.0, 50.0, 12.50, 20.0, 0.25),
    "claude-mythos-5-1": Price(10.0, 50.0, 12.50, 20.0, 0.25),
    "claude-fable": Price(10.0, 50.0, 12.50, 20.0, 1.00),  # Fable 5
    "claude-mythos": Price(10.0, 50.0, 12.50, 20.0, 1.00),  # Mythos 5 (and the preview)
    "claude-opus-5-5": Price(4.0, 20.0, 5.0, 8.0, 0.20),
    "claude-opus-5": Price(5.0, 25.0, 6.25, 10.0, 0.50),
    "claude-opus-4": Price(5.0, 25.0, 6.25, 10.0, 0.50),  # 4.5 to 4.8
    "claude-opus-4-1": Price(15.0, 75.0, 18.75, 30.0, 1.50),
    "claude-opus-4-0": Price(15.0, 75.0, 18.75, 30.0, 1.50),
    "claude-opus-4-2025": Price(15.0, 75.0, 18.75, 30.0, 1.50),  # Opus 4 by its dated id
    "claude-sonnet-5-5": Price(2.0, 10.0, 2.50, 4.0, 0.10),  # cache reads cut to 0.05x (Oct 2026)
    "claude-sonnet-5": Price(2.0, 10.0, 2.50, 4.0, 0.20),
    "claude-sonnet-4": Price(3.0, 15.0, 3.75, 6.0, 0.30),  # 4 to 4.6
    "claude-haiku-5-5": _HAIKU_5_5,  # up to 100k prompt tokens; `long` beyond
    "claude-haiku-5": _HAIKU_5_5,
    "claude-haiku-4": Price(1.0, 5.0, 1.25, 2.0, 0.10),  # 4.5
}
"""Family prefix -> price. Longer prefixes win, so a version can differ from its family."""

UNKNOWN: Price = max(PRICES.values(), key=lambda p: (p.output, p.input))
"""What a model nobody priced costs at the Anthropic API: the dearest row (Opus 4.1's)."""


def is_local(base_url: str | None) -> bool:
    """Whether `base_url` names this machine or the local network (loopback, private or
    link-local addresses, `localhost`, `*.local`): where open-weight model servers live."""
    if not base_url:
        return False
    host = (urlsplit(base_url if "//" in base_url else f"//{base_url}").hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _longest(table: Mapping[str, Price], model: str) -> Price | None:
    matches = [prefix for prefix in table if model.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


@dataclass(frozen=True)
class Prices:
    """The table, with an org's overrides over it and what an unknown model costs here."""

    overrides: Mapping[str, Price] = field(default_factory=dict)
    local: bool = False
    """The models are reached through a local base URL: unknown ones cost nothing."""

    def price(self, model: str) -> Price:
        found = _longest(self.overrides, model) or _longest(PRICES, model)
        if found is not None:
            return found
        return FREE if self.local else UNKNOWN

    def known(self, model: str) -> bool:
        return (_longest(self.overrides, model) or _longest(PRICES, model)) is not None

    def cost(
        self,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read: int = 0,
        cache_write: int = 0,
        cache_write_1h: int = 0,
    ) -> float:
        """US dollars for one call. `input_tokens` excludes the cached ones and `cache_write`
        includes the one-hour writes (`cache_write_1h` of them), as the API reports usage."""
        prompt = input_tokens + cache_read + cache_write
        p = self.price(model).for_prompt(prompt)
        five = max(0, cache_write - cache_write_1h)
        millions = (
            input_tokens * p.input
            + output_tokens * p.output
            + five * p.write_5m()
            + cache_write_1h * p.write_1h()
            + cache_read * p.read()
        )
        return millions / 1_000_000


DEFAULT = Prices()


def price(model: str) -> Price:
    """The table's price of `model`; `UNKNOWN` when the table does not know it."""
    return DEFAULT.price(model)


def known(model: str) -> bool:
    return DEFAULT.known(model)


def cost(model: str, **usage: int) -> float:
    """US dollars for one call at the table's prices (see `Prices.cost`)."""
    return DEFAULT.cost(model, **usage)


__all__ = [
    "DEFAULT",
    "FREE",
    "PRICES",
    "UNKNOWN",
    "Price",
    "Prices",
    "cost",
    "is_local",
    "known",
    "price",
]
