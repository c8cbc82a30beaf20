"""Span data through the detectors: [sentence ; span] vectors from one pass, IS on the O background, and
near-duplicates that call two examples copies only when the sentence and the span agree."""

from __future__ import annotations

import numpy as np

from curate.detect import run_detector
from curate.embed import embed_dataset, load_vectors
from curate.encode import TorchEncoder, encode_spans
from curate.ingest import ingest
from tests.conftest import SAMPLE


def test_span_vectors_tell_two_spans_of_one_sentence_apart(model):
    tokens = "Alex Turner of Arctic Monkeys played Sheffield last night".split()
    person = {"token": tokens, "span_start": 0, "span_end": 1}
    band = {"token": tokens, "span_start": 3, "span_end": 4}
    other_person = {"token": "Later Alex Turner thanked the crowd".split(), "span_start": 1, "span_end": 2}
    v = encode_spans(TorchEncoder(model), [person, band, other_person])
    assert v.shape == (3, 2 * 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    span = v[:, 384:] / np.linalg.norm(v[:, 384:], axis=1, keepdims=True)
    # The same name in another sentence is closer than another span of the same sentence.
    assert span[0] @ span[2] > span[0] @ span[1]


def test_near_duplicates_need_the_same_sentence_and_span(ws, tmp_path):
    rows = [("Alex Turner plays tonight .", ["B-person", "I-person", "O", "O", "O"]),
            ("Alex Turner plays tonight .", ["B-group", "I-group", "O", "O", "O"]),  # same span, other label
            ("Arctic Monkeys met Alex Turner .", ["B-group", "I-group", "O", "O", "O", "O"]),
            ("Arctic Monkeys met Alex Turner .", ["O", "O", "O", "B-person", "I-person", "O"])]  # other span
    p = tmp_path / "train.conll"
    p.write_text("".join("".join(f"{t}\t{g}\n" for t, g in zip(s.split(), tags)) + "\n" for s, tags in rows))
    ingest(ws, p, "conll", "ner", options={"candidates": False})
    embed_dataset(ws, "ner")
    run = run_detector(ws, "ner", "near-duplicates")
    flagged = {r[0] for r in ws.con.execute("SELECT example_id FROM findings WHERE run_id = ? AND flagged",
                                            [run.run_id]).fetchall()}
    assert flagged == {"train-000001:0-1", "train-000002:0-1"}


def test_wnut_slice_runs_through_is_knn_vote_and_confident_learning(ws, tmp_path):
    blocks = (SAMPLE / "wnut17_noisy" / "train.conll").read_text().split("\n\n")[:250]
    p = tmp_path / "train.conll"
    p.write_text("\n\n".join(blocks) + "\n\n")
    ingest(ws, p, "conll", "wnut")
    embed_dataset(ws, "wnut")
    assert load_vectors(ws, "wnut").matrix.shape[1] == 2 * 384
    n = ws.one("SELECT count(*) FROM examples WHERE dataset = 'wnut'")[0]
    negatives = ws.one("SELECT count(*) FROM examples WHERE dataset = 'wnut' AND label = 'O'")[0]
    for det, scored in (("tacred-is", negatives), ("knn-vote", n), ("confident-learning", n)):
        run = run_detector(ws, "wnut", det)
        assert run.counts["scored"] == scored
        assert 0 < run.counts["flagged"] <= max(50, 0.15 * n)
