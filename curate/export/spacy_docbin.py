"""spaCy DocBin for span data: one Doc per sentence with its exported entities in doc.ents, one
<split>.spacy per split (what `spacy train` reads); the same sentences and tags as the CoNLL export."""

from __future__ import annotations

from pathlib import Path

from curate.export.base import ExportData, ExportOptions, Exporter, register
from curate.export.conll import tagged_sentences


@register
class SpacyExporter(Exporter):
    name = "spacy"
    description = "spaCy DocBin (.spacy), one Doc per sentence with doc.ents, one <split>.spacy per split"
    tasks = ("span",)
    reads_back = ("spacy", ".", {})

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        import spacy
        from spacy.tokens import Doc, DocBin

        vocab = spacy.blank("en").vocab
        files = []
        for split, sentences in tagged_sentences(data):
            docs = DocBin(store_user_data=False)
            for _, tokens, _, tags in sentences:
                docs.add(Doc(vocab, words=list(tokens), ents=list(tags)))
            path = out / f"{split}.spacy"
            docs.to_disk(path)
            files.append(path)
        return files
