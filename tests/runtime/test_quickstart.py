"""docs/quickstart.md, run as written: every ```sh block, in order, in one shell, in a fresh folder.

The Claude step talks to a local stand-in for the Messages API (tests/runtime/_messages_server.py,
the default roles scripted) through ANTHROPIC_BASE_URL; the key is the one the page writes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orgloop.runtime.core.events import read_events

from _messages_server import MessagesServer, tinylm_model

PAGE = Path(__file__).parents[2] / "docs" / "quickstart.md"


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


@pytest.mark.slow
def test_every_quickstart_step_runs_as_written(tmp_path: Path) -> None:
    blocks = sh_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 6
    script = "set -euo pipefail\n" + "\n".join(blocks)
    with MessagesServer(tinylm_model) as srv:
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "HOME": str(tmp_path / "home"),
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "ANTHROPIC_BASE_URL": srv.url,
            "LANG": "C.UTF-8",
        }
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        seen = list(srv.requests)
    out = done.stdout
    assert re.search(r"^val_loss: \d\.\d{6}$", out, re.MULTILINE)  # step 1: the script alone
    assert "metric: val_loss (minimize); the engineer searches LR, HIDDEN, STEPS, BATCH" in out
    assert ".: ok (6 roles, 8 edges)" in out  # step 2: check is clean
    folder = tmp_path / "my-task"
    runs = sorted((folder / ".orgloop" / "runs").iterdir())
    assert len(runs) == 2
    offline, claude = (read_events(r / "events.jsonl") for r in runs)
    assert offline[0].data["brain"] == "offline" and offline[-1].kind == "run_finished"
    assert "commit\tval_loss\tmemory_gb\tstatus\tdescription" in out  # results.tsv, printed
    assert claude[0].data["brain"] == "anthropic" and claude[-1].kind == "run_finished"
    assert any(e.kind == "llm_call" for e in claude)
    key = "sk-ant-your-key"  # the page's, in whichever header the brain sends it
    assert seen and all(
        key in (s.headers.get("x-api-key"), s.headers.get("authorization", "")[7:]) for s in seen
    )
    kept = [e for e in offline + claude if e.kind == "decision" and e.data["verdict"] == "keep"]
    descriptions = {e.data["experiment"] for e in kept}
    assert descriptions <= {
        e.data["id"] for e in offline + claude if e.kind == "experiment_started"
    }
