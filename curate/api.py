"""curate's Python API: each step the CLI, the recipes and the review UI run is one call here, on an open workspace.

    from curate import api

    with api.open_workspace("work.duckdb") as ws:
        api.ingest(ws, "data/tacred", "tacred", "tacred")
        api.embed(ws, "tacred")
        api.detect(ws, "tacred")                          # the default set of detectors
        api.detect(ws, "tacred", ["ensemble"])
        top = api.findings(ws, "tacred", detector="ensemble", top=20)
        api.decide(ws, "tacred", top.example_id[0], "relabel", new_label="per:title", reviewer="me")
        api.export(ws, "tacred", "out/tacred-clean", variant="reviewed", fmt="tacred")

docs/api.md maps every CLI command to its call here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from curate.decisions import history, undo, undo_batch, undo_last
from curate.detect import REGISTRY, RunResult, default_detectors, latest_run, latest_runs, list_findings, runs_of
from curate.detect import run_detector as _run_detector
from curate.detect.context import Context
from curate.detect.runs import estimate_run, run_label
from curate.embed import EmbedResult, load_text_vectors, load_vectors
from curate.engine import EngineOptions
from curate.embed import embed_dataset as embed
from curate.errors import CurateError, InputError, NotFound, WorkspaceLocked
from curate.evaluate import downstream, evaluate
from curate.export import ExportResult, Policy, export, prepare, summarise, variants
from curate.export import formats as export_formats
from curate.ingest import IngestResult, ingest
from curate.ingest import formats as input_formats
from curate.recipe.plan import Plan
from curate.recipe.runner import run_recipe
from curate.recipe.schema import json_schema as recipe_schema
from curate.retrieval.mine import MineOptions, MineResult, mine
from curate.review import (ExampleView, Queue, QueueFilter, build_queue, bulk_apply, bulk_preview, decide,
                           load_example, progress)
from curate.similar import similar as neighbours
from curate.store import Workspace, open_workspace
from curate.version import __version__


def detectors() -> dict[str, dict[str, Any]]:
    """Every registered detector: its description, what it needs and its parameters with defaults."""
    return {name: {"description": cls.description, "needs": list(cls.needs), "tasks": list(cls.tasks),
                   "params": {k: {"default": f.default if f.default_factory is None else f.default_factory(),
                                  "description": f.description or ""}
                              for k, f in cls.Params.model_fields.items()}}
            for name, cls in sorted(REGISTRY.items())}


def _chosen(ctx: Context, names: list[str] | None, params: dict[str, Any] | None) -> list[tuple[str, dict]]:
    if params and len(names or []) != 1:
        raise CurateError("params apply to one detector; name it")
    return [(d, dict(params or {})) for d in names] if names else default_detectors(ctx)


def detect(ws: Workspace, dataset: str, detectors: list[str] | None = None, params: dict[str, Any] | None = None,
           *, model: str | None = None, force: bool = False, engine: EngineOptions | None = None) -> list[RunResult]:
    """Run detectors on a dataset (default: the set chosen for the ensemble, Detector.default_runs) and store each
    run and its findings; an identical earlier run is reused unless force. With engine=ray the neighbour searches
    run on a Ray cluster."""
    ctx = Context(ws, dataset, model=model, engine=engine)
    return [_run_detector(ws, dataset, d, p, model=model, force=force, ctx=ctx)
            for d, p in _chosen(ctx, detectors, params)]


def plan(ws: Workspace, dataset: str, detectors: list[str] | None = None, params: dict[str, Any] | None = None,
         *, model: str | None = None) -> dict[str, dict[str, Any]]:
    """What detect would run, keyed by run: the classifier each would use and, for LLM detectors, the requests,
    tokens and cost. Nothing is sent or stored."""
    ctx = Context(ws, dataset, model=model)
    return {run_label(d, p): estimate_run(ws, dataset, d, p, ctx=ctx) for d, p in _chosen(ctx, detectors, params)}


def findings(ws: Workspace, dataset: str, *, run: str | None = None, detector: str | None = None,
             top: int | None = 20, flagged_only: bool = False) -> pd.DataFrame:
    """A run's findings (default: the newest run, of detector if given), most suspect first, with the text and the
    current label."""
    ws.dataset(dataset)
    return list_findings(ws, run or latest_run(ws, dataset, detector), top=top, flagged_only=flagged_only)


def diff(ws: Workspace, dataset: str, variant: str = "reviewed", *, run: str | None = None,
         examples: int = 3) -> dict[str, Any]:
    """What a variant would change, per split and label, with a few examples of each change; nothing is
    written."""
    data, used = prepare(ws, dataset, variant, run=run)
    return {**summarise(data, examples), "runs": used["runs"], "decisions_used": used["decisions"]}


def check_recipe(path: str | Path, *, output: str | Path | None = None, workspace: str | Path | None = None,
                 overwrite: bool = False) -> Plan:
    """Parse and validate a recipe and check its inputs against the workspace; nothing runs."""
    recipe = Plan(path, output=output, workspace=workspace)
    recipe.check(overwrite=overwrite)
    return recipe


def serve_review(db: str | Path, *, host: str = "127.0.0.1", port: int = 8501, reviewer: str | None = None) -> int:
    """Serve the review UI for a workspace until stopped (signals reach the server too); returns its exit code."""
    import getpass
    import os

    from curate.review.launch import app_path, serve, streamlit_command

    if not Path(db).exists():
        raise NotFound(f"no workspace at {db}; run 'curate ingest' first (or pass --db)")
    env = {**os.environ, "CURATE_DB": str(Path(db).resolve()), "CURATE_REVIEWER": reviewer or getpass.getuser()}
    return serve(streamlit_command(app_path(), host=host, port=port), env)


__all__ = [
    # the workspace
    "Workspace", "open_workspace", "__version__",
    # data in
    "IngestResult", "ingest", "input_formats",
    # vectors
    "EmbedResult", "EngineOptions", "embed", "load_text_vectors", "load_vectors", "neighbours", "MineOptions",
    "MineResult", "mine",
    # detection
    "RunResult", "default_detectors", "detect", "detectors", "findings", "latest_runs", "plan", "runs_of",
    "evaluate", "downstream",
    # review
    "ExampleView", "Queue", "QueueFilter", "build_queue", "bulk_apply", "bulk_preview", "decide", "history",
    "load_example", "progress", "serve_review", "undo", "undo_batch", "undo_last",
    # data out
    "ExportResult", "Policy", "diff", "export", "export_formats", "variants",
    # recipes
    "check_recipe", "recipe_schema", "run_recipe",
    # errors
    "CurateError", "InputError", "NotFound", "WorkspaceLocked",
]
