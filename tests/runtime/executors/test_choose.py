"""Choosing where experiments run: `experiment.executor` and `experiment.resources` in ORG.md,
`--executor` and `--ray-address` on the command line, and every way the choice can be wrong
(an unknown name, Ray not installed, no cluster, an address that is not one, resources that are
not amounts) refused before any run folder is made, with what to do. No cluster runs here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orgloop.org import OrgError, load_org
from orgloop.runtime.cli import main
from orgloop.runtime.executors import (
    ExecutorChoice,
    ExecutorChoiceError,
    LocalExecutor,
    make_executor,
)

from _orgs import set_frontmatter, small_org


def _line(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def _runs(root: Path) -> list[Path]:
    runs = root / ".orgloop" / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_org(tmp_path_factory.mktemp("choose") / "org")


def test_executor_and_resources_are_read_from_org_md(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    set_frontmatter(
        root / "ORG.md", experiment={"executor": "ray", "resources": {"GPU": 1, "a100": 0.5}}
    )
    experiment = load_org(root).program.experiment
    assert experiment.executor == "ray"
    assert experiment.resources == (("GPU", 1.0), ("a100", 0.5))
    assert load_org(small_org(tmp_path / "plain")).program.experiment.executor == "local"


def test_an_unknown_executor_in_org_md_is_an_error_at_its_line(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    set_frontmatter(root / "ORG.md", experiment={"executor": "slurm"})
    with pytest.raises(OrgError) as raised:
        load_org(root)
    message = str(raised.value)
    assert f"ORG.md:{_line(root / 'ORG.md', 'executor:')}" in message
    assert "`experiment.executor` must be one of local, ray, got the text 'slurm'" in message


def test_resources_that_are_not_amounts_are_errors_at_their_lines(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    resources = {"GPU": "one", "a100": True, "CPU": -2, "big": 1}
    set_frontmatter(root / "ORG.md", experiment={"resources": resources})
    with pytest.raises(OrgError) as raised:
        load_org(root)
    message = str(raised.value)
    path = root / "ORG.md"
    assert f"ORG.md:{_line(path, 'GPU:')}" in message
    assert "`experiment.resources.GPU` must be a number, got the text 'one'" in message
    assert f"ORG.md:{_line(path, 'a100:')}" in message
    assert "`experiment.resources.a100` must be a number, got the boolean true" in message
    assert "`experiment.resources.CPU` must be a positive number, got the integer -2" in message
    assert "big" not in message


def test_resources_that_are_not_a_mapping_are_an_error(tmp_path: Path) -> None:
    root = small_org(tmp_path / "org")
    set_frontmatter(root / "ORG.md", experiment={"resources": "GPU"})
    with pytest.raises(OrgError, match="must be a mapping of resource names to amounts"):
        load_org(root)


def test_the_org_executor_is_what_the_engine_builds_by_default(org: Path) -> None:
    executor = make_executor(load_org(org).program.experiment)
    assert isinstance(executor, LocalExecutor)


def test_an_unknown_executor_on_the_command_line_is_refused(
    org: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(org), "--executor", "slurm"]) == 2
    assert "invalid choice: 'slurm'" in capsys.readouterr().err
    assert _runs(org) == []
    with pytest.raises(
        ExecutorChoiceError, match="unknown executor 'slurm'; choose one of local, ray"
    ):
        make_executor(load_org(org).program.experiment, ExecutorChoice("slurm"))


def test_a_ray_address_needs_the_ray_executor(
    org: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(org), "--executor", "local", "--ray-address", "auto"]) == 2
    assert "--ray-address needs the ray executor" in capsys.readouterr().err
    assert _runs(org) == []


BLOCK_RAY = """
import sys
sys.modules["ray"] = None  # as on a machine where Ray is not installed: `import ray` fails
from orgloop.runtime.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("how", ["org_md", "flag"])
def test_ray_chosen_without_ray_installed_says_how_to_install_it(tmp_path: Path, how: str) -> None:
    root = small_org(tmp_path / "org")
    args = ["run", str(root)]
    if how == "org_md":
        set_frontmatter(root / "ORG.md", experiment={"executor": "ray"})
    else:
        args += ["--executor", "ray"]
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_RAY, *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "the ray executor needs Ray, which is not installed here" in proc.stderr
    assert "pip install 'orgloop[ray]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _runs(root) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("garbage", "--ray-address 'garbage' is not an address: give auto, local, HOST:PORT"),
        ("127.0.0.1:99999", "is not an address"),
        ("closed", "no Ray cluster answers at 127.0.0.1:"),
    ],
)
def test_a_bad_ray_address_is_refused_before_the_run_starts(
    org: Path, capsys: pytest.CaptureFixture[str], address: str, said: str
) -> None:
    pytest.importorskip("ray")
    if address == "closed":
        address = f"127.0.0.1:{_closed_port()}"
    assert main(["run", str(org), "--executor", "ray", "--ray-address", address]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    if "answers" in said:
        assert "ray start --head" in err  # how to start one
    assert _runs(org) == []


def test_no_cluster_here_says_how_to_start_one(
    org: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized() or Path("/tmp/ray/ray_current_cluster").exists():
        pytest.skip("a Ray cluster runs on this machine (`ray start`)")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["run", str(org), "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert "no Ray cluster here" in err
    assert "ray start --head" in err and "--ray-address local" in err
    assert _runs(org) == []
    assert not os.environ.get("RAY_ADDRESS")


def test_a_batch_on_a_bad_ray_address_is_refused_before_anything_is_made(
    org: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "batch"
    args = ["batch", str(org), "--seeds", "1", "--out", str(out)]
    assert main([*args, "--executor", "ray", "--ray-address", f"127.0.0.1:{_closed_port()}"]) == 2
    assert "no Ray cluster answers at 127.0.0.1:" in capsys.readouterr().err
    assert not out.exists()


def test_a_ray_address_in_the_environment_that_nobody_answers_is_refused(
    org: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("this process is already on a cluster")
    address = f"127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)  # auto finds it, as Ray would, and asks it first
    assert main(["run", str(org), "--executor", "ray"]) == 2
    assert f"no Ray cluster answers at {address}" in capsys.readouterr().err
    assert _runs(org) == []
