"""Cut text says it was cut, and never cuts a number or an id in two."""

from __future__ import annotations

import re

import pytest

from orgloop.runtime.core.text import clip


@pytest.mark.parametrize(
    ("text", "width", "want"),
    [
        ("val_bpb before: 1.19754 after the edit", 20, "val_bpb before: …"),
        ("Evidence: e4, e5, e6", 16, "Evidence: e4, …"),
        ("narrow the space to {choice: [64, 128]}", 26, "narrow the space to …"),
        ("short", 10, "short"),
        ("many   spaces\nand lines", 40, "many spaces and lines"),
        ("a" * 30, 10, "a" * 9 + "…"),
    ],
)
def test_clip(text: str, width: int, want: str) -> None:
    assert clip(text, width) == want


@pytest.mark.parametrize("width", range(4, 60))
def test_no_width_cuts_a_number_or_drops_the_ellipsis(width: int) -> None:
    text = "gen 3 kept e12 at 1.197543, before 1.203311 (noise 0.004210); evidence e9, e10, e11"
    got = clip(text, width)
    assert len(got) <= width and got.endswith("…")
    numbers = set(re.findall(r"\d+(?:\.\d+)?", text))
    assert all(n in numbers for n in re.findall(r"\d+(?:\.\d+)?", got)), got
