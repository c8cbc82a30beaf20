"""cleanlab on out-of-fold probabilities, and on the user's own pred_probs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.detect import run_detector
from curate.errors import CurateError
from tests.detect.conftest import flagged_quality


def test_out_of_fold(rel_ws, gold_path):
    run = run_detector(rel_ws, "rel", "confident-learning")
    m = flagged_quality(rel_ws, run.run_id, gold_path)
    assert m["auprc"] > 4 * m["random_auprc"]
    # Measured on this slice: AUPRC ~0.59 (random 0.03); cleanlab's flagged set is broad (precision ~0.12).
    assert m["auprc"] > 0.4
    assert m["flagged"] > 0 and m["flagged_precision"] > 3 * m["random_auprc"]


def test_given_pred_probs_follow_cleanlab(rel_ws, tmp_path):
    from cleanlab.rank import get_label_quality_scores

    rows = rel_ws.con.execute("SELECT id, label FROM examples WHERE split = 'train' ORDER BY ord").fetchall()
    labels = sorted({lab for _, lab in rows})
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(labels)), size=len(rows))
    p = tmp_path / "pred.jsonl"
    p.write_text("".join(json.dumps({"id": i, "label": labels[int(pr.argmax())],
                                     "probs": dict(zip(labels, pr.tolist()))}) + "\n" for (i, _), pr in zip(rows, probs)))
    run = run_detector(rel_ws, "rel", "confident-learning", {"predictions": str(p)})
    got = dict(rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?", [run.run_id]).fetchall())
    y = np.array([labels.index(lab) for _, lab in rows])
    expect = 1 - get_label_quality_scores(y, probs / probs.sum(1, keepdims=True))
    np.testing.assert_allclose([got[i] for i, _ in rows], expect, atol=1e-6)


def test_predictions_without_probs_are_refused(rel_ws, tmp_path):
    p = tmp_path / "pred.jsonl"
    p.write_text(json.dumps({"id": "train-00000", "label": "no_relation"}) + "\n")
    with pytest.raises(CurateError, match="needs probabilities"):
        run_detector(rel_ws, "rel", "confident-learning", {"predictions": str(p)})
