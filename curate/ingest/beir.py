"""BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) plus an optional TREC run of mined candidates."""

from __future__ import annotations

from pathlib import Path

from curate.errors import InputError
from curate.ingest.base import IngestOptions, Ingestor, Sink, Where, iter_jsonl, iter_lines, read_text, register
from curate.ingest.retrieval import NEGATIVE, POSITIVE, add_pair, passage_text


class BeirOptions(IngestOptions):
    """BEIR options: a TREC run file of mined candidates and how many of them to keep per query."""

    run_file: str | None = None
    top_k: int | None = None
    min_positive_score: int = 1


@register
class BeirIngestor(Ingestor):
    name = "beir"
    description = "BEIR folder (corpus.jsonl, queries.jsonl, qrels/*.tsv); --run-file adds TREC-run candidates as negatives"
    task = "retrieval"
    default_negative_label = NEGATIVE
    Options = BeirOptions

    def read(self, path: Path, options: BeirOptions, sink: Sink) -> None:
        if not path.is_dir():
            raise InputError("expected a BEIR folder holding corpus.jsonl, queries.jsonl and qrels/", path=path)
        corpus = _load_jsonl_texts(path / "corpus.jsonl", sink, "passage")
        queries = _load_jsonl_texts(path / "queries.jsonl", sink, "query")
        qrels_dir = path / "qrels"
        files = sorted(qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
        if sink.default_split:
            files = [f for f in files if f.stem == sink.default_split]
        if not files:
            raise InputError(f"no qrels/{sink.default_split or '*'}.tsv", path=qrels_dir)
        query_split: dict[str, str] = {}
        for f in files:
            self._qrels(f, corpus, queries, options, sink, query_split)
        if options.run_file:
            self._run(Path(options.run_file), corpus, queries, options, sink, query_split)

    def _qrels(self, f: Path, corpus, queries, opts: BeirOptions, sink: Sink, query_split) -> None:
        lines = read_text(f).splitlines()
        for n, line in enumerate(lines, start=1):
            cells = line.split("\t")
            if n == 1 and cells[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue
            if not line.strip():
                continue
            where = Where(str(f), line=n)
            if len(cells) != 3:
                raise where.error(f"expected query-id<TAB>corpus-id<TAB>score, got {len(cells)} cell(s)")
            qid, pid, score = (c.strip() for c in cells)
            if qid not in queries:
                raise where.error(f"unknown query id '{qid}' (not in queries.jsonl)", "query-id")
            if pid not in corpus:
                raise where.error(f"unknown corpus id '{pid}' (not in corpus.jsonl)", "corpus-id")
            try:
                grade = int(float(score))
            except ValueError:
                raise where.error(f"score must be a number, got {score!r}", "score") from None
            label = POSITIVE if grade >= opts.min_positive_score else NEGATIVE
            query_split.setdefault(qid, f.stem)
            add_pair(sink, qid, queries[qid], pid, corpus[pid], label, where, split=f.stem,
                     extra={"source": "qrels", "grade": grade})

    def _run(self, f: Path, corpus, queries, opts: BeirOptions, sink: Sink, query_split) -> None:
        kept: dict[str, int] = {}
        for n, line in iter_lines(f):
            if not line.strip():
                continue
            where = Where(str(f), line=n)
            cells = line.split()
            if len(cells) != 6:
                raise where.error(f"expected 'qid Q0 docid rank score tag', got {len(cells)} field(s)")
            qid, _, pid, rank, score, _tag = cells
            if qid not in queries:
                raise where.error(f"unknown query id '{qid}'", "qid")
            if pid not in corpus:
                raise where.error(f"unknown corpus id '{pid}'", "docid")
            if qid not in query_split:
                continue  # a query outside the chosen qrels split has no positive to compare with
            try:
                extra = {"source": "run", "rank": int(rank), "score": float(score)}
            except ValueError:
                raise where.error(f"rank/score not numeric: {rank!r} {score!r}", "rank") from None
            if opts.top_k is not None and kept.get(qid, 0) >= opts.top_k:
                continue
            if add_pair(sink, qid, queries[qid], pid, corpus[pid], NEGATIVE, where, split=query_split[qid], extra=extra):
                kept[qid] = kept.get(qid, 0) + 1


def _load_jsonl_texts(f: Path, sink: Sink, kind: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for where, rec in iter_jsonl(f, f"{f.name} in the BEIR folder", require=("_id",)):
        body = rec.get("text")
        if not isinstance(body, str):
            raise where.error("missing or not a string", "text")
        title = rec.get("title") or ""
        text = passage_text(title, body)
        pid = str(rec["_id"])
        if pid in texts:
            raise where.error(f"duplicate id '{pid}'", "_id")
        texts[pid] = text
        sink.add_text(kind, pid, text, {"title": title} if title else None, where)
    if not texts:
        raise InputError("file is empty", path=f)
    return texts
