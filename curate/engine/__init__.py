"""Where the heavy work runs: in this process, or as Ray jobs on a cluster (docs/scale.md)."""

from curate.engine.options import LOCAL, EngineOptions, ray_missing, require_ray

__all__ = ["LOCAL", "EngineOptions", "ray_missing", "require_ray"]
