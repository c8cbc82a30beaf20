"""Ingestor contract, registry and the buffered, validating sink every ingestor writes to."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from curate.errors import InputError
from curate.registry import registrar

CHUNK_ROWS = 50_000


def text_hash(text: str) -> str:
    """Content hash used for the embedding cache and duplicate detection."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class IngestOptions(BaseModel):
    """Options shared by every ingestor; each format extends this (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")

    negative_label: str | None = None


@dataclass
class Where:
    """A position in an input file, for error messages."""

    path: str
    line: int | None = None
    record: int | None = None

    def error(self, message: str, field: str | None = None) -> InputError:
        """An InputError at this position."""
        return InputError(message, path=self.path, line=self.line, record=self.record, field=field)


class Ingestor:
    """One input format: reads a path and writes rows to a Sink; registered by name."""

    name: ClassVar[str]
    description: ClassVar[str]
    task: ClassVar[str | None] = None  # None: decided by options (generic formats)
    default_negative_label: ClassVar[str | None] = None
    creates_dataset: ClassVar[bool] = True
    # File endings of one split's file: a folder of such files (train.json, dev.json, ...) is read split by split.
    split_suffixes: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[IngestOptions]] = IngestOptions

    def task_for(self, options: IngestOptions) -> str:
        """The dataset task this input produces."""
        assert self.task is not None
        return self.task

    def settle(self, path: Path, options: IngestOptions) -> tuple[IngestOptions, str | None]:
        """Options with anything left to the data (task=auto) decided from path; and a note saying what was."""
        return options, None

    def read(self, path: Path, options: IngestOptions, sink: Sink) -> None:
        """Parse path and add its rows to sink; raise InputError on bad input."""
        raise NotImplementedError


REGISTRY: dict[str, type[Ingestor]] = {}


register = registrar(REGISTRY, "ingestor")


class _Columns:
    """Column-wise row buffer that turns into an Arrow table."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {}

    def append(self, **values: Any) -> None:
        if not self.cols:
            self.cols = {k: [] for k in values}
        for k, v in values.items():
            self.cols[k].append(v)

    def __len__(self) -> int:
        return len(next(iter(self.cols.values()))) if self.cols else 0

    def take(self) -> pa.Table:
        table, self.cols = pa.table(self.cols), {}
        return table


@dataclass
class Sink:
    """Collects rows, refuses duplicates with their location, and flushes in Arrow chunks."""

    dataset: str
    write: Callable[[str, pa.Table], None]
    default_split: str | None = None
    tick: Callable[[int], None] | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"examples": 0, "texts": 0, "clean_labels": 0})
    _seen: dict[str, Where] = field(default_factory=dict)
    _text_seen: dict[tuple[str, str], str] = field(default_factory=dict)
    _clean_seen: dict[str, Where] = field(default_factory=dict)
    _examples: _Columns = field(default_factory=_Columns)
    _texts: _Columns = field(default_factory=_Columns)
    _clean: _Columns = field(default_factory=_Columns)

    def split_for(self, split: str | None) -> str:
        """The split a row goes to: its own, else the one given on the command line, else 'train'."""
        return split or self.default_split or "train"

    def add_example(
        self,
        id: str,
        text: str,
        label: str | None,
        meta: dict[str, Any],
        where: Where,
        *,
        split: str | None = None,
        hash_text: str | None = None,
    ) -> None:
        """Add one labelled example; hash_text is what gets embedded when it differs from text."""
        if not isinstance(id, str) or not id:
            raise where.error("id is empty", "id")
        prev = self._seen.get(id)
        if prev is not None:
            raise where.error(f"duplicate id '{id}' (first seen at {_where_str(prev)})", "id")
        self._seen[id] = where
        self._examples.append(
            dataset=self.dataset, id=id, split=self.split_for(split), text=text, label=label,
            meta=json.dumps(meta, ensure_ascii=False, default=str) if meta else None,
            text_hash=text_hash(hash_text if hash_text is not None else text), ord=self.counts["examples"],
        )
        self.counts["examples"] += 1
        if len(self._examples) >= CHUNK_ROWS:
            self._flush_examples()

    def add_text(self, kind: str, id: str, text: str, meta: dict[str, Any] | None, where: Where) -> bool:
        """Add a retrieval query or passage once; the same id with other text is an error."""
        key = (kind, id)
        h = text_hash(text)
        prev = self._text_seen.get(key)
        if prev is not None:
            if prev != h:
                raise where.error(f"{kind} id '{id}' appears twice with different text", "id")
            return False
        self._text_seen[key] = h
        self._texts.append(
            dataset=self.dataset, kind=kind, id=id, text=text,
            meta=json.dumps(meta, ensure_ascii=False, default=str) if meta else None, text_hash=h,
        )
        self.counts["texts"] += 1
        if len(self._texts) >= CHUNK_ROWS:
            self._flush_texts()
        return True

    def add_clean_label(self, example_id: str, label: str, source: str, where: Where) -> None:
        """Mark an example as belonging to the clean subset with its verified label."""
        prev = self._clean_seen.get(example_id)
        if prev is not None:
            raise where.error(f"duplicate id '{example_id}' (first seen at {_where_str(prev)})", "id")
        self._clean_seen[example_id] = where
        self._clean.append(dataset=self.dataset, example_id=example_id, label=label, source=source)
        self.counts["clean_labels"] += 1

    def has_text(self, kind: str, id: str) -> bool:
        """Whether a query/passage id was added in this ingest."""
        return (kind, id) in self._text_seen

    def where_of(self, id: str, *, clean: bool = False) -> Where | None:
        """Where an example id (or, with clean, a clean-label id) was read in this ingest."""
        return (self._clean_seen if clean else self._seen).get(id)

    def has_example(self, id: str) -> bool:
        """Whether an example id was added in this ingest."""
        return id in self._seen

    def _flush_examples(self) -> None:
        n = len(self._examples)
        if n:
            self.write("examples", self._examples.take())
            if self.tick:
                self.tick(n)

    def _flush_texts(self) -> None:
        if len(self._texts):
            self.write("texts", self._texts.take())

    def flush(self) -> None:
        """Write whatever is buffered."""
        self._flush_examples()
        self._flush_texts()
        if len(self._clean):
            self.write("clean_labels", self._clean.take())


def _where_str(where: Where) -> str:
    if where.line is not None:
        return f"line {where.line}"
    if where.record is not None:
        return f"record {where.record}"
    return where.path


def read_text(path: Path) -> str:
    """Read a whole UTF-8 file; bad bytes and empty files raise InputError with the line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path=path, line=line) from None
    if not text.strip():
        raise InputError("file is empty", path=path)
    return text


def iter_lines(path: Path):
    """Yield (line number, decoded line) for a UTF-8 text file, streaming; InputError on bad bytes."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", path=path, line=n) from None
            yield n, line


def iter_jsonl(path: Path, what: str = "file", *, require: tuple[str, ...] = ()):
    """Yield (Where, object) per non-blank line of a JSONL file; bad JSON, non-objects and missing keys raise
    InputError naming the line (a missing file names what it should have been)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such {what}", path=path)
    for n, line in iter_lines(path):
        if not line.strip():
            continue
        where = Where(str(path), line=n)
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise where.error(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(rec, dict):
            raise where.error(f"expected an object, got {type(rec).__name__}")
        for key in require:
            if key not in rec:
                raise where.error("missing", key)
        yield where, rec
