"""Generic record files with a field mapping: JSONL, CSV and Parquet."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from curate.errors import InputError
from curate.ingest.base import Ingestor, Sink, Where, iter_jsonl, read_text, register
from curate.ingest.mapping import RELATION_ROLES, FieldOptions, add_record


class _Generic(Ingestor):
    Options = FieldOptions

    def task_for(self, options: FieldOptions) -> str:
        return options.task


@register
class JsonlIngestor(_Generic):
    name = "jsonl"
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
    description = "CSV with a header row, with --text-field/--label-field/--id-field mapping"

    def read(self, path: Path, options: FieldOptions, sink: Sink) -> None:
        reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
        header = reader.fieldnames or []
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
        for rec in reader:
            n += 1
            where = Where(str(path), line=reader.line_num)
            if None in rec:
                raise where.error(f"row has {len(header) + len(rec[None])} cells, header has {len(header)}")
            add_record(sink, {k: v for k, v in rec.items() if v != "" or k == options.text_field}, where, options, n)
        if n == 0:
            raise InputError("CSV has a header but no rows", path=path)


@register
class ParquetIngestor(_Generic):
    name = "parquet"
    description = "Parquet file, with --text-field/--label-field/--id-field mapping"

    def read(self, path: Path, options: FieldOptions, sink: Sink) -> None:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a non-Parquet file
            raise InputError(f"not a readable Parquet file: {exc}", path=path) from None
        cols = pf.schema_arrow.names
        for needed in (options.text_field, options.label_field):
            if needed not in cols:
                raise InputError(f"no column '{needed}'; columns: {', '.join(cols)}", path=path, field=needed)
        n = 0
        for batch in pf.iter_batches(batch_size=20_000):
            for rec in batch.to_pylist():
                n += 1
                add_record(sink, rec, Where(str(path), record=n), options, n)
        if n == 0:
            raise InputError("Parquet file has no rows", path=path)
