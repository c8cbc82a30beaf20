"""spaCy DocBin files: each doc's entities as span examples, untagged capitalised runs as O candidates."""

from __future__ import annotations

import pytest

from curate.errors import InputError
from curate.ingest import ingest


def test_spacy_docbin_entities_become_span_examples(ws, tmp_path):
    import spacy
    from spacy.tokens import DocBin, Span

    nlp = spacy.blank("en")
    doc = nlp("Tim Cook visited Berlin with Angela Merkel yesterday")
    doc.ents = [Span(doc, 0, 2, label="PERSON"), Span(doc, 3, 4, label="GPE")]
    p = tmp_path / "train.spacy"
    DocBin(docs=[doc]).to_disk(p)
    ingest(ws, p, "spacy", "sp")
    got = {r[0]: r[1] for r in ws.con.execute("SELECT id, label FROM examples WHERE dataset = 'sp'").fetchall()}
    assert got == {"train-000001:0-1": "PERSON", "train-000001:3-3": "GPE", "train-000001:5-6": "O"}
    bad = tmp_path / "bad.spacy"
    bad.write_bytes(b"not a docbin")
    with pytest.raises(InputError, match="not a readable spaCy DocBin"):
        ingest(ws, bad, "spacy", "bad")
