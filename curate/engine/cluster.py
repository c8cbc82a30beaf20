"""A Ray cluster for one job: the one the user points at, or a local one sized to this machine."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from curate.engine.options import EngineOptions, require_ray
from curate.errors import CurateError
from curate.vectors import cache_root

# What every Ray worker needs to see as this process does: offline model loading, no telemetry, the same caches.
PASSED_ON = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "CURATE_CACHE", "CURATE_ONNX_CACHE", "CURATE_MODEL")


@contextlib.contextmanager
def ray_cluster(opts: EngineOptions) -> Iterator[None]:
    """Connect to opts.address, or start a local cluster (stopped again after); a Ray already running in this
    process (a notebook, a test session) is used as it is."""
    require_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from curate import progress

    ray.data.DataContext.get_current().enable_progress_bars = progress.enabled()
    if ray.is_initialized():
        yield
        return
    env = {k: os.environ[k] for k in PASSED_ON if os.environ.get(k)}
    env.update(RAY_USAGE_STATS_ENABLED="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    ray.init(address=opts.address, include_dashboard=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": env}, configure_logging=True, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def shard_root(opts: EngineOptions) -> Path:
    """Where Ray jobs keep their shards: --shard-dir, else under the curate cache."""
    return Path(opts.shard_dir).expanduser() if opts.shard_dir else cache_root() / "ray-shards"


def require_shared_shards(opts: EngineOptions) -> None:
    """On a cluster of several nodes, refuse the default shard folder (under this machine's cache, which the other
    nodes do not see) before any work is sent: their tasks would fail on missing files."""
    import ray

    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    if nodes > 1 and not opts.shard_dir:
        raise CurateError(f"the Ray cluster has {nodes} nodes: give --shard-dir a path every node mounts (NFS, a "
                          f"mounted bucket); the default, under this machine's curate cache, only this machine sees")


def cluster_resources() -> dict[str, float]:
    """CPUs and GPUs the connected cluster has in all."""
    import ray

    res = ray.cluster_resources()
    return {"CPU": float(res.get("CPU", 0)), "GPU": float(res.get("GPU", 0))}


def worker_count(opts: EngineOptions) -> int:
    """How many actors: as asked, else as many as the cluster's CPUs (GPUs) hold at the per-worker request,
    leaving a CPU's share for Ray's own read and write tasks."""
    if opts.workers:
        return opts.workers
    res = cluster_resources()
    if opts.gpus_per_worker:
        return max(1, int(res["GPU"] // opts.gpus_per_worker))
    return max(1, int((res["CPU"] - min(1.0, opts.cpus_per_worker)) // opts.cpus_per_worker))
