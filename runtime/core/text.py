"""Text the way the runtime shows it: to roles, lines counted as git counts them, files paged by
whole lines, and unified diffs between versions; to people, text cut to fit a line without
changing what it says (`clip`), and an operating-system error in words (`errno_words`).

`clip(text, width)` puts `text` on one line and, when it is too long, cuts it between words and
ends it with "…", so a reader can tell it was cut. A cut never falls inside a number or an id:
`val_bpb before: 1.19754` cut short reads `val_bpb before: …`, never `val_bpb before: 1`, and
`Evidence: e4, e5` reads `Evidence: e4, …`, never `Evidence: e4, e`. Only a word with no digits
that is longer than half the width is cut inside, since backing off would leave almost nothing.

Pure functions of strings; nothing here reads a file or runs git.
"""

from __future__ import annotations

import difflib
import errno
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


ELLIPSIS = "…"


def clip(text: str, width: int) -> str:
    """`text` with its whitespace runs made single spaces, at most `width` characters long."""
    flat = " ".join(str(text).split())
    if len(flat) <= width:
        return flat
    room = max(0, width - len(ELLIPSIS))
    head = flat[:room]
    if flat[room] != " " and head and not head.endswith(" "):  # the cut splits a word
        start = head.rfind(" ") + 1
        if start > room // 2 or any(c.isdigit() for c in head[start:]):
            head = head[:start]
    return head + ELLIPSIS


_WORDS = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many symbolic links (a link that points at itself?)",
    errno.EMFILE: "too many open files",
    errno.ENOTEMPTY: "the folder is not empty",
    errno.EXDEV: "cannot move across file systems",
}


def errno_words(e: OSError) -> str:
    """What went wrong, in words (`no space left on the device`), never `[Errno 28] …`."""
    return _WORDS.get(e.errno or 0) or (e.strerror or str(e) or type(e).__name__).lower()


def os_error(e: OSError) -> str:
    """`PATH: what went wrong`, with the path as the system named it."""
    words = errno_words(e)
    if e.filename is None:
        return words
    where = str(e.filename if isinstance(e.filename, str) else e.filename.decode(errors="replace"))
    return f"{where}: {words}"


def diff_lines(diff: str) -> tuple[int, int]:
    """Lines a unified diff adds and removes (file headers aside)."""
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`: a span a person reads at a glance."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


__all__ = [
    "ELLIPSIS",
    "PAGE_CHARS",
    "changed_lines",
    "changes",
    "clip",
    "diff_lines",
    "duration",
    "errno_words",
    "lines_of",
    "os_error",
    "page",
    "unified",
]
