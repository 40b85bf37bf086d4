"""The TUI's one boundary: it reads the run folder and never imports the engine."""

from __future__ import annotations

import ast
import subprocess
import sys


def test_the_tui_never_imports_the_engine() -> None:
    code = (
        "import sys, orgloop.tui, orgloop.tui.__main__; "
        "print(sorted(m for m in sys.modules if m.startswith('orgloop.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = ast.literal_eval(out.stdout)
    assert "orgloop.runtime.engine" not in modules
    assert {m for m in modules if m.startswith("orgloop.runtime.")} <= {
        "orgloop.runtime.core",
        "orgloop.runtime.core.events",
        "orgloop.runtime.core.state",
    }
