"""The TUI's one boundary: it reads the run folder and never imports the engine. Of the runtime it
uses the event types and the fold, the run lock's probe (whether an engine holds the run), and,
to render a role's prompt on demand, the ledger (with the confirmation figures it states); nothing
that runs an org."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.engine import Engine
from orgloop.runtime.scaffold import init_org

CORE = {f"orgloop.runtime.core.{name}" for name in ("events", "state", "lock", "errors")}
"""What the app may import from the runtime (and the package orgloop.runtime.core itself)."""


def runtime_modules(code: str) -> set[str]:
    """The orgloop.runtime modules a fresh interpreter holds after running `code`, but for the
    packages (whose __init__ imports nothing on its own)."""
    code += "; import sys; print(sorted(m for m in sys.modules if m.startswith('orgloop.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    return {m for m in names if m.startswith("orgloop.runtime.")} - {"orgloop.runtime.core"}


def test_the_tui_never_imports_the_engine() -> None:
    assert runtime_modules("import orgloop.tui, orgloop.tui.__main__") <= CORE


def test_rendering_a_prompt_needs_the_ledger_and_nothing_that_runs(tmp_path: Path) -> None:
    engine = Engine.start(init_org(tmp_path / "org"), brain=OfflineBrain(), durable=False)
    engine.close()
    code = (
        "from pathlib import Path; from orgloop.runtime.core.state import fold; "
        "from orgloop.runtime.core.events import read_events; "
        "from orgloop.tui._org import load_view, render_prompt; "
        f"run = Path({str(engine.run_dir)!r}); view = load_view(run); "
        "state = fold(read_events(run / 'events.jsonl')); "
        "print(render_prompt(view, 'engineer', state, '')[:40])"
    )
    ledger = {"orgloop.runtime.core.ledger", "orgloop.runtime.core.confirm"}  # pure functions
    assert runtime_modules(code) <= CORE | ledger
