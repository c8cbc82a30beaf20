"""sentence-transformers training rows, JSONL or Parquet, in the layouts its `mine_hard_negatives` writes
(`output_format`): n-tuple (anchor, positive, negative_1..n; the default, with query_id), triplet (anchor, positive,
negative), labeled-pair (anchor, positive, label; the document column is named positive as theirs is) and
labeled-list (anchor, positive: [documents], labels: [1, 0, ...]).

The weighted variant adds each negative's weight (negative_i_weight, negative_weight, weight, weights), for a
weighted loss; positives weigh 1.
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
    output_format: Literal["n-tuple", "triplet", "labeled-pair", "labeled-list"] = Field(
        "n-tuple", description="the row layout, as sentence-transformers' mine_hard_negatives names it (n-tuple "
        "keeps a query_id column, which curate reads back)")


def triplet_rows(data: ExportData, part, max_negatives: int | None = None,
                 output_format: str = "n-tuple") -> list[dict[str, Any]]:
    """Rows of one split in the layout asked; n-tuple: one row per (query, positive) with every kept negative of
    that query. Queries without a positive drop out."""
    queries: dict[str, dict[str, Any]] = {}
    for row in part.itertuples():
        q = queries.setdefault(row.meta["query_id"], {"query": row.meta["query"], "pos": [], "neg": []})
        if row.label == POSITIVE:
            q["pos"].append(row.text)
        elif row.label == NEGATIVE:
            q["neg"].append((row.text, row.weight))
    weighted = data.weighted  # a scan of the whole frame: once, not per query
    rows: list[dict[str, Any]] = []
    for qid, q in queries.items():
        negs = q["neg"][:max_negatives] if max_negatives is not None else q["neg"]
        if output_format != "n-tuple":
            rows += _layout(output_format, q["query"], q["pos"], negs, weighted)
            continue
        for pos in q["pos"]:
            rec: dict[str, Any] = {"query_id": qid, "anchor": q["query"], "positive": pos}
            for i, (text, _) in enumerate(negs, start=1):
                rec[f"negative_{i}"] = text
            if weighted:
                for i, (_, w) in enumerate(negs, start=1):
                    rec[f"negative_{i}_weight"] = float(w)
            rows.append(rec)
    return rows


def _layout(fmt: str, query: str, positives: list[str], negs: list[tuple[str, float]],
            weighted: bool) -> list[dict[str, Any]]:
    """One query's rows in sentence-transformers' triplet, labeled-pair or labeled-list layout (its rules: a
    triplet row per (positive, negative); a pair row for every positive even without negatives; a list row per
    positive that has negatives)."""
    if fmt == "triplet":
        return [{"anchor": query, "positive": pos, "negative": text,
                 **({"negative_weight": float(w)} if weighted else {})} for pos in positives for text, w in negs]
    if fmt == "labeled-pair":
        docs = [(pos, 1, 1.0) for pos in positives] + [(text, 0, float(w)) for text, w in negs]
        return [{"anchor": query, "positive": d, "label": label, **({"weight": w} if weighted else {})}
                for d, label, w in docs]
    if not negs:
        return []
    return [{"anchor": query, "positive": [pos] + [t for t, _ in negs], "labels": [1] + [0] * len(negs),
             **({"weights": [1.0] + [float(w) for _, w in negs]} if weighted else {})} for pos in positives]


@register
class TripletsExporter(Exporter):
    name = "triplets"
    description = ("sentence-transformers rows, <split>.jsonl or .parquet: (anchor, positive, negative_1..n) or, "
                   "with output_format, triplet / labeled-pair / labeled-list as mine_hard_negatives writes them; "
                   "the weighted variant adds the negatives' weights")
    tasks = ("retrieval",)
    Options = TripletOptions

    def ingest_args(self, data: ExportData, options: TripletOptions) -> tuple[str, str, dict[str, Any]]:
        splits = data.splits()
        split = splits[0][0] if splits else "train"
        return ("triplets", f"{split}.{options.file_format}", {"query_id_field": "query_id"})

    def write(self, data: ExportData, out: Path, options: TripletOptions) -> list[Path]:
        write = write_jsonl if options.file_format == "jsonl" else write_parquet
        return write_splits(data, out, "{split}." + options.file_format,
                            lambda path, part: write(path, triplet_rows(data, part, options.max_negatives,
                                                                        options.output_format)))
