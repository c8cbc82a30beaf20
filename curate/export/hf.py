"""Hugging Face DatasetDict.save_to_disk: splits kept, labels as a ClassLabel feature with every known name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.export.base import ExportData, ExportOptions, Exporter, flat_record, register, union_columns


@register
class HfExporter(Exporter):
    name = "hf"
    description = "Hugging Face DatasetDict (save_to_disk); 'label' is a ClassLabel, datasets.load_from_disk reads it"
    tasks = ("classification", "relation")

    def ingest_args(self, data: ExportData, options: ExportOptions) -> tuple[str, str, dict[str, Any]]:
        return ("hf", ".", {"task": data.info.task} if data.info.task == "relation" else {})

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        import datasets

        datasets.disable_progress_bars()  # curate reports its own steps; these bars flood CI logs
        records = {split: [flat_record(r, data.info.task) for r in part.itertuples()] for split, part in data.splits()}
        columns = union_columns([rec for recs in records.values() for rec in recs])
        label_feature = datasets.ClassLabel(names=data.labels)
        parts = {}
        for split, recs in records.items():
            table = {c: [rec.get(c) for rec in recs] for c in columns}
            table["label"] = [label_feature.str2int(x) for x in table["label"]]
            ds = datasets.Dataset.from_dict(table)
            parts[split] = ds.cast_column("label", label_feature)
        datasets.DatasetDict(parts).save_to_disk(str(out))
        return sorted(p for p in out.rglob("*") if p.is_file())
