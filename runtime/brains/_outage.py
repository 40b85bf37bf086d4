"""When the Messages API fails: which failures are waited out and for how long, and which pause
the run at once. Pure: no SDK import, no clock, no sleeping (the brain does those).

A failure is a `Failure`: the HTTP status (None for a connection that failed or timed out, or a
body that was not JSON), the API's error type and message, and the server's `retry-after`. It
is either transient — 408, 409, 429, 5xx (529 overloaded included), a dropped or timed-out
connection, a broken body — and waited out, or it is the caller's to fix — 401 credentials, 403
permission, 402 billing, 404 an unknown model, other 4xx — and pauses the run at once with a
message that names the cause and what to do.

Waiting (`Backoff`): the first `quick` retries come fast (0.5 s doubling to 8 s, as the SDK's
own), then the waits grow to `longest` (5 minutes); a `retry-after` the server sends is honoured
instead. The brain gives up, and the run pauses, once the outage has lasted `ceiling` seconds
(ORG.md's `brain.outage`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

QUICK = 4
"""Retries in the first, fast phase: a blip, not yet an outage worth an event."""
LONGEST = 300.0
"""The longest wait between two tries, when the server gives no retry-after."""
TRANSIENT_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class Failure:
    status: int | None
    """HTTP status, or None: the connection failed, timed out, or the body was not JSON."""
    kind: str
    """The API's error type (`overloaded_error`), or connection, timeout, malformed."""
    message: str = ""
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        if self.status is None:
            return True
        return self.status in TRANSIENT_STATUS or self.status >= 500

    def what(self) -> str:
        """A few words for the progress line: `API overloaded (529)`."""
        words = {
            529: "API overloaded",
            429: "rate limited",
            408: "request timed out",
            409: "API busy",
        }
        if self.status is None:
            return {
                "timeout": "API timed out",
                "malformed": "API sent a broken reply",
            }.get(self.kind, "API unreachable")
        return f"{words.get(self.status, 'API error')} ({self.status})"

    def detail(self) -> str:
        head = f"{self.status} {self.kind}" if self.status is not None else self.kind
        return f"{head}: {self.message}" if self.message else head


def problem(f: Failure, model: str) -> str:
    """Why the run pauses at once for a failure that waiting will not cure, and what to do."""
    d = f.detail()
    if f.status == 401:
        return (
            f"the Messages API refused the credentials ({d}); check ANTHROPIC_API_KEY or "
            "ANTHROPIC_AUTH_TOKEN, then resume the run"
        )
    if f.status == 403:
        return (
            f"the Messages API denied permission ({d}): the credentials work, but may not use "
            f"{model} or a feature this request asks for; check the key's workspace and the "
            "model, then resume the run"
        )
    if f.status == 402 or f.kind == "billing_error" or "credit balance" in f.message.lower():
        return (
            f"the Anthropic account cannot pay for more calls ({d}); add credits or raise its "
            "spend limit, then resume the run"
        )
    if f.status == 404:
        return (
            f"the Messages API does not know the model {model} ({d}); check `model` in ORG.md "
            "or the role file, or --model"
        )
    return f"the Messages API rejected the request ({d})"


@dataclass
class Backoff:
    """How long to wait before each new try of one call; `next()` is None once the outage would
    last past `ceiling` seconds."""

    ceiling: float
    quick: int = QUICK
    longest: float = LONGEST
    seed: str = ""
    attempts: int = 0

    @property
    def quiet(self) -> bool:
        """Still in the fast phase: no event for these."""
        return self.attempts <= self.quick

    def next(self, f: Failure, elapsed: float) -> float | None:
        """Seconds to wait before the next try, `elapsed` seconds into the outage (the brain's
        clock: the tries themselves take time), or None: give up."""
        self.attempts += 1
        if f.retry_after is not None and f.retry_after > 0:
            delay = f.retry_after
        elif self.attempts <= self.quick:
            delay = min(8.0, 0.5 * 2 ** (self.attempts - 1))
        else:
            # 15 s, 30 s, 1 min, … up to `longest`; a little jitter keeps roles waiting on the
            # same outage from asking again in the same second (seeded: runs are reproducible)
            base = min(self.longest, 15.0 * 2 ** (self.attempts - self.quick - 1))
            delay = base * (0.9 + 0.2 * random.Random(f"{self.seed}:{self.attempts}").random())
        if elapsed + delay > self.ceiling:
            return None
        return delay


__all__ = ["LONGEST", "QUICK", "Backoff", "Failure", "problem"]
