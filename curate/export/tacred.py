"""TACRED JSON: one array per split; a TACRED input comes back with its own fields in its own order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.export.base import (ExportData, ExportOptions, Exporter, extra_fields, json_line, register, relation_fields,
                                write_splits)

CANONICAL = ("id", "relation", "token", "subj_start", "subj_end", "obj_start", "obj_end", "subj_type", "obj_type")


def tacred_record(row: Any) -> dict[str, Any]:
    """An example as a TACRED record, fields in the order the input had them."""
    meta = row.meta
    values = {"id": row.id, "relation": row.label, **relation_fields(meta), **extra_fields(meta)}
    keys = meta.get("keys") or []
    if not set(keys) <= set(values):  # ingested through a field mapping: the input's names are not TACRED's
        keys = []
    order = [*keys, *(k for k in CANONICAL if k in values and k not in keys),
             *(k for k in values if k not in keys and k not in CANONICAL)]
    return {k: values[k] for k in order}


@register
class TacredExporter(Exporter):
    name = "tacred"
    description = "TACRED JSON, one <split>.json array per split (fields and order as ingested; label in 'relation')"
    tasks = ("relation",)
    reads_back = ("tacred", ".", {})

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        def one(path: Path, part) -> None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("[\n" + ",\n".join(json_line(tacred_record(r)) for r in part.itertuples()) + "\n]\n")

        return write_splits(data, out, "{split}.json", one)
