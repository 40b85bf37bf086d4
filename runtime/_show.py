"""How the faces show paths, findings and operating-system errors to a person.

Paths are shown relative to the current folder when that is shorter; findings as
`path:line: severity: message (hint: …)`; an OSError as the path and what went wrong in words
(`f/x: a part of this path is a file, not a folder`), never as `[Errno 20] Not a directory`.
It only formats; it decides nothing about exit codes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..org import Finding
from .core.text import errno_words


def display_path(path: str | Path) -> str:
    """`path` relative to the current folder when that is shorter, else as given."""
    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:  # another drive on Windows
        return text
    return rel if len(rel) < len(text) else text


def print_findings(findings: Iterable[Finding], file: TextIO) -> None:
    for f in findings:
        print(dataclasses.replace(f, path=display_path(f.path)), file=file)


def oserror_text(e: OSError) -> str:
    """`PATH: what went wrong`, in words; the path is the one the system named."""
    words = errno_words(e)
    if e.filename is None:
        return words
    where = display_path(os.fsdecode(e.filename))
    if e.filename2 is not None:
        where += f" -> {display_path(os.fsdecode(e.filename2))}"
    return f"{where}: {words}"


__all__ = ["display_path", "oserror_text", "print_findings"]
