"""sentence-transformers training rows, JSONL or Parquet, in the layouts its `mine_hard_negatives` writes
(`output_format`): n-tuple (anchor, positive, negative_1..n; the default, with query_id), triplet (anchor, positive,
negative), labeled-pair (anchor, positive, label; the document column is named positive as theirs is) and
labeled-list (anchor, positive: [documents], labels: [1, 0, ...]).

The weighted variant adds each negative's weight (negative_i_weight, negative_weight, weight, weights), for a
weighted loss; positives weigh 1. output_scores adds the query-document similarity of the dataset's embedding
model as theirs does (scores: [positive, negatives...] for n-tuple and triplet; score / scores in place of label /
labels), for MarginMSE or listwise losses; with teacher=MODEL or cross_encoder=FOLDER those scores come from a
second embedding model or a cross-encoder instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from curate.export.base import ExportData, ExportOptions, Exporter, register, write_jsonl, write_parquet, write_splits
from curate.ingest.retrieval import NEGATIVE, POSITIVE
from curate.store import Workspace


class TripletOptions(ExportOptions):
    """File type and how many negatives a row carries at most."""

    file_format: Literal["jsonl", "parquet"] = "jsonl"
    max_negatives: int | None = Field(None, ge=0, description="keep at most this many negatives per row")
    output_format: Literal["n-tuple", "triplet", "labeled-pair", "labeled-list"] = Field(
        "n-tuple", description="the row layout, as sentence-transformers' mine_hard_negatives names it (n-tuple "
        "keeps a query_id column, which curate reads back)")
    output_scores: bool = Field(False, description="add the query-document similarity of the dataset's embedding "
                                "model, in mine_hard_negatives' layout with output_scores=True (needs curate embed)")
    teacher: str | None = Field(None, description="output_scores from this embedding model's cosine instead "
                                "(a teacher's scores for MarginMSE; its vectors are cached)")
    cross_encoder: str | None = Field(None, description="output_scores from this CrossEncoder (local folder), as "
                                      "mine_hard_negatives(cross_encoder=..., output_scores=True) gives them")

    @model_validator(mode="after")
    def _one_scorer(self) -> TripletOptions:
        if self.teacher and self.cross_encoder:
            raise ValueError("give a teacher or a cross_encoder for the scores, not both")
        if (self.teacher or self.cross_encoder) and not self.output_scores:
            raise ValueError("teacher and cross_encoder score the rows: set output_scores=true too")
        return self


def triplet_rows(data: ExportData, part, max_negatives: int | None = None, output_format: str = "n-tuple",
                 output_scores: bool = False) -> list[dict[str, Any]]:
    """Rows of one split in the layout asked; n-tuple: one row per (query, positive) with every kept negative of
    that query. Queries without a positive drop out. With output_scores, data.similarity scores each document."""
    queries: dict[str, dict[str, Any]] = {}
    for row in part.itertuples():
        q = queries.setdefault(row.meta["query_id"], {"query": row.meta["query"], "pos": [], "neg": []})
        if row.label == POSITIVE:
            q["pos"].append((row.text, row.meta["passage_id"]))
        elif row.label == NEGATIVE:
            q["neg"].append((row.text, row.weight, row.meta["passage_id"]))
    weighted = data.weighted  # a scan of the whole frame: once, not per query
    rows: list[dict[str, Any]] = []
    for qid, q in queries.items():
        negs = q["neg"][:max_negatives] if max_negatives is not None else q["neg"]
        docs = [pid for _, pid in q["pos"]] + [pid for _, _, pid in negs]
        sims = [float(x) for x in data.similarity([qid] * len(docs), docs)] if output_scores and docs else []
        pos = [(text, sims[i] if sims else None) for i, (text, _) in enumerate(q["pos"])]
        scored = [(text, w, sims[len(pos) + i] if sims else None) for i, (text, w, _) in enumerate(negs)]
        if output_format != "n-tuple":
            rows += _layout(output_format, q["query"], pos, scored, weighted, output_scores)
            continue
        for text, score in pos:
            rec: dict[str, Any] = {"query_id": qid, "anchor": q["query"], "positive": text}
            for i, (neg, _, _) in enumerate(scored, start=1):
                rec[f"negative_{i}"] = neg
            if weighted:
                for i, (_, w, _) in enumerate(scored, start=1):
                    rec[f"negative_{i}_weight"] = float(w)
            if output_scores:
                rec["scores"] = [score] + [s for _, _, s in scored]
            rows.append(rec)
    return rows


def _layout(fmt: str, query: str, positives: list[tuple[str, float | None]],
            negs: list[tuple[str, float, float | None]], weighted: bool, scores: bool) -> list[dict[str, Any]]:
    """One query's rows in sentence-transformers' triplet, labeled-pair or labeled-list layout (its rules: a
    triplet row per (positive, negative); a pair row for every positive even without negatives; a list row per
    positive that has negatives; with scores, score(s) in place of label(s) and a scores column on triplets)."""
    if fmt == "triplet":
        return [{"anchor": query, "positive": pos, "negative": text, **({"scores": [ps, ns]} if scores else {}),
                 **({"negative_weight": float(w)} if weighted else {})} for pos, ps in positives for text, w, ns in negs]
    if fmt == "labeled-pair":
        docs = [(pos, 1, 1.0, ps) for pos, ps in positives] + [(text, 0, float(w), ns) for text, w, ns in negs]
        return [{"anchor": query, "positive": d, **({"score": sc} if scores else {"label": label}),
                 **({"weight": w} if weighted else {})} for d, label, w, sc in docs]
    if not negs:
        return []
    return [{"anchor": query, "positive": [pos] + [t for t, _, _ in negs],
             **({"scores": [ps] + [ns for _, _, ns in negs]} if scores else {"labels": [1] + [0] * len(negs)}),
             **({"weights": [1.0] + [float(w) for _, w, _ in negs]} if weighted else {})} for pos, ps in positives]


@register
class TripletsExporter(Exporter):
    name = "triplets"
    description = ("sentence-transformers rows, <split>.jsonl or .parquet: (anchor, positive, negative_1..n) or, "
                   "with output_format, triplet / labeled-pair / labeled-list as mine_hard_negatives writes them; "
                   "the weighted variant adds the negatives' weights")
    tasks = ("retrieval",)
    Options = TripletOptions

    def attach(self, ws: Workspace, data: ExportData, options: TripletOptions) -> dict[str, Any]:
        """With output_scores: the similarity of a query and a passage from the dataset's cached vectors."""
        if not options.output_scores:
            return {}
        from curate.embed import stored_key
        from curate.encode import REPR_TEXT, resolve_model
        from curate.retrieval.pairs import TextVectors

        name = data.info.name
        if options.cross_encoder:  # a cross-encoder reads each exported (query, document) pair
            from curate.retrieval.pairs import texts_by_id
            from curate.retrieval.rescore import cross_encoder_scores

            qt, pt = texts_by_id(ws, name, "query"), texts_by_id(ws, name, "passage")

            def rescored(qids: list[str], pids: list[str]) -> np.ndarray:
                return cross_encoder_scores(options.cross_encoder, [(qt[q], pt[p]) for q, p in zip(qids, pids)],
                                            quiet=True)

            data.similarity = rescored
            return {"scores": f"cross-encoder {options.cross_encoder}"}
        if options.teacher:  # the teacher's vectors of every query and passage, once (cached in the store)
            from curate.embed import vectors_for_texts
            from curate.retrieval.pairs import texts_by_id

            queries, passages = (TextVectors.from_arrays(list(t), vectors_for_texts(ws, list(t.values()),
                                                                                    model=options.teacher))
                                 for t in (texts_by_id(ws, name, "query"), texts_by_id(ws, name, "passage")))
        else:
            queries, passages = TextVectors(ws, name, "query"), TextVectors(ws, name, "passage")

        def similarity(qids: list[str], pids: list[str]) -> np.ndarray:
            return np.einsum("nd,nd->n", queries.of(qids), passages.of(pids))

        data.similarity = similarity
        if options.teacher:
            return {"scores": f"cosine similarity, teacher {options.teacher}"}
        return {"scores": f"cosine similarity, {stored_key(ws, name, resolve_model(None), REPR_TEXT)}"}

    def ingest_args(self, data: ExportData, options: TripletOptions) -> tuple[str, str, dict[str, Any]]:
        splits = data.splits()
        split = splits[0][0] if splits else "train"
        return ("triplets", f"{split}.{options.file_format}", {"query_id_field": "query_id"})

    def write(self, data: ExportData, out: Path, options: TripletOptions) -> list[Path]:
        write = write_jsonl if options.file_format == "jsonl" else write_parquet
        return write_splits(data, out, "{split}." + options.file_format,
                            lambda path, part: write(path, triplet_rows(data, part, options.max_negatives,
                                                                        options.output_format, options.output_scores)))
