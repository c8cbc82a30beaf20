"""spaCy DocBin files (.spacy, what `spacy convert` writes and `spacy train` reads): each doc's sentences
(or the doc as one sentence) with its doc.ents as span examples."""

from __future__ import annotations

from pathlib import Path

from curate.ingest.base import Ingestor, Sink, Where, register
from curate.ingest.conll import SpanOptions, add_sentence
from curate.spans import BACKGROUND


@register
class SpacyIngestor(Ingestor):
    name = "spacy"
    split_suffixes = (".spacy",)
    description = "spaCy DocBin (.spacy) with entities in doc.ents (one example per entity span)"
    task = "span"
    default_negative_label = BACKGROUND
    Options = SpanOptions

    def read(self, path: Path, options: SpanOptions, sink: Sink) -> None:
        import spacy
        from spacy.tokens import DocBin

        try:
            docs = list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))
        except Exception as exc:  # msgpack / zlib / spaCy raise many kinds for a file that is not a DocBin
            raise Where(str(path)).error(f"not a readable spaCy DocBin: {exc}") from None
        if not docs:
            raise Where(str(path)).error("the DocBin holds no documents")
        split = sink.split_for(None)
        n = 0
        for d, doc in enumerate(docs, start=1):
            sents = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
            for sent in sents:
                tokens = [t.text for t in sent]
                if not tokens:
                    continue
                n += 1
                spans = [(e.start - sent.start, e.end - 1 - sent.start, e.label_) for e in doc.ents
                         if e.start >= sent.start and e.end <= sent.end]
                add_sentence(sink, f"{split}-{n:06d}", tokens, spans, Where(str(path), record=d), split=None,
                             candidates=options.candidates, meta={"ord": n, "doc": d})
