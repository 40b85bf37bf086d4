"""Reading the metric from output, the autoresearch way, as every executor judges it."""

from __future__ import annotations

import math

import pytest

from orgloop.runtime.executors import parse_metric


@pytest.mark.parametrize(
    ("output", "value"),
    [
        ("val_bpb: 1.25\n", 1.25),
        ("step 1\nval_bpb: 9\n---\nval_bpb: 1.5\npeak_vram_mb: 3\n", 1.5),  # the summary wins
        ("val_bpb = 2e-3\n", 0.002),
        ("VAL_BPB: .5\n", 0.5),
        ("val_bpb: 1.0\nval_bpb: 0.9\n", 0.9),  # the last line wins
        ("  val_bpb:   -3  \n", -3.0),
    ],
)
def test_the_metric_line_is_found(output: str, value: float) -> None:
    assert parse_metric(output, "val_bpb") == pytest.approx(value)


@pytest.mark.parametrize(
    "output",
    ["", "val_bpb:\n", "val_bpb: fast\n", "my_val_bpb: 1\n", "val_bpb: 1.0 (approx)\n"],
)
def test_no_metric_line_is_none(output: str) -> None:
    assert parse_metric(output, "val_bpb") is None


def test_nan_and_inf_are_read_so_they_can_be_refused() -> None:
    assert math.isnan(parse_metric("val_bpb: nan\n", "val_bpb") or 0.0)
    assert parse_metric("val_bpb: inf\n", "val_bpb") == math.inf


def test_a_metric_name_is_matched_literally() -> None:
    assert parse_metric("loss(x): 2\nloss.x: 3\n", "loss.x") == 3.0
