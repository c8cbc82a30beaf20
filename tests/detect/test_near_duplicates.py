"""Copies with conflicting labels and copies leaking from train into test, with real embeddings."""

from __future__ import annotations

import json

from curate.detect import run_detector
from curate.embed import embed_dataset
from curate.ingest import ingest


def test_conflicts_and_leakage(ws, tmp_path, model):
    rows = {
        "train": [("a", "The striker scored twice in the derby.", "sports"),
                  ("b", "The striker scored twice in the derby.", "politics"),  # exact copy, other label
                  ("c", "Investors cut the dividend after a weak quarter.", "business"),
                  ("d", "Researchers sequenced the genome of the reef coral.", "science"),
                  ("e", "The senator vetoed the election law.", "politics")],
        "test": [("t1", "Researchers sequenced the genome of the reef coral.", "science"),  # leaked
                 ("t2", "The band released a new album on Monday.", "entertainment")],
    }
    for split, items in rows.items():
        p = tmp_path / f"{split}.jsonl"
        p.write_text("".join(json.dumps({"id": i, "text": t, "label": lab}) + "\n" for i, t, lab in items))
    ingest(ws, tmp_path, "jsonl", "d")
    embed_dataset(ws, "d")
    run = run_detector(ws, "d", "near-duplicates")
    found = {r[0]: r[1:] for r in ws.con.execute(
        "SELECT example_id, flagged, suggested_label, reason, score FROM findings WHERE run_id = ?",
        [run.run_id]).fetchall()}
    assert found["a"][0] and found["a"][1] == "politics" and "copy labelled politics" in found["a"][2]
    assert found["b"][0] and found["b"][1] == "sports"
    assert found["d"][0] and "copy in test split" in found["d"][2]
    assert found["t1"][0] and "copy in train split" in found["t1"][2]
    assert not found["c"][0] and found["c"][3] == 0.0
    assert not found["t2"][0]
    # Scoped to one split, each row is judged by its own neighbours (test rows sort before train rows).
    scoped = run_detector(ws, "d", "near-duplicates", {"split": "train"})
    got = {r[0]: r[1:] for r in ws.con.execute(
        "SELECT example_id, flagged, suggested_label FROM findings WHERE run_id = ?", [scoped.run_id]).fetchall()}
    assert set(got) == {"a", "b", "c", "d", "e"}
    assert got["a"] == (True, "politics") and got["b"] == (True, "sports")
    assert not got["c"][0] and not got["d"][0] and not got["e"][0]


def test_large_data_uses_reduced_candidates_and_keeps_near_copies(monkeypatch):
    import numpy as np

    from curate.detect import near_duplicates
    from curate.index import knn_within

    monkeypatch.setattr(near_duplicates, "REDUCE_ABOVE", 500)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 256)).astype(np.float32)
    x[1::30] = x[0::30] + 0.05 * rng.standard_normal(x[0::30].shape).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    scope = np.ones(len(x), dtype=bool)
    got = near_duplicates.candidate_neighbours(x, scope, 3, threshold=0.97)
    exact = knn_within(x, 3, scope)
    assert got.method == "pca-ivf-candidates+exact"
    planted = np.arange(0, 3000, 30)
    assert (got.indices[planted, 0] == planted + 1).all()
    assert (got.indices[planted + 1, 0] == planted).all()
    np.testing.assert_allclose(got.scores[planted, 0], exact.scores[planted, 0], atol=1e-5)
    # Pairs that cannot reach the threshold are never returned, so unrelated rows come back empty.
    lonely = np.setdiff1d(np.arange(3000), np.concatenate([planted, planted + 1]))
    assert (got.indices[lonely] == -1).all()
    assert (got.scores[got.indices >= 0] >= 0.97).all()
