"""Experiment slots: one per GPU (found through nvidia-smi), else `parallel` CPU slots.

There is no GPU here, so a fake `nvidia-smi` — a shell script early on PATH that prints what the
real one prints for the queries orgloop makes — stands in for the hardware. Everything else (the
subprocesses, the environment the experiment sees, the memory sampling) is real.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from orgloop.org import Metric
from orgloop.runtime.core.git import Git
from orgloop.runtime.executors import ExperimentSpec, LocalExecutor, _devices
from orgloop.runtime.executors.sandbox import (
    Device,
    detect_gpus,
    detect_slots,
    parse_size,
    scrubbed_env,
)

FAKE_SMI = """#!/bin/sh
case "$*" in
  *index,uuid,name,memory.total*)
    echo "0, GPU-aaaa, NVIDIA Fake H100, 81559"
    echo "1, GPU-bbbb, NVIDIA Fake H100, 81559" ;;
  *memory.used*) echo "12345" ;;
  *) exit 2 ;;
esac
"""


@pytest.fixture
def two_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.fixture
def no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_devices, "_nvidia_smi", lambda *query: [])
    monkeypatch.setattr(_devices, "_torch_gpus", lambda: [])


def test_one_slot_per_gpu_up_to_parallel(two_gpus: None) -> None:
    slots = detect_slots(4)
    assert [d.gpus for d in slots] == [("0",), ("1",)]
    assert slots[0].hardware == "NVIDIA Fake H100, 81559 MiB"
    assert [d.gpus for d in detect_slots(1)] == [("0",)]


@pytest.mark.parametrize(
    ("visible", "expected"), [("1", ["1"]), ("GPU-bbbb", ["1"]), ("1,0", ["1", "0"]), ("", [])]
)
def test_the_users_cuda_visible_devices_is_respected(
    two_gpus: None, monkeypatch: pytest.MonkeyPatch, visible: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert [index for index, _ in detect_gpus()] == expected


def test_without_gpus_parallel_cpu_slots_share_the_threads(no_gpus: None) -> None:
    slots = detect_slots(3)
    assert len(slots) == 3 and all(not d.gpus for d in slots)
    assert slots[0].hardware.startswith("cpu: ")
    assert slots[0].threads == max(1, ((os.cpu_count() or 1) - 1) // 3)
    # one slot: every core but the one orgloop keeps
    assert detect_slots(1)[0].threads == max(1, (os.cpu_count() or 1) - 1)


def test_cpu_share_reaches_the_environment_unless_the_user_set_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    env = scrubbed_env((), Device("cpu", (), threads=2))
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert scrubbed_env((), Device("cpu", (), threads=2))["OMP_NUM_THREADS"] == "7"


def test_a_gpu_slot_gets_its_device_and_records_gpu_memory(two_gpus: None, tmp_path: Path) -> None:
    root = tmp_path / "org"
    root.mkdir()
    (root / "train.py").write_text("print('hi')\n")
    git = Git(root)
    git.init()
    base = git.commit_all("base")
    code = (
        "import os, time\ntime.sleep(0.5)\n"
        "print('visible', os.environ['CUDA_VISIBLE_DEVICES'], os.environ['CUDA_DEVICE_ORDER'])\n"
        "print('---')\nprint('val_bpb: 1.0')\n"
    )
    spec = ExperimentSpec(
        id="e1",
        repo=root,
        base=base,
        files={"train.py": code},
        command="python train.py",
        metric=Metric("val_bpb"),
        timeout=20,
        workdir=tmp_path / "runs" / "e1",
        limits={"memory": "16G", "file_size": "2G"},
    )
    executor = LocalExecutor(2)
    assert executor.slots == 2
    result = asyncio.run(executor.run(spec, 1))
    assert result.status == "ok"
    assert "visible 1 PCI_BUS_ID" in result.log_tail
    assert result.gpus == ("1",) and result.hardware == "NVIDIA Fake H100, 81559 MiB"
    assert result.gpu_gb == pytest.approx(12345 / 1024, abs=1e-3)
    assert result.memory_gb == 12.1  # on a GPU slot, results.tsv's memory is the GPU's
    assert "RLIMIT_AS" not in result.isolation["limits"]  # CUDA reserves huge virtual ranges
    assert result.isolation["gpus"] == ["1"]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16G", 16 << 30),
        ("512M", 512 << 20),
        ("2GiB", 2 << 30),
        ("1.5k", 1536),
        (2048, 2048),
        ("lots", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_size(text: object, size: int | None) -> None:
    assert parse_size(text) == size
