"""Fixtures for the sandbox tests: a repository and a marker whose processes are killed after the
test whatever happened, so a failing test leaves nothing running."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _sandboxed import kill_survivors, make_repo, new_marker


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    return make_repo(tmp_path / "org")


@pytest.fixture
def marker() -> Iterator[str]:
    name = new_marker()
    yield name
    kill_survivors(name)


RAY_NODE_CPUS = 2
"""Each of the two nodes of the test cluster: four experiment slots in all."""


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A real two-node Ray cluster on this machine (a head and one worker node, two CPUs
    each), joined by this process; one per test module, since one takes seconds to start. The
    nodes' environment holds a secret (NODE_SECRET_TOKEN) that no experiment may see."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    with pytest.MonkeyPatch.context() as mp:  # what the nodes' own environment holds
        mp.setenv("NODE_SECRET_TOKEN", "s3cret-probe")
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": RAY_NODE_CPUS, "include_dashboard": False},
        )
        cluster.add_node(num_cpus=RAY_NODE_CPUS)
    try:
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
        _warm(ray, 2 * RAY_NODE_CPUS)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def _warm(ray: Any, workers: int) -> None:
    """Start a worker per CPU now, with orgloop's experiment task imported, so that the first
    experiments do not wait for that (seconds on a busy machine)."""

    @ray.remote(num_cpus=1)
    def hold() -> None:
        import orgloop.runtime.executors.ray  # noqa: F401

        time.sleep(1.0)

    ray.get([hold.remote() for _ in range(workers)])
