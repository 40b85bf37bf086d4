"""The Org tab: the graph lights what moves, each role says what it does and for how long, a role
opens in full (prompt, memory, last turns), and the running experiment shows its time against
its timeout and the live end of its log."""

from __future__ import annotations

from pathlib import Path

from _runs import SIZE, browse_text, lines, screen_text

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.lock import RunLock
from orgloop.runtime.engine import Engine
from orgloop.runtime.scaffold import init_org
from orgloop.tui import OrgGraph, OrgloopApp, RoleScreen, RolesTable, RunningPanel
from orgloop.tui._gpu import parse
from orgloop.tui._graph import EDGE_STYLE, edge_states
from orgloop.tui._roles import role_now

LATER = 42.0


def live_app(run: Path) -> OrgloopApp:
    last = float(lines(run / "events.jsonl")[-1].split(b'"t":')[1].split(b",")[0])
    return OrgloopApp(run, follow=False, clock=lambda: last + LATER)


async def test_each_role_says_what_it_does_and_for_how_long(live: Path) -> None:
    with RunLock(live):
        app = live_app(live)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            feed = app.feed
            trainer = role_now(feed, "trainer", alive=True)
            assert (trainer.state, trainer.on) == ("running", "e9")
            reviewer = role_now(feed, "reviewer", alive=True)
            assert (reviewer.state, reviewer.on) == ("waiting", "checked m148")
            rows = {k: app.query_one(RolesTable)._row(k) for k in ("trainer", "reviewer")}
            assert [c.plain for c in rows["trainer"][:4]] == ["trainer", "running", "42s", "e9"]
            assert rows["reviewer"][1].plain == "waiting"


async def test_the_graph_lights_the_edge_a_turn_handles_and_the_one_that_waits(
    live: Path,
) -> None:
    with RunLock(live):
        app = live_app(live)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            states = edge_states(app.feed)
            assert states[("engineer", "trainer")] == "busy"  # e9's experiment message
            assert states[("critic", "reviewer")] == "queued"  # m148 waits for the reviewer
            assert states[("trainer", "critic")] == "used"
            graph = app.query_one(OrgGraph)
            lay = graph.layout_
            assert lay is not None
            route = next(r for r in lay.routes if (r.src, r.dst) == ("engineer", "trainer"))
            x, y = route.cells[len(route.cells) // 2]
            cell = graph._lines[y].crop(x + graph._offset, x + graph._offset + 1)
            assert str(next(iter(cell)).style) == EDGE_STYLE["busy"]


async def test_a_click_on_a_box_opens_the_role(live: Path) -> None:
    app = live_app(live)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        graph = app.query_one(OrgGraph)
        assert graph.layout_ is not None
        box = graph.layout_.boxes["critic"]
        await pilot.click(OrgGraph, offset=(box.x + graph._offset + 2, box.y + 1))
        await pilot.pause()
        assert isinstance(app.screen, RoleScreen) and app.screen.key == "critic"
        shown = browse_text(app)
        assert "Last turns" in shown and "result m142 from trainer" in shown
        assert "Prompt, as rendered for its next turn" in shown


async def test_a_role_shows_its_rendered_prompt_and_its_memory(tmp_path: Path) -> None:
    root = init_org(tmp_path / "org")
    engine = Engine.start(root, brain=OfflineBrain(), durable=False)
    engine.close()
    memory = root / ".orgloop" / "memory" / "engineer.md"
    memory.parent.mkdir(parents=True)
    memory.write_text("- LR above 0.01 diverged <!-- t1 -->\n")
    app = OrgloopApp(engine.run_dir, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("1")
        app.query_one(RolesTable).move_to("engineer")
        await pilot.press("enter")
        await pilot.pause()
        shown = browse_text(app)
        assert "LR above 0.01 diverged" in shown  # the memory file
        assert "You are the research engineer of **tinylm**" in shown  # the template, rendered
        assert "{{" not in shown.split("Prompt, as rendered")[1]
        await pilot.press("n")  # the next role
        assert app.screen.key != "engineer"


async def test_the_running_experiment_shows_time_against_timeout_and_its_log(
    live: Path,
) -> None:
    log = live / "experiments" / "e9" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"step {i} loss {2 - i / 100:.3f}\n" for i in range(50)))
    with RunLock(live):
        app = live_app(live)
        async with app.run_test(size=(160, 48)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            app.refresh_feed()
            await pilot.pause()
            panel = app.query_one(RunningPanel).render().plain
            assert "slot 0 e9 42s/1m30s" in panel and "INIT_SCALE 1.0 -> 0.494" in panel
            assert "step 49 loss 1.510" in panel  # the end of the log, as it is written
            with open(log, "a") as f:
                f.write("step 50 loss 1.500\n")
            app._show_now(force=True)
            await pilot.pause()
            assert "step 50 loss 1.500" in app.query_one(RunningPanel).render().plain
    app = live_app(live)  # no engine holds it now: the experiment stopped with it
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "e9 stopped" in screen_text(app)


def test_gpu_memory_is_read_from_nvidia_smi_output() -> None:
    out = "0, 12288, 143771\n1, 0, 143771\nnot, a, number\n"
    gpus = parse(out)
    assert set(gpus) == {"0", "1"}
    assert round(gpus["0"].used_gb, 1) == 12.0 and round(gpus["0"].total_gb) == 140


async def test_a_snapshot_caught_halfway_keeps_the_last_good_org(live: Path) -> None:
    app = live_app(live)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        good = app.feed.view
        assert good.org is not None and "meta" in good.roles
        org_md = live / "org" / "ORG.md"
        text = org_md.read_text()
        org_md.write_text("---\nname: [unclosed\n---\n")  # what a rewrite in progress can leave
        app.load_org()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.feed.view is good  # not an empty org, with its roles and edges gone
        org_md.write_text(text.replace("name: tinylm", "name: tinylm2"))
        await pilot.pause(2.5)  # the retry
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.feed.view is not good and app.feed.view.org.name == "tinylm2"


async def test_a_long_log_line_is_cut_with_an_ellipsis_not_wrapped(live: Path) -> None:
    log = live / "experiments" / "e9" / "log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("x" * 500 + "\n")
    with RunLock(live):
        app = live_app(live)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            panel = app.query_one(RunningPanel)
            rows = panel.render().plain.split("\n")
            assert len(rows) == 2 and rows[1].endswith("…") and len(rows[1]) <= 98
            assert panel.content_region.height == 2  # under its rule, two rows: not wrapped
