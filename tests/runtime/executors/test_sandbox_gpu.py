"""examples/gpu-nanogpt on a real GPU: one baseline run, ten seconds of training.

Skipped unless nvidia-smi and torch are both there. It checks what only a GPU can show: the slot
is a GPU, the experiment sees only that GPU, GPU memory is sampled, and the traced model that
train.py saves is scored by the protected evaluation between the bound and a uniform guess.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import shutil
from pathlib import Path

import pytest
import yaml

from orgloop.runtime.brains.offline import OfflineBrain
from orgloop.runtime.core.git import Git
from orgloop.runtime.engine import Engine

EXAMPLE = Path(__file__).parents[3] / "examples" / "gpu-nanogpt"

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(
        not shutil.which("nvidia-smi") or importlib.util.find_spec("torch") is None,
        reason="needs an NVIDIA GPU and torch",
    ),
]


def test_the_nanogpt_example_trains_and_is_scored_on_a_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NANOGPT_TIME_BUDGET", "10")
    org = Path(shutil.copytree(EXAMPLE, tmp_path / "nanogpt"))
    _, front, body = (org / "ORG.md").read_text().split("---\n", 2)
    data = yaml.safe_load(front)
    data["experiment"]["baseline_runs"] = 1
    data["budget"]["experiments"] = 1
    (org / "ORG.md").write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)
    Git(org).init()
    Git(org).commit_all("gpu-nanogpt, one baseline")
    engine = Engine.start(org, brain=OfflineBrain())
    state = asyncio.run(engine.run())
    base = state.experiments["e1"]
    assert base.status == "ok", base.info.get("reason")
    bound = engine.org.program.metric.bound
    assert base.metric is not None and bound is not None
    assert bound < base.metric < math.log2(27)
    assert base.info["gpus"] and base.info["isolation"]["gpus"] == base.info["gpus"]
    assert base.info["gpu_gb"] > 0 and base.memory_gb > 0
    assert "peak_vram_mb" in base.info["log_tail"]
