"""sentence-transformers style retrieval data: (anchor, positive, negative | negative_1..n) in JSONL or Parquet."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field

from curate.errors import InputError
from curate.ingest.base import IngestOptions, Ingestor, Sink, Where, iter_jsonl, register
from curate.ingest.retrieval import NEGATIVE, POSITIVE, add_pair, content_id, passage_text

_NEG = re.compile(r"^(negative|neg)(_\d+)?$")


class TripletOptions(IngestOptions):
    """Column names; ids are derived from text content when no id columns exist."""

    anchor_field: str = "anchor"
    positive_field: str = "positive"
    query_id_field: str | None = None
    corpus: str | None = Field(None, description="a JSONL file of further passages ({text, title?} per line, as "
                               "BEIR's corpus.jsonl): candidates for curate mine that are in no pair, as "
                               "mine_hard_negatives' corpus=")


@register
class TripletsIngestor(Ingestor):
    name = "triplets"
    description = "sentence-transformers (anchor, positive, negative / negative_1..n) rows in .jsonl or .parquet"
    task = "retrieval"
    default_negative_label = NEGATIVE
    Options = TripletOptions

    def read(self, path: Path, options: TripletOptions, sink: Sink) -> None:
        counts = {"rows": 0, "repeated_pairs": 0, "positive_also_negative": 0}
        # Two passes so that a pair listed as positive anywhere stays positive when it is also mined as a negative.
        for negatives_pass in (False, True):
            for where, rec in _records(path):
                counts["rows"] += not negatives_pass
                self._row(rec, where, options, sink, counts, negatives_pass)
            if counts["rows"] == 0:
                raise InputError("file is empty", path=path)
        if options.corpus:
            counts["corpus_passages"] = _corpus(Path(options.corpus), sink)
        sink.counts.update({k: v for k, v in counts.items() if k != "rows"})

    def _row(self, rec, where: Where, opts: TripletOptions, sink: Sink, counts, negatives_pass: bool) -> None:
        if not isinstance(rec, dict):
            raise where.error(f"expected an object, got {type(rec).__name__}")
        anchor = rec.get(opts.anchor_field, rec.get("query"))
        if not isinstance(anchor, str) or not anchor.strip():
            raise where.error("missing or empty query text", opts.anchor_field)
        positive = rec.get(opts.positive_field, rec.get("pos"))
        if not isinstance(positive, str) or not positive.strip():
            raise where.error("missing or empty positive passage", opts.positive_field)
        negatives: list[tuple[str, str]] = []
        for key, value in rec.items():
            if _NEG.match(key):
                values = value if isinstance(value, list) else [value]
                for v in values:
                    if v is None and rec.get(f"{key}_weight") is None:
                        continue  # a padding cell: Parquet rows with fewer negatives than the widest one
                    if not isinstance(v, str) or not v.strip():
                        raise where.error("negative passage must be a non-empty string", key)
                    negatives.append((key, v))
        has_qid = opts.query_id_field and opts.query_id_field in rec
        qid = str(rec[opts.query_id_field]) if has_qid else content_id("q", anchor)
        pid = content_id("p", positive)
        if not negatives_pass:
            sink.add_text("query", qid, anchor, None, where)
            sink.add_text("passage", pid, positive, None, where)
            add_pair(sink, qid, anchor, pid, positive, POSITIVE, where)
            return
        for key, neg in negatives:
            nid = content_id("p", neg)
            sink.add_text("passage", nid, neg, None, where)
            if nid == pid:
                counts["positive_also_negative"] += 1
                continue
            if not add_pair(sink, qid, anchor, nid, neg, NEGATIVE, where, extra={"source": "triplet", "column": key}):
                counts["repeated_pairs"] += 1


def _corpus(path: Path, sink: Sink) -> int:
    """Add the corpus file's passages (ids from their text, as the pairs' passages get: one text, one passage);
    returns how many were new."""
    added = seen = 0
    for where, rec in iter_jsonl(path, "corpus file"):
        seen += 1
        body, title = rec.get("text"), rec.get("title") or ""
        if not isinstance(body, str) or not body.strip():
            raise where.error("missing, empty or not a string", "text")
        text = passage_text(title, body)
        added += sink.add_text("passage", content_id("p", text), text, None, where)
    if not seen:
        raise InputError("corpus file is empty", path=path)
    return added


def _records(path: Path):
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            for rec in batch.to_pylist():
                n += 1
                yield Where(str(path), record=n), rec
        return
    yield from iter_jsonl(path)
