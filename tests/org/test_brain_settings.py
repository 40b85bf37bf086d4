"""A role's model settings and budget, and ORG.md's `brain` and `price`: read as written, and every
bad value a finding at its file and line, the way `orgloop check` prints it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orgloop.org import BrainSettings, ModelSettings, RoleBudget, check, load_org


def _insert(path: Path, lines: str) -> None:
    """Put `lines` into the frontmatter, right after its opening `---`."""
    text = path.read_text()
    assert text.startswith("---\n")
    path.write_text("---\n" + lines + text[4:])


def findings(org: Path) -> list[str]:
    return [
        f"{Path(f.path).relative_to(org)}:{f.line}: {f.severity}: {f.message}"
        for f in check(org)[0]
    ]


def test_settings_are_read_as_written(make_org: Callable[[str | None], Path]) -> None:
    org = make_org(None)
    _insert(
        org / "roles" / "engineer.md",
        "effort: high\nthinking: 8000\nmax_tokens: 32000\nbudget: {usd: 2.5, tokens: 400000}\n",
    )
    _insert(org / "roles" / "critic.md", "thinking: adaptive\n")
    _insert(
        org / "ORG.md",
        "brain: {outage: 2h, cache_ttl: 1h}\n"
        "price:\n  qwen3: {input: 0.5, output: 1.5}\n"
        "  claude-sonnet-5-5: {input: 2, output: 10, cache_read: 0.1}\n",
    )
    loaded = load_org(org)
    eng = loaded.role("engineer")
    assert eng.settings == ModelSettings("high", 8000, 32000)
    assert eng.budget == RoleBudget(usd=2.5, tokens=400000)
    assert loaded.role("critic").settings == ModelSettings(thinking="adaptive")
    assert (
        loaded.role("pi").settings == ModelSettings() and loaded.role("pi").budget == RoleBudget()
    )
    assert loaded.program.brain == BrainSettings(outage=7200.0, cache_ttl="1h")
    qwen = loaded.program.prices["qwen3"]
    assert (qwen.input, qwen.output, qwen.cache_read) == (0.5, 1.5, None)
    assert loaded.program.prices["claude-sonnet-5-5"].cache_read == 0.1
    assert findings(org) == []


def test_defaults_when_nothing_is_said(make_org: Callable[[str | None], Path]) -> None:
    loaded = load_org(make_org(None))
    assert loaded.program.brain == BrainSettings(outage=4 * 3600.0, cache_ttl="auto")
    assert loaded.program.prices == {}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            "effort: extreme\n",
            "`effort` must be one of low, medium, high, xhigh, max, got the text 'extreme'",
        ),
        (
            "thinking: on\n",
            "`thinking` must be adaptive, disabled, between_tools or a budget in tokens, "
            "got the boolean true",
        ),
        ("thinking: 500\n", "a thinking budget must be at least 1,024 tokens, got 500"),
        (
            "thinking: 9000\nmax_tokens: 8000\n",
            "the thinking budget (9,000) must be less than max_tokens (8,000)",
        ),
        ("max_tokens: lots\n", "`max_tokens` must be a whole number, got the text 'lots'"),
        ("max_tokens: 0\n", "`max_tokens` must be at least 1"),
        ("max_tokens: 5000000\n", "`max_tokens` is 5,000,000; no model writes more than 300,000"),
        ("budget: {usd: cheap}\n", "`budget.usd` must be a number, got the text 'cheap'"),
        ("budget: {usd: -1}\n", "`budget.usd` must not be negative"),
        ("budget: {tokns: 5}\n", "unknown key `budget.tokns`: did you mean `budget.tokens`?"),
    ],
)
def test_bad_role_settings_are_findings_at_their_line(
    make_org: Callable[[str | None], Path], lines: str, expected: str
) -> None:
    org = make_org(None)
    _insert(org / "roles" / "engineer.md", lines)
    assert f"roles/engineer.md:2: error: {expected}" in findings(org)


@pytest.mark.parametrize(
    ("lines", "line", "expected"),
    [
        (
            "brain: {outage: forever}\n",
            2,
            "`brain.outage` must be a positive duration such as 90s, 5m or 1h, "
            "got the text 'forever'",
        ),
        (
            "brain: {cache_ttl: 10m}\n",
            2,
            "`brain.cache_ttl` must be one of auto, 5m, 1h, got the text '10m'",
        ),
        ("brain: {outgae: 1h}\n", 2, "unknown key `brain.outgae`: did you mean `brain.outage`?"),
        ("price:\n  qwen3: 0.5\n", 3, "`price.qwen3` must be a mapping, got the number 0.5"),
        (
            "price:\n  qwen3: {input: 0.5}\n",
            3,
            "`price.qwen3` needs output (dollars per million tokens)",
        ),
        (
            "price:\n  qwen3: {input: 0.5, output: free}\n",
            3,
            "`price.qwen3.output` must be a number, got the text 'free'",
        ),
        (
            "price:\n  qwen3: {input: 1, output: 2, cache_reed: 0}\n",
            3,
            "unknown key `price.qwen3.cache_reed`: did you mean `price.qwen3.cache_read`?",
        ),
    ],
)
def test_bad_brain_and_price_settings_are_findings_at_their_line(
    make_org: Callable[[str | None], Path], lines: str, line: int, expected: str
) -> None:
    org = make_org(None)
    _insert(org / "ORG.md", lines)
    assert f"ORG.md:{line}: error: {expected}" in findings(org)


def test_per_turn_send_limits_are_read_and_checked(make_org: Callable[[str | None], Path]) -> None:
    org = make_org(None)
    loaded = load_org(org)
    assert {s.kind: s.per_turn for s in loaded.role("engineer").sends} == {
        "experiment": 1,
        "question": 1,
    }
    assert loaded.role("pi").sends[0].per_turn > 1  # the kickoff sends several directions
    text = (org / "roles" / "critic.md").read_text()
    (org / "roles" / "critic.md").write_text(
        text.replace("sends: {checked: reviewer}", "sends: {checked: {to: reviewer, per_turn: 0}}")
    )
    assert "roles/critic.md:7: error: `sends.checked.per_turn` must be at least 1" in findings(org)
