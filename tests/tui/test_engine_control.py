"""A command written by the app reaches a real engine: the app's keys, the engine's own reader."""

from __future__ import annotations

from pathlib import Path

from _runs import SIZE
from textual.widgets import Input, Select, TextArea

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.events import read_events
from orgloop.runtime.engine import Engine
from orgloop.runtime.scaffold import init_org
from orgloop.tui import OrgloopApp, StatusBar


async def test_pause_and_a_message_from_the_app_reach_the_engine(tmp_path: Path) -> None:
    engine = Engine.start(init_org(tmp_path / "org"), brain=OfflineBrain(), durable=False)
    try:
        await _drive(engine)
    finally:
        engine.close()


async def _drive(engine: Engine) -> None:
    app = OrgloopApp(engine.run_dir, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p", "m")
        await pilot.pause()
        app.screen.query_one("#inject-role", Select).value = "engineer"
        app.screen.query_one("#inject-kind", Input).value = "note"
        app.screen.query_one("#inject-body", TextArea).text = "Try **GELU** next."
        await pilot.press("ctrl+s")
        await pilot.pause()

        engine.poll_control()  # what the engine does before every scheduling round
        engine.log.commit()
        assert engine.state.paused
        events = read_events(engine.run_dir / "events.jsonl")
        controls = [e.data for e in events if e.kind == "control"]
        assert [(c["cmd"], c.get("error")) for c in controls] == [("pause", None), ("inject", None)]
        human = [e.data for e in events if e.kind == "message_sent" and e.data["data"].get("human")]
        assert [(m["receiver"], m["kind"], m["body"]) for m in human] == [
            ("engineer", "note", "Try **GELU** next.")
        ]

        app.refresh_feed()  # and the engine's answer comes back through the log
        await pilot.pause()
        assert app.feed.state.paused
        assert "paused" in app.query_one(StatusBar).text.plain
