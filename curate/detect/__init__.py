"""Noise detectors: one module per method, found through the registry in base.py."""

from curate.detect import (  # noqa: F401 - importing registers them
    arhn, confident_learning, ensemble, false_negatives, knn_vote, llm_verify, near_duplicates, relevance_model,
    tacred_es, tacred_is,
)
from curate.detect.base import REGISTRY, Detector, DetectorParams, default_detectors
from curate.detect.context import Context
from curate.detect.runs import RunResult, latest_run, list_findings, run_detector, runs_of

__all__ = ["default_detectors", "REGISTRY", "Context", "Detector", "DetectorParams", "RunResult", "latest_run",
           "list_findings", "run_detector", "runs_of"]
