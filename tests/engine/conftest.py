"""One local Ray cluster for the session (2 CPUs, as this machine has): its actors and tasks ask for half a CPU, so
Ray's own read and write tasks can still be scheduled (with whole-CPU actors the job waits forever)."""

from __future__ import annotations

import logging
import os

import pytest

from curate.engine import EngineOptions
from tests.detect.conftest import relation_db  # noqa: F401  (a real relation workspace, embedded)

HALF = {"engine": "ray", "cpus_per_worker": 0.5, "workers": 2, "shard_rows": 40, "query_block": 300}


@pytest.fixture(scope="session")
def ray_local():
    """ray.init for the session's tests (stopped at the end)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    env = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "CURATE_ONNX_CACHE") if k in os.environ}
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             runtime_env={"env_vars": {**env, "RAY_USAGE_STATS_ENABLED": "0"}})
    yield ray
    ray.shutdown()


@pytest.fixture
def engine(ray_local, tmp_path) -> EngineOptions:
    """Ray engine settings with a shard folder of the test's own."""
    return EngineOptions(**HALF, shard_dir=str(tmp_path / "shards"))
