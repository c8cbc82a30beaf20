"""Noise detectors: one module per method, found through the registry in base.py."""

from curate.registry import load_plugins

load_plugins(__name__, __path__)  # each detector module registers itself

from curate.detect.base import REGISTRY, Detector, DetectorParams, default_detectors  # noqa: E402
from curate.detect.context import Context  # noqa: E402
from curate.detect.runs import (LatestRun, RunResult, latest_run, latest_runs, list_findings,  # noqa: E402
                                run_detector, runs_of)

__all__ = ["default_detectors", "REGISTRY", "Context", "Detector", "DetectorParams", "LatestRun", "RunResult",
           "latest_run", "latest_runs", "list_findings", "run_detector", "runs_of"]
