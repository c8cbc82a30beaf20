"""Flat record files, one per split: JSONL, CSV and Parquet (id, text, label, task fields, the input's extras)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from curate.export.base import (ExportData, ExportOptions, Exporter, flat_record, register, union_columns,
                                write_jsonl, write_parquet, write_splits)


def _options(data: ExportData) -> dict[str, Any]:
    return {"task": data.info.task} if data.info.task in ("relation", "span") else {}


class _Records(Exporter):
    suffix = ""
    lists = True

    def ingest_args(self, data: ExportData, options: ExportOptions) -> tuple[str, str, dict[str, Any]] | None:
        if data.info.task == "retrieval":
            return None  # pairs read back through the triplets or BEIR exports
        return (self.name, ".", _options(data))

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        return write_splits(data, out, "{split}" + self.suffix, lambda path, part: self.write_records(
            path, [flat_record(r, data.info.task, lists=self.lists) for r in part.itertuples()]))

    def write_records(self, path: Path, records: list[dict[str, Any]]) -> None:
        """Write one split's records."""
        raise NotImplementedError


@register
class JsonlExporter(_Records):
    name = "jsonl"
    description = "JSON Lines, one <split>.jsonl per split: id, text, label (+ token spans, query ids, weight)"
    suffix = ".jsonl"

    def write_records(self, path: Path, records: list[dict[str, Any]]) -> None:
        write_jsonl(path, records)


@register
class CsvExporter(_Records):
    name = "csv"
    description = "CSV with a header, one <split>.csv per split (relations as character offsets, end exclusive)"
    suffix = ".csv"
    lists = False

    def write_records(self, path: Path, records: list[dict[str, Any]]) -> None:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=union_columns(records))
            writer.writeheader()
            for rec in records:
                writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
                                 for k, v in rec.items()})


@register
class ParquetExporter(_Records):
    name = "parquet"
    description = "Parquet, one <split>.parquet per split (same columns as JSONL)"
    suffix = ".parquet"

    def write_records(self, path: Path, records: list[dict[str, Any]]) -> None:
        write_parquet(path, records)
