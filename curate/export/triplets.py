"""sentence-transformers training rows: (anchor, positive, negative_1..n) per positive pair, JSONL or Parquet.

The weighted variant adds negative_i_weight next to each negative, for a weighted contrastive loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from curate.export.base import ExportData, ExportOptions, Exporter, register, write_jsonl, write_parquet, write_splits
from curate.ingest.retrieval import NEGATIVE, POSITIVE


class TripletOptions(ExportOptions):
    """File type and how many negatives a row carries at most."""

    file_format: Literal["jsonl", "parquet"] = "jsonl"
    max_negatives: int | None = Field(None, ge=0, description="keep at most this many negatives per row")


def triplet_rows(data: ExportData, part, max_negatives: int | None = None) -> list[dict[str, Any]]:
    """One row per (query, positive) with every kept negative of that query; queries without a positive drop out."""
    queries: dict[str, dict[str, Any]] = {}
    for row in part.itertuples():
        q = queries.setdefault(row.meta["query_id"], {"query": row.meta["query"], "pos": [], "neg": []})
        if row.label == POSITIVE:
            q["pos"].append(row.text)
        elif row.label == NEGATIVE:
            q["neg"].append((row.text, row.weight))
    weighted = data.weighted  # a scan of the whole frame: once, not per query
    rows = []
    for qid, q in queries.items():
        negs = q["neg"][:max_negatives] if max_negatives is not None else q["neg"]
        for pos in q["pos"]:
            rec: dict[str, Any] = {"query_id": qid, "anchor": q["query"], "positive": pos}
            for i, (text, _) in enumerate(negs, start=1):
                rec[f"negative_{i}"] = text
            if weighted:
                for i, (_, w) in enumerate(negs, start=1):
                    rec[f"negative_{i}_weight"] = float(w)
            rows.append(rec)
    return rows


@register
class TripletsExporter(Exporter):
    name = "triplets"
    description = ("sentence-transformers (anchor, positive, negative_1..n) rows, <split>.jsonl or .parquet; "
                   "the weighted variant adds negative_i_weight")
    tasks = ("retrieval",)
    Options = TripletOptions

    def ingest_args(self, data: ExportData, options: TripletOptions) -> tuple[str, str, dict[str, Any]]:
        splits = data.splits()
        split = splits[0][0] if splits else "train"
        return ("triplets", f"{split}.{options.file_format}", {"query_id_field": "query_id"})

    def write(self, data: ExportData, out: Path, options: TripletOptions) -> list[Path]:
        write = write_jsonl if options.file_format == "jsonl" else write_parquet
        return write_splits(data, out, "{split}." + options.file_format,
                            lambda path, part: write(path, triplet_rows(data, part, options.max_negatives)))
