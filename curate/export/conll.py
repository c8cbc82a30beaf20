"""CoNLL columns for span data: every sentence written back with tags rebuilt from the variant's labels.

A span relabelled to a type gets B-/I- tags of that type, one relabelled to O loses its tags (a candidate
relabelled to a type becomes an entity: a missed entity found). A removed span removes its whole sentence:
a sentence with a known-bad span left untagged would teach a missed entity. A sentence retagged as a whole
(token-issues findings) is written with its new tags; one removed as a whole is left out. Other input columns
(POS, chunk) are written back in their places.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from curate.export.base import ExportData, ExportOptions, Exporter, register
from curate.spans import bio_tags

Tagged = tuple[str, list[str], list[list[str]], list[str]]  # sentence id, tokens, other columns, IOB2 tags


def tagged_sentences(data: ExportData) -> Iterator[tuple[str, list[Tagged]]]:
    """Per split (sorted), the kept sentences in corpus order with their exported tags: what every span
    exporter writes."""
    spans: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    dropped: set[str] = {sid for sid, tags in data.sentence_tags.items() if tags is None}
    for row in data.frame.itertuples():
        sent = row.meta["sentence"]
        if sent in data.sentence_tags:  # retagged or removed as a whole: that decision says what it is
            continue
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
    for split in sorted(by_split):
        out = []
        for _, sid in sorted(by_split[split]):
            meta = sentences[sid][1]
            tokens = meta["token"]
            tags = data.sentence_tags.get(sid) or bio_tags(len(tokens), spans.get(sid, []))
            out.append((sid, tokens, meta.get("columns") or [[] for _ in tokens], tags))
        yield split, out


@register
class ConllExporter(Exporter):
    name = "conll"
    description = "CoNLL columns (token TAB tag, IOB2), one <split>.conll per split; a removed span drops its sentence"
    tasks = ("span",)
    reads_back = ("conll", ".", {})

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        files = []
        for split, sentences in tagged_sentences(data):
            path = out / f"{split}.conll"
            with open(path, "w", encoding="utf-8") as fh:
                for _, tokens, other, tags in sentences:
                    fh.writelines("\t".join([tok, *cols, tag]) + "\n" for tok, cols, tag in zip(tokens, other, tags))
                    fh.write("\n")
            files.append(path)
        return files
