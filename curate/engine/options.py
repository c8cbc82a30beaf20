"""Where the heavy work runs: in this process (local), or on a Ray cluster (`--engine ray`), with its settings."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from curate.errors import CurateError

INSTALL = "pip install 'curate[ray]'"


class EngineOptions(BaseModel):
    """How embedding, kNN and mining run: locally (the default), or as Ray jobs on a cluster (docs/scale.md)."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["local", "ray"] = Field("local", description="local: this process; ray: a Ray cluster")
    address: str | None = Field(None, description="an existing Ray cluster (e.g. ray://head:10001 or auto); "
                                "without it a local cluster sized to this machine is started for the job")
    workers: int | None = Field(None, ge=1, description="embedding actors (default: the cluster's CPUs divided by "
                                "cpus_per_worker, GPUs by gpus_per_worker when given)")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs each actor and kNN task asks for (fractions leave "
                                   "room for Ray's own tasks on small machines)")
    threads_per_worker: int | None = Field(None, ge=1, description="threads each actor computes with (default: "
                                           "its CPUs, at least one)")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs each embedding actor asks for (then it runs the "
                                   "model on CUDA; untested here, docs/scale.md)")
    shard_dir: str | None = Field(None, description="where input and result shards live: a local path, on a cluster "
                                  "one every node mounts (default: under the curate cache)")
    shard_rows: int | None = Field(None, ge=1, description="texts per embedding input shard and corpus rows per kNN "
                                   "shard (default: about four input shards per worker, 1,000-20,000 texts each; "
                                   "20,000-row kNN shards)")
    query_block: int = Field(8_192, ge=1, description="queries per kNN task")
    max_retries: int = Field(3, ge=0, description="retries of a failed task and restarts of a dead actor")
    timeout: float | None = Field(None, gt=0, description="seconds a job may take before it stops with an error "
                                  "(finished shards are kept: run again to resume)")

    @field_validator("shard_dir")
    @classmethod
    def _a_path(cls, value: str | None) -> str | None:
        # Tasks memory-map their shards, which needs a file system path; a bucket works mounted (docs/scale.md).
        if value and "://" in value:
            raise ValueError(f"shard_dir must be a path every node mounts, not a URI ({value}); mount the bucket "
                             f"(e.g. with s3fs or gcsfuse) and give its path")
        return value

    def input_rows(self, texts: int, workers: int) -> int:
        """Texts per embedding input shard: as set, else about four shards per worker, so every actor of a big
        cluster gets work and, longest texts first, the last shards finish close together."""
        if self.shard_rows:
            return self.shard_rows
        return max(1_000, min(20_000, math.ceil(texts / (4 * workers))))

    @property
    def corpus_rows(self) -> int:
        """Corpus rows per kNN shard."""
        return self.shard_rows or 20_000

    @property
    def ray(self) -> bool:
        """Whether the work goes to Ray."""
        return self.engine == "ray"


LOCAL = EngineOptions()


def ray_missing() -> str | None:
    """Why the Ray engine cannot run here (the extra to install), or None."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        return f"the ray engine needs Ray: {INSTALL}"
    return None


def require_ray() -> None:
    """Raise a one-line CurateError naming the install command when Ray is not installed."""
    reason = ray_missing()
    if reason:
        raise CurateError(reason)
