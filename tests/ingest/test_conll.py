"""Span data from CoNLL columns: one example per entity, untagged candidates as O, the sentences kept for export;
bad input names the file, line and field and leaves the store as it was."""

from __future__ import annotations

import json

import pytest

from curate.errors import InputError
from curate.ingest import ingest
from curate.spans import marked_span_text
from tests.conftest import SAMPLE, snapshot

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
to TO B-VP O
boycott VB I-VP O
British JJ B-NP B-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
met VBD B-VP O
Tony NNP B-NP O
Blair NNP I-NP O
in IN B-PP O
Brussels NNP B-NP B-LOC
. . O O
"""


def test_conll_2003_columns_give_entities_candidates_and_sentences(ws, tmp_path):
    p = tmp_path / "train.conll"
    p.write_text(CONLL)
    res = ingest(ws, p, "conll", "ner")
    assert res.task == "span" and ws.dataset("ner").negative_label == "O"
    rows = {r[0]: (r[1], r[2], json.loads(r[3])) for r in ws.con.execute(
        "SELECT id, text, label, meta FROM examples WHERE dataset = 'ner' ORDER BY ord").fetchall()}
    labels = {i: lab for i, (_, lab, _) in rows.items()}
    assert labels == {"train-000001:0-0": "ORG", "train-000001:2-2": "MISC", "train-000001:6-6": "MISC",
                      "train-000002:0-1": "PER", "train-000002:3-4": "O", "train-000002:6-6": "LOC"}
    text, _, meta = rows["train-000002:3-4"]
    assert meta["candidate"] and " ".join(meta["token"][3:5]) == "Tony Blair"  # a missed entity to find
    assert text == "Peter Blackburn met Tony Blair in Brussels ."
    sentences = ws.con.execute("SELECT id, meta FROM texts WHERE dataset = 'ner' AND kind = 'sentence' "
                               "ORDER BY id").fetchall()
    assert [s[0] for s in sentences] == ["train-000001", "train-000002"]
    assert json.loads(sentences[0][1])["columns"][0] == ["NNP", "B-NP"]  # POS and chunk kept for export
    # Two examples of one sentence are different texts to embed: the span is part of what is hashed.
    hashes = dict(ws.con.execute("SELECT id, text_hash FROM examples WHERE dataset = 'ner'").fetchall())
    assert len(set(hashes.values())) == len(hashes)


def test_wnut17_sample_has_every_planted_error_as_an_example(ws):
    ingest(ws, SAMPLE / "wnut17_noisy" / "train.conll", "conll", "wnut", split="train")
    labels = dict(ws.con.execute("SELECT id, label FROM examples WHERE dataset = 'wnut'").fetchall())
    gold = [json.loads(line) for line in open(SAMPLE / "wnut17_noisy" / "gold.jsonl")]
    assert {g["kind"] for g in gold} == {"wrong_type", "missed_entity"}
    assert all(labels[g["id"]] == g["noisy_label"] for g in gold)
    assert ws.one("SELECT count(*) FROM texts WHERE dataset = 'wnut'")[0] == 1500


@pytest.mark.parametrize("body,line,field,message", [
    ("EU B-ORG\nrejects X-MISC\n", 2, "tag", "is not a BIO/IOB tag"),
    ("EU B-ORG\nrejects\n", 2, "tag", "expected a token and a tag"),
    ("\n\n", None, None, "file is empty"),
    ("-DOCSTART- -X- O\n\n", None, None, "no sentences found"),
])
def test_bad_conll_names_line_and_field_and_leaves_the_store(ws, tmp_path, body, line, field, message):
    p = tmp_path / "bad.conll"
    p.write_text(body)
    before = snapshot(ws)
    with pytest.raises(InputError, match=message) as err:
        ingest(ws, p, "conll", "bad")
    assert err.value.line == line and err.value.field == field and str(p) in str(err.value)
    assert snapshot(ws) == before


def test_marked_text_of_an_ingested_span(ws, tmp_path):
    p = tmp_path / "train.conll"
    p.write_text(CONLL)
    ingest(ws, p, "conll", "ner")
    meta = json.loads(ws.one("SELECT meta FROM examples WHERE id = 'train-000002:6-6'")[0])
    text, (lo, hi) = marked_span_text(meta)
    assert text[lo:hi] == "Brussels" and "[E] Brussels [/E]" in text
