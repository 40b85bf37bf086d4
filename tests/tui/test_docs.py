"""docs/tui.md keeps up with the app: its key table is the app's own list of keys, row for row,
and every screenshot it shows is one the snapshot tests make."""

from __future__ import annotations

import re
from pathlib import Path

from orgloop.tui import KEYS

DOCS = Path(__file__).parents[2] / "docs" / "tui.md"


def test_the_key_table_lists_every_key_the_app_answers() -> None:
    text = DOCS.read_text()
    rows = re.findall(r"^\| (\w[\w ]*?) \| `([^`]+)` \|", text, re.MULTILINE)
    assert rows == [(where, keys) for where, keys, _ in KEYS]


def test_every_screenshot_is_one_the_tests_make() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.svg)\)", DOCS.read_text())
    assert len(images) >= 8
    for image in images:
        path = (DOCS.parent / image).resolve()
        assert path.is_file(), image
        assert path.parent.name == "test_snapshots" and path.parent.parent.name == "__snapshots__"
