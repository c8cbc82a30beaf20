"""Generic record files with a field mapping: JSONL, CSV and Parquet."""

from __future__ import annotations

import csv
from pathlib import Path

from curate.errors import InputError
from curate.ingest.base import Ingestor, Sink, Where, iter_jsonl, iter_lines, register
from curate.ingest.mapping import RELATION_ROLES, FieldOptions, add_record, sniff_task


class _Generic(Ingestor):
    Options = FieldOptions

    def task_for(self, options: FieldOptions) -> str:
        return "classification" if options.task == "auto" else options.task

    def settle(self, path: Path, options: FieldOptions) -> tuple[FieldOptions, str | None]:
        if options.task != "auto":
            return options, None
        task, note = sniff_task(self.read, path, options)
        return options.model_copy(update={"task": task}), note


@register
class JsonlIngestor(_Generic):
    name = "jsonl"
    split_suffixes = (".jsonl",)
    description = "JSON Lines, one object per line, with --text-field/--label-field/--id-field mapping"

    def read(self, path: Path, options: FieldOptions, sink: Sink) -> None:
        n = 0
        for where, rec in iter_jsonl(path):
            n += 1
            add_record(sink, rec, where, options, n)
        if n == 0:
            raise InputError("file is empty", path=path)


@register
class CsvIngestor(_Generic):
    name = "csv"
    split_suffixes = (".csv",)
    description = "CSV with a header row, with --text-field/--label-field/--id-field mapping"

    def read(self, path: Path, options: FieldOptions, sink: Sink) -> None:
        # Long fields are legitimate (whole documents): lift the csv module's 128 KiB cap for this read.
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        # Streamed line by line (bad bytes name their line), so task=auto's look at the first rows reads only
        # those and a large file is never held twice in memory.
        reader = csv.DictReader(line for _, line in iter_lines(path))
        try:
            header = reader.fieldnames or []
        except csv.Error as exc:
            raise InputError(f"not readable as CSV: {exc}", path=path, line=1) from None
        if not header and not path.read_bytes().strip():
            raise InputError("file is empty", path=path)
        needed = [options.text_field, options.label_field]
        if options.task == "relation":
            needed += [options.fields.get(r, r) for r in RELATION_ROLES[1:5]]
        missing = [c for c in needed if c not in header]
        if missing:
            raise InputError(
                f"CSV header lacks column(s) {', '.join(missing)}; header has: {', '.join(header) or '(nothing)'} "
                "(map other names with --text-field/--label-field/--field)",
                path=path, line=1, field=missing[0],
            )
        n = 0
        for rec in _rows(reader, path):
            n += 1
            where = Where(str(path), line=reader.line_num)
            if None in rec:
                raise where.error(f"row has {len(header) + len(rec[None])} cells, header has {len(header)}")
            add_record(sink, {k: v for k, v in rec.items() if v != "" or k == options.text_field}, where, options, n)
        if n == 0:
            raise InputError("CSV has a header but no rows", path=path)


FIELD_LIMIT = 1 << 30  # 1 GiB per cell: past that a file is broken, not long


def _rows(reader: csv.DictReader, path: Path):
    """The CSV's rows; a malformed one (e.g. an unclosed quote running to the end) names its line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"not readable as CSV: {exc}", path=path, line=reader.line_num) from None


@register
class ParquetIngestor(_Generic):
    name = "parquet"
    split_suffixes = (".parquet",)
    description = "Parquet file, with --text-field/--label-field/--id-field mapping"

    def read(self, path: Path, options: FieldOptions, sink: Sink) -> None:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a non-Parquet file
            raise InputError(f"not a readable Parquet file: {exc}", path=path) from None
        import pyarrow as pa

        schema = pf.schema_arrow
        cols = schema.names
        for needed in (options.text_field, options.label_field):
            if needed not in cols:
                raise InputError(f"no column '{needed}'; columns: {', '.join(cols)}", path=path, field=needed)
        text_type = schema.field(options.text_field).type
        if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)
                or pa.types.is_string_view(text_type)):
            raise InputError(f"the text column holds {text_type}, not strings (pick the text column with "
                             "--text-field)", path=path, field=options.text_field)
        n = 0
        for batch in pf.iter_batches(batch_size=20_000):
            for rec in batch.to_pylist():
                n += 1
                add_record(sink, rec, Where(str(path), record=n), options, n)
        if n == 0:
            raise InputError("Parquet file has no rows", path=path)
