"""A task file's knobs: module-level UPPER_CASE constants read without running the file, and
`orgloop check` saying when a role's `space` names knobs the editable files do not define."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orgloop.org import lint, load_org
from orgloop.org._task import constants

SOURCE = '''"""A model (the names are autoresearch's)."""
import math

# Model size — “aspect” is width per layer
ASPECT_RATIO = 64       # model_dim = depth * ASPECT_RATIO
WINDOW_PATTERN = "SSSL" # L=full, S=half context
TOTAL_BATCH_SIZE = 2**19 # ~524K tokens per step
EVAL_TOKENS = 40 * 524288
MATRIX_LR: float = 0.04
FINAL_LR_FRAC = -0.0
ADAM_BETAS = (0.8, 0.95)
USE_FLASH = True
ACT = "tanh"
PEAK = 989.5e12
BASE = MATRIX_LR * 2
lower_case = 3
A, B = 1, 2

if ACT == "relu" or ACT in ("gelu", "silu"):
    HIDDEN = 128

def f():
    INSIDE = 1
    return ACT != "swish"
'''


def test_constants_are_literals_and_arithmetic_at_module_level() -> None:
    found = constants(SOURCE)
    assert {name: c.value for name, c in found.items()} == {
        "ASPECT_RATIO": 64,
        "WINDOW_PATTERN": "SSSL",
        "TOTAL_BATCH_SIZE": 524288,
        "EVAL_TOKENS": 20971520,
        "MATRIX_LR": 0.04,
        "FINAL_LR_FRAC": -0.0,
        "USE_FLASH": True,
        "ACT": "tanh",
        "PEAK": 989.5e12,
    }
    assert found["MATRIX_LR"].line == 9


def test_a_constants_text_is_its_value_alone() -> None:
    found = constants(SOURCE)
    assert found["ASPECT_RATIO"].text(SOURCE) == "64"
    assert found["TOTAL_BATCH_SIZE"].text(SOURCE) == "2**19"
    assert found["WINDOW_PATTERN"].text(SOURCE) == '"SSSL"'
    c = found["ASPECT_RATIO"]
    edited = SOURCE[: c.start] + "96" + SOURCE[c.end :]
    assert "ASPECT_RATIO = 96       # model_dim = depth * ASPECT_RATIO\n" in edited


def test_offsets_count_characters_after_non_ascii_text_and_crlf() -> None:
    source = 'NOTE = "größe"; LR = 0.1\r\nDEPTH = 8\r\n'
    found = constants(source.replace("; ", "\r\n"))
    text = source.replace("; ", "\r\n")
    assert found["NOTE"].text(text) == '"größe"'
    assert found["DEPTH"].text(text) == "8"


def test_string_knobs_know_the_literals_they_are_compared_with() -> None:
    assert constants(SOURCE)["ACT"].compared == ("relu", "gelu", "silu", "swish")


def test_a_file_that_does_not_parse_has_no_constants() -> None:
    assert constants("LR = (\n") == {}


def test_check_warns_about_space_knobs_the_task_does_not_define(
    make_org: Callable[[str | None], Path],
) -> None:
    root = make_org(None)
    assert not [f for f in lint(load_org(root)) if f.code == "space"]
    (root / "train.py").write_text(SOURCE)
    (space,) = [f for f in lint(load_org(root)) if f.code == "space"]
    engineer = root / "roles" / "engineer.md"
    line = 1 + engineer.read_text().splitlines().index("  LR: {log: [0.0003, 0.03]}")
    assert (space.path, space.line, space.severity) == (str(engineer), line, "warning")
    assert space.message == (
        "`space` knobs LR, HIDDEN, CONTEXT, EMBED, BATCH, INIT_SCALE are not module-level "
        "constants of train.py"
    )
