"""The price table: every model the SDK lists has a row of its own, cache writes and reads are
priced as their rows say, ORG.md's `price:` overrides the table, and a model behind a local base
URL that the table does not know costs nothing."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from anthropic.types.model_param import ModelParam

from orgloop.org import Program
from orgloop.runtime.brains.anthropic_brain import prices_for
from orgloop.runtime.brains.pricing import PRICES, UNKNOWN, Price, Prices, cost, is_local, price

SDK_MODELS = sorted(typing.get_args(typing.get_args(ModelParam)[0]))


@pytest.mark.parametrize("model", SDK_MODELS)
def test_every_model_the_sdk_lists_is_priced_by_a_row_of_its_family(model: str) -> None:
    family = max((p for p in PRICES if model.startswith(p)), key=len, default=None)
    assert family is not None, f"{model} has no row in the price table"
    assert family.split("-")[1] == model.split("-")[1]  # opus by an opus row, and so on


def test_rows_that_differ_from_their_family_are_their_own() -> None:
    # checked against platform.claude.com's pricing page and model pages
    assert price("claude-opus-5-5") == Price(4.0, 20.0, 5.0, 8.0, 0.20)
    assert (
        price("claude-opus-4-8") == price("claude-opus-4-5") == Price(5.0, 25.0, 6.25, 10.0, 0.50)
    )
    assert price("claude-opus-4-1").input == 15.0
    assert price("claude-fable-5-2") == Price(8.0, 40.0, 10.0, 16.0, 0.20)
    assert price("claude-fable-5-1").read() == 0.25  # a quarter of the usual 0.1x
    assert price("claude-fable-5").read() == 1.00
    assert price("claude-mythos-5-1") == price("claude-fable-5-1")
    assert price("claude-sonnet-4-6") == Price(3.0, 15.0, 3.75, 6.0, 0.30)
    assert price("claude-haiku-4-5-20251001") == Price(1.0, 5.0, 1.25, 2.0, 0.10)
    assert price("claude-sonnet-5-5") == Price(2.0, 10.0, 2.50, 4.0, 0.10)  # reads at 0.05x
    assert price("claude-sonnet-5").read() == 0.20


def test_cache_writes_of_an_hour_cost_their_own_price() -> None:
    five = cost("claude-sonnet-5-5", cache_write=1_000_000)
    hour = cost("claude-sonnet-5-5", cache_write=1_000_000, cache_write_1h=1_000_000)
    assert (five, hour) == (pytest.approx(2.50), pytest.approx(4.00))
    assert cost("claude-sonnet-5-5", cache_read=1_000_000) == pytest.approx(0.10)


def test_a_long_prompt_to_haiku_5_5_costs_its_higher_band() -> None:
    short = cost("claude-haiku-5-5", input_tokens=100_000, output_tokens=1_000_000)
    long = cost("claude-haiku-5-5", input_tokens=100_001, output_tokens=1_000_000)
    assert short == pytest.approx(0.01 + 0.50)
    assert long == pytest.approx(100_001 * 0.50 / 1e6 + 2.50)


def test_unknown_models_cost_the_most_unless_they_are_local() -> None:
    assert price("gpt-9") == UNKNOWN
    assert all(UNKNOWN.output >= p.output for p in PRICES.values())
    local = Prices(local=True)
    assert local.price("qwen3-coder:30b").input == 0.0
    assert local.cost("qwen3-coder:30b", input_tokens=10**9, output_tokens=10**9) == 0.0
    assert local.price("claude-sonnet-5-5") == price("claude-sonnet-5-5")  # a local proxy to Claude


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434", True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://[::1]:8000", True),
        ("http://192.168.1.20:8000", True),
        ("http://10.0.0.5", True),
        ("http://gpu-box.local:8000", True),
        ("https://api.anthropic.com", False),
        ("https://gateway.example.com", False),
        ("http://8.8.8.8", False),
        (None, False),
    ],
)
def test_local_base_urls_are_this_machine_or_the_local_network(
    url: str | None, local: bool
) -> None:
    assert is_local(url) is local


def test_org_price_overrides_win_over_the_table(make_program: Program) -> None:
    prices = prices_for(make_program, "https://api.anthropic.com")
    assert prices.price("qwen3-coder:30b") == Price(0.5, 1.5, None, None, None)
    assert prices.cost("qwen3-coder:30b", cache_read=1_000_000) == pytest.approx(0.05)
    assert prices.price("claude-sonnet-5-5").read() == 0.15  # the org's figure
    assert prices.price("claude-sonnet-5-5").write_5m() == 2.50  # the rest from multipliers
    assert prices.price("claude-opus-5-5") == price("claude-opus-5-5")


@pytest.fixture
def make_program(tmp_path: typing.Any) -> Program:
    from orgloop.org import load_org
    from orgloop.runtime.scaffold import init_org

    root = init_org(tmp_path / "org")
    text = (root / "ORG.md").read_text()
    (root / "ORG.md").write_text(
        text.replace(
            "---\nname: tinylm",
            "---\nprice:\n  qwen3: {input: 0.5, output: 1.5}\n"
            "  claude-sonnet-5-5: {input: 2, output: 10, cache_read: 0.15}\nname: tinylm",
            1,
        )
    )
    return load_org(root).program


def test_docs_state_the_table_and_the_fallback_the_code_uses() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "brains.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| `(claude-[\w-]+)` \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| "
        r"([\d.]+) \| ([\d.]+) \|$",
        docs,
        re.MULTILINE,
    )
    shown = {m: tuple(float(x) for x in figures) for m, *figures in rows}
    assert list(shown) == list(PRICES)
    for model, p in PRICES.items():
        figures = (p.input, p.output, p.write_5m(), p.write_1h(), p.read())
        assert shown[model] == pytest.approx(figures, abs=0.005), model
    fallback = f"(${UNKNOWN.input:g} / ${UNKNOWN.output:g}, Opus 4.1's)"
    assert "priced as its dearest\nrow** " + fallback in docs
