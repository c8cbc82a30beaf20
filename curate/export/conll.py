"""CoNLL columns for span data: every sentence written back with tags rebuilt from the variant's labels.

A span relabelled to a type gets B-/I- tags of that type, one relabelled to O loses its tags (a candidate
relabelled to a type becomes an entity: a missed entity found). A removed span removes its whole sentence:
a sentence with a known-bad span left untagged would teach a missed entity. Other input columns (POS, chunk)
are written back in their places.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from curate.export.base import ExportData, ExportOptions, Exporter, register
from curate.spans import bio_tags


@register
class ConllExporter(Exporter):
    name = "conll"
    description = "CoNLL columns (token TAB tag, IOB2), one <split>.conll per split; a removed span drops its sentence"
    tasks = ("span",)
    reads_back = ("conll", ".", {})

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        spans: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        dropped: set[str] = set()
        for row in data.frame.itertuples():
            sent = row.meta["sentence"]
            if row.removed:
                dropped.add(sent)
            else:
                spans[sent].append((row.meta["span_start"], row.meta["span_end"], row.label))
        sentences = dict(data.texts.get("sentence", {}))
        if not sentences:  # spans read from records: each example's own sentence, in ingest order
            for n, row in enumerate(data.frame.itertuples()):
                sentences.setdefault(row.meta["sentence"], (row.text, {"token": row.meta["token"],
                                                                       "split": row.split, "ord": n}))
        by_split: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for sid, (_, meta) in sentences.items():
            if sid not in dropped:
                by_split[meta["split"]].append((int(meta.get("ord", 0)), sid))
        files = []
        for split in sorted(by_split):
            path = out / f"{split}.conll"
            with open(path, "w", encoding="utf-8") as fh:
                for _, sid in sorted(by_split[split]):
                    meta = sentences[sid][1]
                    tokens = meta["token"]
                    tags = bio_tags(len(tokens), spans.get(sid, []))
                    other = meta.get("columns") or [[] for _ in tokens]
                    fh.writelines("\t".join([tok, *cols, tag]) + "\n" for tok, cols, tag in zip(tokens, other, tags))
                    fh.write("\n")
            files.append(path)
        return files
