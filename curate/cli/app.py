"""The shared parts of the `curate` command line: the Typer app, its consoles, global options, error handling
and the option types several commands take."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import sys
from typing import Any, Callable, Optional

import typer
from rich.console import Console

from curate.version import __version__
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
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir", envvar="CURATE_CACHE", help="The vector store and "
                                            "other caches shared by workspaces (default: ~/.cache/curate)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bars (default: on in a terminal, off in CI)."
    ),
) -> None:
    """curate: find and fix label noise in NLP training data."""
    from curate import progress as prog

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    prog.configure(enabled=progress)
    if cache_dir:  # read by curate.vectors.cache_root, here and in the processes this one starts
        os.environ["CURATE_CACHE"] = cache_dir
    ctx.obj = State(db=db)



@app.command()
def version() -> None:
    """Print the curate version."""
    typer.echo(__version__)



def key_values(pairs: list[str], what: str) -> dict[str, str]:
    result = {}
    for pair in pairs:
        if "=" not in pair:
            raise CurateError(f"{what} '{pair}' is not of the form key=value")
        key, value = pair.split("=", 1)
        result[key.strip().replace("-", "_")] = value
    return result



def param_values(pairs: list[str]) -> dict[str, Any]:
    """--param key=value pairs; values are read as JSON where they parse (numbers, true/false, lists)."""
    out: dict[str, Any] = {}
    for key, raw in key_values(pairs, "--param").items():
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out



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


def from_flags(model: type, **values: Any) -> Any:
    """A pydantic model built from command-line options; a bad value is a CurateError naming its flag."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        raise CurateError("; ".join(f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                                    for e in exc.errors())) from None


def queue_filter(name: str, run: list[str], detector: list[str], split: Optional[str], label: Optional[str],
            suggested: Optional[str], min_score: float, max_score: float, every: bool, status: str,
            text: Optional[str], learn: bool = True):
    from curate.review import QueueFilter

    return from_flags(QueueFilter, dataset=name, runs=run, detectors=detector, split=split, label=label,
                      suggested=suggested, min_score=min_score, max_score=max_score, flagged_only=not every,
                      status=status, text=text, learn=learn)


def reviewer_name(name: Optional[str]) -> str:
    import getpass

    return name or getpass.getuser()


# Where the heavy work runs (embed, mine, detect): see docs/scale.md.
EngineOpt = typer.Option("local", "--engine", help="local (this process) or ray (a Ray cluster; pip install "
                         "'curate[ray]').")
AddressOpt = typer.Option(None, "--address", help="Ray cluster address (default: start a local one for the job).")
WorkersOpt = typer.Option(None, "--workers", min=1, help="Ray embedding actors (default: as many as fit).")
CpusOpt = typer.Option(1.0, "--cpus-per-worker", min=0.01, help="CPUs each Ray actor or task asks for.")
GpusOpt = typer.Option(0.0, "--gpus-per-worker", min=0.0, help="GPUs each Ray embedding actor asks for.")
ShardDirOpt = typer.Option(None, "--shard-dir", help="Where Ray jobs keep their shards (a local or shared path; "
                           "default: under the curate cache).")


def engine_options(engine: str, address: Optional[str], workers: Optional[int], cpus_per_worker: float,
                   gpus_per_worker: float, shard_dir: Optional[str]):
    """The engine the options name (None for the local default); --engine ray without Ray installed says how to
    install it."""
    from curate.engine import EngineOptions, require_ray

    opts = from_flags(EngineOptions, engine=engine, address=address, workers=workers, cpus_per_worker=cpus_per_worker,
                      gpus_per_worker=gpus_per_worker, shard_dir=shard_dir)
    if not opts.ray:
        return None
    require_ray()
    return opts


def fmt3(x: Any) -> str:
    """A figure with three decimals, or nothing for None."""
    return "" if x is None else f"{x:.3f}"



def latest_runs(ws: Workspace, name: str) -> list[str]:
    """The runs curate eval measures by default (curate.detect.runs.latest_runs)."""
    from curate.detect.runs import latest_runs as counted

    rows = counted(ws, name, "eval")
    if not rows:
        raise CurateError(f"no detector runs on '{name}'; run: curate detect {name}")
    return sorted(r.run_id for r in rows)


