"""Near misses: which known word a misspelt key most likely meant.

A key within a small edit distance of a known one (`budjet` for `budget`, `experimnts` for
`experiments`, `Budget` for `budget`) is almost always a typo, and a typo in a setting is worse than
an unknown key: the setting silently does not apply. The distance counts insertions, deletions,
substitutions and swaps of neighbours (optimal string alignment), case-insensitively.

It only compares words; which keys are known, and whether a near miss is an error, is the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`."""
    a, b = a.lower(), b.lower()
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[len(b)]


def allowed(word: str) -> int:
    """How many edits still read as a typo of a word this long: 1 up to four letters, else 2."""
    return 1 if len(word) <= 4 else 2


def near_miss(word: str, known: Iterable[str]) -> str | None:
    """The known word `word` most likely misspells, or None when none is close enough."""
    best: tuple[int, str] | None = None
    for candidate in sorted(known):
        d = distance(word, candidate)
        if d <= allowed(candidate) and d < len(candidate) and (best is None or d < best[0]):
            best = (d, candidate)
    return None if best is None else best[1]


__all__ = ["allowed", "distance", "near_miss"]
