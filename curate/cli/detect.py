"""`curate detectors`, `detect`, `findings`, `runs` and `eval`: finding the noise and measuring how well it was found."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from curate.cli.app import (AddressOpt, CpusOpt, EngineOpt, GpusOpt, JsonOpt, ShardDirOpt, WorkersOpt, app, emit_json,
                            engine_options, fmt3, handle_errors, latest_runs, out, param_values, workspace)
from curate.errors import CurateError


@app.command()
@handle_errors
def detectors(as_json: bool = JsonOpt) -> None:
    """List the noise detectors with their parameters and defaults."""
    from curate import api

    info = api.detectors()
    if as_json:
        emit_json(info)
        return
    for name, d in info.items():
        out.print(f"{name}: {d['description']}")
        for k, p in d["params"].items():
            out.print(f"    {k} = {p['default']!r}  {p['description']}")


@app.command()
@handle_errors
def detect(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    detector: list[str] = typer.Option([], "--detector", "-d", help="Detector to run (repeatable; default: the "
                                       "set that applies to the task, chosen for the ensemble: IS, ES, knn-vote and "
                                       "confident-learning with classifier=auto, and confident-learning on the linear "
                                       "classifier too when auto fine-tunes; near-duplicates; for retrieval "
                                       "false-negatives and relevance-model). See `curate detectors`."),
    param: list[str] = typer.Option([], "--param", "-p", help="Detector parameter key=value (JSON values)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Embedding model the vectors came from."),
    force: bool = typer.Option(False, "--force", help="Run again even if an identical run exists."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what the run would send and cost (LLM "
                                 "detectors); nothing is sent or stored."),
    engine: str = EngineOpt, address: Optional[str] = AddressOpt, workers: Optional[int] = WorkersOpt,
    cpus_per_worker: float = CpusOpt, gpus_per_worker: float = GpusOpt, shard_dir: Optional[str] = ShardDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run noise detectors; each run and its findings (score, suggestion, reason, evidence) are stored."""
    from curate import api

    if param and len(detector) != 1:
        raise CurateError("--param applies to one detector; name it with --detector")
    run_on = engine_options(engine, address, workers, cpus_per_worker, gpus_per_worker, shard_dir)
    with workspace(ctx) as ws:
        if dry_run:
            plans = api.plan(ws, name, detector or None, param_values(param), model=model)
            if as_json:
                emit_json(plans)
                return
            for d, plan in plans.items():
                out.print(f"{d}: " + ", ".join(f"{k} {v}" for k, v in plan.items()))
            return
        results = api.detect(ws, name, detector or None, param_values(param), model=model, force=force,
                             engine=run_on)
    if as_json:
        emit_json([dataclasses.asdict(r) for r in results])
        return
    for r in results:
        state = "reused identical run" if r.reused else f"{r.timings.get('total', 0):.1f}s"
        variant = f" ({r.variant})" if r.variant else (
            f" (classifier={r.params['classifier']})" if r.params.get("classifier") else "")
        out.print(f"{r.run_id}{variant}: {r.counts['flagged']} flagged of {r.counts['scored']} scored ({state})")
        extra = {k: v for k, v in r.counts.items() if k not in ("scored", "flagged", "suggested")}
        if extra:
            out.print("  " + ", ".join(f"{k} {v}" for k, v in extra.items()))
    out.print(f"see them with: curate findings {name} --run RUN_ID")
    if not detector and len(results) > 1:
        out.print(f"one ranking of them all: curate detect {name} -d ensemble")


@app.command()
@handle_errors
def findings(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    run: Optional[str] = typer.Option(None, "--run", "-r", help="Run id (default: the latest run)."),
    detector: Optional[str] = typer.Option(None, "--detector", "-d", help="Latest run of this detector."),
    top: int = typer.Option(20, "--top", "-n", min=1, help="How many, most suspect first."),
    flagged: bool = typer.Option(False, "--flagged", help="Only examples the detector flagged."),
    as_json: bool = JsonOpt,
) -> None:
    """List a run's findings, most suspect first, with the suggested label and the reason."""
    from curate.detect import latest_run, list_findings

    with workspace(ctx, read_only=True) as ws:
        ws.dataset(name)
        run_id = run or latest_run(ws, name, detector)
        df = list_findings(ws, run_id, top=top, flagged_only=flagged)
    if as_json:
        # A NULL cell comes back from DuckDB as NaN: JSON has no NaN, and evidence is a JSON string when present.
        rows = df.astype(object).where(df.notna(), None).to_dict(orient="records")
        for r in rows:
            r["evidence"] = json.loads(r["evidence"]) if isinstance(r["evidence"], str) else None
        emit_json({"run": run_id, "findings": rows})
        return
    out.print(f"run {run_id}")
    table = Table("score", "flag", "id", "label", "suggested", "reason", "text", box=None)
    for r in df.itertuples():
        table.add_row(f"{r.score:.3f}", "*" if r.flagged else "", r.example_id, str(r.label),
                      str(r.suggested_label or ""), r.reason, r.text[:80])
    out.print(table)


@app.command()
@handle_errors
def runs(ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."), as_json: bool = JsonOpt) -> None:
    """List the detector runs on a dataset, newest first."""
    from curate.detect import runs_of

    with workspace(ctx, read_only=True) as ws:
        ws.dataset(name)
        df = runs_of(ws, name)
    if as_json:
        emit_json(df.to_dict(orient="records"))
        return
    table = Table("run", "detector", "finished", "counts", box=None)
    for r in df.itertuples():
        table.add_row(r.run_id, r.kind, str(r.finished_at)[:19], r.counts)
    out.print(table)


@app.command(name="eval")
@handle_errors
def eval_(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="JSONL of known errors: {id, true_label, kind?}."),
    run: list[str] = typer.Option([], "--run", "-r",
                                  help="Run ids (default: the latest run of each detector and model variant)."),
    gold_id_field: str = typer.Option("id", "--gold-id-field", help="Gold field holding the example id."),
    do_downstream: bool = typer.Option(False, "--downstream", help="Retrain a fixed classifier on each cleaned "
                                       "variant and report micro-F1 on the clean test split."),
    train_split: str = typer.Option("train", "--train-split"),
    test_split: str = typer.Option("test", "--test-split"),
    as_json: bool = JsonOpt,
) -> None:
    """Measure detectors: P/R at k, AUPRC and relabel accuracy against gold; optionally the downstream F1."""
    from curate.evaluate import downstream, evaluate

    if gold is None and not do_downstream:
        raise CurateError("give --gold FILE, --downstream, or both")
    with workspace(ctx, read_only=True) as ws:
        ws.dataset(name)
        run_ids = run or latest_runs(ws, name)
        report: dict[str, Any] = {"dataset": name, "runs": run_ids}
        if gold is not None:
            report["detection"] = evaluate(ws, name, gold, run_ids, gold_id_field)
        if do_downstream:
            report["downstream"] = downstream(ws, name, run_ids, train_split=train_split, test_split=test_split)
    if as_json:
        emit_json(report)
        return
    if "detection" in report:
        table = Table("detector", "run", "errors", "P@k", "AUPRC", "random", "relabel acc", "flagged", "flag prec",
                      box=None)
        for m in report["detection"]:
            table.add_row(m["detector"], m["run"], str(m["errors"]), fmt3(m["precision_at_k"]), fmt3(m["auprc"]),
                          fmt3(m["random_auprc"]), fmt3(m["relabel_accuracy"]), str(m.get("flagged", "")),
                          fmt3(m.get("flagged_precision")))
        out.print(table)
    if "downstream" in report:
        table = Table("variant", "train", "changed", "P", "R", "micro-F1", "ΔF1", box=None)
        for r in report["downstream"]:
            table.add_row(r["variant"], str(r["train_examples"]), str(r["changed"]), fmt3(r["precision"]),
                          fmt3(r["recall"]), fmt3(r["f1"]), f"{r['delta_f1']:+.4f}")
        out.print(table)


# -- review: queue, decisions, bulk, undo, history, and the browser app -------------------------------

