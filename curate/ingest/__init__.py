"""Ingest: one module per input format, found through a registry; each call is one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError, InputError, NotFound
from curate.ingest.base import REGISTRY, Ingestor, IngestOptions, Sink, text_hash
from curate.progress import progress
from curate.spans import MARK_CLOSE, MARK_OPEN
from curate.registry import instantiate, load_plugins
from curate.store import Workspace

load_plugins(__name__, __path__)  # each format's module registers itself

log = logging.getLogger(__name__)

# A folder of one file per split (Ingestor.split_suffixes) is read split by split, from files of these stems.
SPLIT_NAMES = ("train", "dev", "validation", "valid", "val", "test")


@dataclass
class IngestResult:
    """What one ingest call wrote."""

    dataset: str
    format: str
    task: str
    files: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    replaced: bool = False
    hints: list[str] = field(default_factory=list)


Q_MARKED_SHARE = """
    SELECT count(*) FILTER (WHERE contains(text, ?) AND contains(text, ?)), count(*) FROM examples WHERE dataset = ?
"""


def _hints(ws: Workspace, result: IngestResult) -> list[str]:
    """Advice on how the data would be read better: classification texts that mark a span should be span data."""
    if result.task != "classification":
        return []
    marked, total = ws.one(Q_MARKED_SHARE, [MARK_OPEN, MARK_CLOSE, result.dataset])
    if total and marked / total >= 0.5:
        return [f"{marked} of {total} texts mark a span with {MARK_OPEN} ... {MARK_CLOSE}: ingest them with --task "
                f"span to get [sentence ; span] vectors (far better than the marked text read as one sentence: the "
                f"figures are in the README)"]
    return []


def formats() -> dict[str, str]:
    """Registered ingest formats with their descriptions."""
    return {name: cls.description for name, cls in sorted(REGISTRY.items())}


def make_options(fmt: str, options: dict[str, Any] | None) -> tuple[Ingestor, IngestOptions]:
    """Instantiate the ingestor for fmt and validate its options; unknown keys are refused."""
    given = {k: v for k, v in (options or {}).items() if v is not None}  # CLI options left unset arrive as None
    return instantiate(REGISTRY, fmt, "format", "Options", given, "not an option of this format")


def ingest(
    ws: Workspace,
    path: str | Path,
    fmt: str,
    name: str,
    *,
    split: str | None = None,
    replace: bool = False,
    append: bool = False,
    options: dict[str, Any] | None = None,
) -> IngestResult:
    """Read path in format fmt into dataset name, all-or-nothing; bad input raises InputError."""
    ingestor, opts = make_options(fmt, options)
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path=path)
    if replace and append:
        raise CurateError("--replace and --append exclude each other")
    files = _files_for(fmt, path, split)
    opts, settled = ingestor.settle(files[0][0], opts)
    task = ingestor.task_for(opts)
    result = IngestResult(name, fmt, task, [str(f) for f, _ in files], replaced=replace)
    if not ingestor.creates_dataset:
        return _ingest_reference(ws, ingestor, opts, files, name, replace, result)
    exists = ws.has_dataset(name)
    if exists and not (replace or append):
        raise CurateError(
            f"dataset '{name}' already exists in {ws.path}; pass --replace to overwrite it or --append to add a split"
        )
    if append and exists and ws.dataset(name).task != task:
        raise CurateError(f"dataset '{name}' holds {ws.dataset(name).task} data; this input is {task}")
    negative = opts.negative_label or ingestor.default_negative_label
    with ws.transaction(), progress(f"ingest {name}", unit="rows") as bar:
        if exists and replace:
            ws.delete_dataset(name)
        if not (exists and append):
            ws.create_dataset(name, task, negative_label=negative, source=str(path), fmt=fmt,
                              meta={"options": opts.model_dump(exclude_none=True)})
        sink = Sink(name, ws.append_arrow, tick=bar.update)
        for f, file_split in files:
            sink.default_split = file_split
            try:
                ingestor.read(f, opts, sink)
            except InputError as exc:
                if not settled:
                    raise
                raise InputError(f"{exc.reason} (the task was read as {task} from the first records; pass --task "
                                 f"to choose it)", path=exc.path, line=exc.line, record=exc.record,
                                 field=exc.field) from None
        sink.flush()
        if sink.counts["examples"] == 0:
            raise InputError("no examples found", path=path)
        if exists and append:
            _check_append(ws, name, sink)
        result.counts = dict(sink.counts)
        result.splits = _new_splits(ws, name, sink)
    result.hints = ([settled] if settled else []) + _hints(ws, result)
    log.info("ingested %s into %s: %s", path, name, result.counts)
    return result


def task_of(ingestor: Ingestor, opts: IngestOptions, fmt: str, path: str | Path) -> str:
    """The task an ingest of path would create, with task=auto decided from the data as ingest() does."""
    path = Path(path)
    if path.exists():
        opts, _ = ingestor.settle(_files_for(fmt, path, None)[0][0], opts)
    return ingestor.task_for(opts)


def _files_for(fmt: str, path: Path, split: str | None) -> list[tuple[Path, str | None]]:
    suffixes = REGISTRY[fmt].split_suffixes
    if not path.is_dir() or not suffixes:
        return [(path, split)]
    found = sorted(p for p in path.iterdir() if p.suffix in suffixes and p.is_file()
                   and (p.stem == split if split else p.stem.lower() in SPLIT_NAMES))
    if not found:
        want = split or "/".join(SPLIT_NAMES)
        raise InputError(f"no {want}{'/'.join(suffixes)} file in this folder", path=path)
    return [(p, p.stem) for p in found]


def _check_append(ws: Workspace, name: str, sink: Sink) -> None:
    # Rows just written carry ord >= existing ones only within this ingest; compare ids across the whole dataset.
    clash = ws.one(
        "SELECT id, count(*) FROM examples WHERE dataset = ? GROUP BY id HAVING count(*) > 1 LIMIT 1", [name]
    )
    if clash:
        where = sink.where_of(clash[0])
        if where is None:
            raise InputError(f"id '{clash[0]}' already exists in dataset '{name}'", field="id")
        raise where.error(f"id '{clash[0]}' already exists in dataset '{name}'", "id")


def _new_splits(ws: Workspace, name: str, sink: Sink) -> dict[str, int]:
    return dict(ws.con.execute("SELECT split, count(*) FROM examples WHERE dataset = ? GROUP BY split ORDER BY split",
                               [name]).fetchall())


def _ingest_reference(ws, ingestor, opts, files, name, replace, result) -> IngestResult:
    """Reference labels (patch files) for an existing dataset: every id must exist."""
    if not ws.has_dataset(name):
        raise NotFound(f"no dataset named '{name}'; ingest the data before its patch")
    source = getattr(opts, "source", None) or f"patch:{Path(files[0][0]).name}"
    with ws.transaction():
        existing = ws.one(
            "SELECT count(*) FROM clean_labels WHERE dataset = ? AND source = ?", [name, source]
        )[0]
        if existing and not replace:
            raise CurateError(f"dataset '{name}' already has clean labels from {source}; pass --replace to reload")
        ws.con.execute("DELETE FROM clean_labels WHERE dataset = ? AND source = ?", [name, source])
        sink = Sink(name, ws.append_arrow)
        for f, _ in files:
            ingestor.read(f, opts, sink)
        sink.flush()
        missing = ws.one(
            """SELECT c.example_id FROM clean_labels c
               LEFT JOIN examples e ON e.dataset = c.dataset AND e.id = c.example_id
               WHERE c.dataset = ? AND c.source = ? AND e.id IS NULL LIMIT 1""",
            [name, source],
        )
        if missing:
            where = sink.where_of(missing[0], clean=True)
            raise where.error(f"id '{missing[0]}' is not an example of dataset '{name}'", "id")
    result.counts = dict(sink.counts)
    return result


__all__ = ["IngestResult", "formats", "ingest", "make_options", "text_hash", "REGISTRY"]
