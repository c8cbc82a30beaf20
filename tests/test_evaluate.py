"""Evaluation maths on literal arrays, and the downstream check end to end."""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import InputError
from curate.evaluate import load_gold, ranking_metrics, tacred_f1


def test_ranking_metrics_literal():
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.0])
    is_error = np.array([True, False, True, False, False])
    suggested = np.array(["r1", None, "r9", None, None], dtype=object)
    true = np.array(["r1", None, "r2", None, None], dtype=object)
    flagged = np.array([True, True, False, False, False])
    kinds = np.array(["fn", None, "wrong", None, None], dtype=object)
    m = ranking_metrics(scores, is_error, suggested, true, flagged, kinds)
    assert m["errors"] == 2 and m["precision_at_k"] == 0.5
    assert m["auprc"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-4)
    assert m["random_auprc"] == 0.4
    assert m["relabel_accuracy"] == 1.0  # only the error inside the top-k (r1) counts
    assert (m["flagged"], m["flagged_precision"], m["flagged_recall"]) == (2, 0.5, 0.5)
    assert m["recall_at_k_by_kind"] == {"fn": 1.0, "wrong": 0.0}


def test_tacred_f1_ignores_negative_hits():
    gold = np.array(["no_relation", "r1", "r1", "r2", "no_relation"])
    pred = np.array(["no_relation", "r1", "no_relation", "r1", "r2"])
    f = tacred_f1(gold, pred, "no_relation")
    # 1 correct of 3 positive guesses; 1 found of 3 gold positives.
    assert f == {"precision": pytest.approx(1 / 3, abs=1e-4), "recall": pytest.approx(1 / 3, abs=1e-4),
                 "f1": pytest.approx(1 / 3, abs=1e-4)}


def test_gold_with_unknown_id(tmp_path):
    p = tmp_path / "gold.jsonl"
    p.write_text('{"id": "a", "true_label": "x"}\n{"id": "zz", "true_label": "x"}\n')
    with pytest.raises(InputError, match="gold.jsonl, line 2, field 'id': unknown example id 'zz'"):
        load_gold(p, {"a"})
