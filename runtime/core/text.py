"""Text the way the runtime shows it to roles: lines counted as git counts them, files paged by
whole lines, and unified diffs between versions.

Pure functions of strings; nothing here reads a file or runs git.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

PAGE_CHARS = 10_000
"""read_file returns at most this many characters of whole lines per call (a single longer line
is returned whole), then says which offset reads on."""


def lines_of(text: str) -> list[str]:
    """`text` split after each newline, as git and editors count lines (str.splitlines would
    also split at form feeds and other separators inside a line)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def page(text: str, offset: int = 1, limit: int | None = None, chars: int = PAGE_CHARS) -> str:
    """Lines offset.. (1-based, at most `limit` of them) of `text`, whole lines up to `chars`
    characters, then, unless they reach the end, a line saying where the rest begins."""
    lines = lines_of(text)
    end = len(lines) if limit is None else min(len(lines), offset - 1 + limit)
    out: list[str] = []
    size = 0
    for line in lines[offset - 1 : end]:
        if out and size + len(line) > chars:
            break
        out.append(line)
        size += len(line)
    body, last = "".join(out), offset - 1 + len(out)
    if last >= len(lines):
        return body
    newline = "" if body.endswith("\n") else "\n"
    return (
        f"{body}{newline}[… lines {offset}-{last} of {len(lines)} shown; read_file with "
        f"offset={last + 1} reads on]"
    )


def changes(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """A unified diff, one line of context, from `old` to `new` for each path of `new` (a path
    that `old` lacks shows as added); "" when they agree."""
    out: list[str] = []
    for path in new:
        after, before = new.get(path), old.get(path)
        if after is None or after == before:
            continue
        out += difflib.unified_diff(
            lines_of(before or ""),
            lines_of(after),
            f"a/{path}",
            f"b/{path}",
            n=1,
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def changed_lines(old: str, new: str) -> int:
    """Lines added plus lines removed."""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
    return sum(1 for d in diff if d[:1] in "+-" and d[:3] not in ("+++", "---"))


def unified(path: str, old: str, new: str, limit: int = 4000) -> str:
    """`git diff`-style unified diff of one file, at most `limit` characters."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(lines)[:limit]


__all__ = ["PAGE_CHARS", "changed_lines", "changes", "lines_of", "page", "unified"]
