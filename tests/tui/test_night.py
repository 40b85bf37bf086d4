"""What a person who wakes up to a night's run reads in the app: an API outage the roles are
waiting out, turns that ended without their role's duty done, and what each role cost with the
share of its prompts read from the cache. Fed by a log written event by event."""

from __future__ import annotations

import time
from pathlib import Path

from _runs import LogWriter, text_of

from orgloop.tui._feed import Feed
from orgloop.tui._role import RoleScreen
from orgloop.tui._status import render_status


def night_log(run: Path) -> LogWriter:
    log = LogWriter(run)
    log.start()
    for turn, role, read in (("t1", "pi", 0), ("t2", "pi", 3000), ("t3", "critic", 0)):
        log.emit(
            "llm_call",
            {
                "turn": turn,
                "role": role,
                "step": 0,
                "model": "claude-sonnet-5-5",
                "input_tokens": 1000,
                "output_tokens": 200,
                "cache_read": read,
                "cache_write": 0,
                "usd": 0.01,
            },
        )
    return log


def test_the_status_line_says_the_api_outage_the_roles_wait_out(tmp_path: Path) -> None:
    log = night_log(tmp_path / "run")
    since = log.t
    log.emit(
        "api_waiting",
        {
            "turn": "t4",
            "role": "pi",
            "status": 529,
            "error": "529 overloaded_error: Overloaded",
            "what": "API overloaded (529)",
            "attempt": 7,
            "retry_in": 240.0,
            "since": since,
            "waited": 600.0,
        },
    )
    feed = Feed(tmp_path / "run")
    feed.poll()
    now = since + 630.0  # 30 s after the event that says the next try comes in 4 minutes
    status = render_status(feed, alive=True, follow=True, unread_controls=0, now=now).plain
    at = time.strftime("%H:%M", time.localtime(since))
    assert f"API overloaded (529), retry in 3m30s, waiting since {at} (pi)" in status
    # the call that answers ends the wait
    log.emit("llm_call", {"turn": "t4", "role": "pi", "step": 0, "usd": 0.01})
    feed.poll()
    status = render_status(feed, alive=True, follow=True, unread_controls=0, now=now).plain
    assert "API overloaded" not in status


def test_a_turn_undone_is_a_notice_and_stays_on_the_status_line(tmp_path: Path) -> None:
    log = night_log(tmp_path / "run")
    feed = Feed(tmp_path / "run")
    feed.poll()
    log.emit(
        "turn_undone",
        {
            "turn": "t5",
            "role": "pi",
            "message": "m3",
            "kind": "kickoff",
            "reason": "the model refused twice",
        },
    )
    changes = feed.poll()
    assert changes.notices == [
        ("warning", "turn undone: pi on `kickoff` m3: the model refused twice")
    ]
    status = render_status(feed, alive=True, follow=True, unread_controls=0, now=log.t).plain
    assert "1 turn undone" in status


def test_a_role_in_full_says_its_cost_and_its_share_read_from_the_cache(tmp_path: Path) -> None:
    night_log(tmp_path / "run")
    feed = Feed(tmp_path / "run")
    feed.poll()
    screen = RoleScreen(feed, ["pi", "critic"], "pi", alive=False, clock=0.0)
    pi = text_of(screen.head("pi"), width=200)
    assert "$0.02 (60% of its prompts from the cache)" in pi  # 3,000 of 5,000 prompt tokens
    assert "(0% of its prompts from the cache)" in text_of(screen.head("critic"), width=200)
