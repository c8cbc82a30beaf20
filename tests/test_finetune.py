"""The fine-tuning machinery on real sentences and the real model: the tuned pooling starts where the frozen
representation is, and training moves the model towards the labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate import finetune as F
from curate.encode import TorchEncoder, encode_marked
from curate.errors import CurateError
from curate.relation import marked_text
from tests.conftest import SAMPLE


def _relations(n: int) -> tuple[list, np.ndarray]:
    rows = json.loads((SAMPLE / "relation" / "train.json").read_text())[:n]
    metas = [{"token": r["token"], "subj_start": r["subj_start"], "subj_end": r["subj_end"], "obj_start": r["obj_start"],
              "obj_end": r["obj_end"], "subj_type": r["subj_type"], "obj_type": r["obj_type"]} for r in rows]
    marked = [(t, [s, o]) for t, s, o in map(marked_text, metas)]
    return marked, np.array([r["relation"] for r in rows])


def test_untrained_tuned_model_reproduces_the_frozen_pair_vectors(model):
    marked, _ = _relations(24)
    prep = F.prepare(model, marked, train_layers=2)
    assert prep.frozen == 4 and prep.parts == 3
    top = F._head_model(model, prep, 0, 2)
    top.eval()
    proba, vecs = F.predict(top, prep, np.arange(len(marked)), None)
    ref = encode_marked(TorchEncoder(model), marked)
    assert vecs.shape == ref.shape
    assert np.min(np.sum(vecs * ref, axis=1)) >= 0.9999  # same layers, same pooling, same normalisation
    np.testing.assert_allclose(proba, 0.5, atol=1e-6)  # the head starts at zero: no opinion yet


def test_training_fits_the_labels_it_is_given(model):
    marked, labels = _relations(1000)
    values, counts = np.unique(labels[labels != "no_relation"], return_counts=True)
    relation = values[counts.argmax()]
    keep = np.concatenate([np.flatnonzero(labels == relation)[:40], np.flatnonzero(labels == "no_relation")[:40]])
    marked = [marked[i] for i in keep]
    y = (labels[keep] == relation).astype(int)
    assert y.sum() >= 20
    prep = F.prepare(model, marked, train_layers=1)
    rows = np.arange(len(marked))
    tuned = F.train_fold(model, prep, rows, y, 2, None, F.TuneParams(epochs=4, lr=5e-4, batch_size=16), "test")
    proba, _ = F.predict(tuned, prep, rows, None)
    # Trained rows are fitted: both classes are recognised, far above the 50% of an untrained head.
    assert proba[y == 1, 1].mean() > 0.6 and proba[y == 0, 0].mean() > 0.6


def test_extra_features_reach_the_head(model):
    marked, _ = _relations(8)
    prep = F.prepare(model, marked, train_layers=1)
    top = F._head_model(model, prep, 3, 2)
    assert top.head.in_features == 3 * model.get_embedding_dimension() + 3


def test_layer_count_is_checked(model):
    marked, _ = _relations(2)
    with pytest.raises(CurateError, match="train_layers must be between 1 and 6"):
        F.prepare(model, marked, train_layers=7)
