"""The shared context's model input: relation vectors plus a one-hot of the entity-type pair."""

from __future__ import annotations

import json

import numpy as np

from curate.detect import Context
from curate.embed import embed_dataset
from curate.ingest import ingest
from tests.conftest import SAMPLE


def test_relation_model_sees_the_type_pair_one_hot(rel_ws):
    ctx = Context(rel_ws, "rel")
    base, full = ctx.matrix, ctx.model_matrix
    pairs = [(m.get("subj_type"), m.get("obj_type")) for (m,) in (
        (json.loads(r[0]),) for r in rel_ws.con.execute(
            "SELECT meta FROM current_examples WHERE dataset = 'rel' AND NOT removed ORDER BY split, ord").fetchall())]
    kinds = sorted({f"{a}|{b}" for a, b in pairs})
    assert full.shape == (base.shape[0], base.shape[1] + len(kinds))
    np.testing.assert_array_equal(full[:, : base.shape[1]], base)
    onehot = full[:, base.shape[1]:]
    assert np.all(onehot.sum(axis=1) == 1.0)  # exactly one pair per example
    first = kinds.index(f"{pairs[0][0]}|{pairs[0][1]}")
    assert onehot[0, first] == 1.0
    proba, classes = ctx.oof_proba(np.ones(len(ctx.ids), dtype=bool))
    assert proba.shape == (len(ctx.ids), len(classes))


def test_other_tasks_learn_from_the_vectors_alone(ws, tmp_path):
    src = tmp_path / "topics.jsonl"
    src.write_text("".join((SAMPLE / "classification" / "train.jsonl").read_text().splitlines(True)[:40]))
    ingest(ws, src, "jsonl", "topics")
    embed_dataset(ws, "topics")
    ctx = Context(ws, "topics")
    assert ctx.model_matrix is ctx.matrix
