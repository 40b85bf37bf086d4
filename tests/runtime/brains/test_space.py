"""The engineer's search space from the task: the module-level constants of its editable files."""

from __future__ import annotations

from orgloop.runtime.brains.space import effective_space, set_constant, task_space

TRAIN = '''"""A stand-in with autoresearch's knob names."""
ASPECT_RATIO = 64       # model_dim = depth * ASPECT_RATIO
WINDOW_PATTERN = "SSSL" # no alternatives in the file: not searched
TOTAL_BATCH_SIZE = 2**12
MATRIX_LR = 0.04
WARMDOWN_RATIO = 0.5
WARMUP_RATIO = 0.0
ADAM_BETAS = (0.8, 0.95)
DEPTH = 8
TINY = 1
USE_BIAS = False
NORM = "rms"
OFFSET = -3
SEED = 42

if NORM == "layer":
    pass
'''

ROLE_SPACE = {"LR": {"log": [0.0003, 0.03]}, "HIDDEN": {"choice": [64, 128]}}


def test_the_task_space_follows_each_constants_value() -> None:
    assert task_space({"train.py": TRAIN}) == {
        "ASPECT_RATIO": {"choice": [16, 32, 64, 128, 256]},
        "TOTAL_BATCH_SIZE": {"choice": [1024, 2048, 4096, 8192, 16384]},
        "MATRIX_LR": {"log": [0.004, 0.4]},
        "WARMDOWN_RATIO": {"log": [0.05, 1.0]},
        "WARMUP_RATIO": {"choice": [0.0, 0.01, 0.1, 0.3]},
        "DEPTH": {"int": [4, 16]},
        "TINY": {"int": [1, 4]},
        "USE_BIAS": {"choice": [False, True]},
        "NORM": {"choice": ["rms", "layer"]},
    }


def test_the_first_file_that_defines_a_name_wins() -> None:
    space = task_space({"a.py": "DEPTH = 8\n", "b.py": "DEPTH = 2\nWIDTH = 4\n"})
    assert space == {"DEPTH": {"int": [4, 16]}, "WIDTH": {"int": [2, 8]}}


def test_a_role_space_that_matches_the_task_is_kept() -> None:
    files = {"train.py": "LR = 0.01\nHIDDEN = 64\nDEPTH = 2\n"}
    assert effective_space(ROLE_SPACE, files) == ROLE_SPACE


def test_a_role_space_that_does_not_match_gives_way_to_the_tasks() -> None:
    files = {"train.py": "LR = 0.01\nDEPTH = 2\n"}
    assert effective_space(ROLE_SPACE, files) == {
        "LR": {"log": [0.0003, 0.03]},  # the role's range for a knob both name
        "DEPTH": {"int": [1, 4]},
    }
    assert effective_space(ROLE_SPACE, {"notes.txt": "no python here"}) == ROLE_SPACE


def test_set_constant_replaces_the_value_and_keeps_the_comment() -> None:
    edited, old = set_constant(TRAIN, "ASPECT_RATIO", "96") or ("", "")
    assert old == "64"
    assert "ASPECT_RATIO = 96       # model_dim = depth * ASPECT_RATIO\n" in edited
    assert edited.replace("= 96 ", "= 64 ") == TRAIN
    assert set_constant(TRAIN, "TOTAL_BATCH_SIZE", "8192") is not None
    assert set_constant(TRAIN, "HIDDEN", "1") is None
