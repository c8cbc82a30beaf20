"""BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv (positives graded, kept negatives score 0)."""

from __future__ import annotations

from pathlib import Path

from curate.export.base import ExportData, ExportOptions, Exporter, json_line, register, write_splits
from curate.ingest.retrieval import POSITIVE


@register
class BeirExporter(Exporter):
    name = "beir"
    description = "BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (negatives judged 0; no weights)"
    tasks = ("retrieval",)
    reads_back = ("beir", ".", {})

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        files = [out / "corpus.jsonl", out / "queries.jsonl"]
        with open(files[0], "w", encoding="utf-8") as fh:
            for pid, (text, meta) in data.texts.get("passage", {}).items():
                title = meta.get("title") or ""
                body = text[len(title) + 1:] if title and text.startswith(title + " ") else text
                fh.write(json_line({"_id": pid, "title": title, "text": body}) + "\n")
        with open(files[1], "w", encoding="utf-8") as fh:
            for qid, (text, _) in data.texts.get("query", {}).items():
                fh.write(json_line({"_id": qid, "text": text}) + "\n")
        (out / "qrels").mkdir()

        def qrels(path: Path, part) -> None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("query-id\tcorpus-id\tscore\n")
                for row in part.itertuples():
                    grade = int(row.meta.get("grade") or 1) if row.label == POSITIVE else 0
                    fh.write(f"{row.meta['query_id']}\t{row.meta['passage_id']}\t{grade}\n")

        return files + write_splits(data, out, "qrels/{split}.tsv", qrels)
