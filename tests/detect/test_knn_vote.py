"""kNN label disagreement: in probability space it ranks planted noise far above chance."""

from __future__ import annotations

from curate.detect import run_detector
from tests.detect.conftest import flagged_quality


def test_probability_space_beats_chance_and_suggests_true_labels(rel_ws, gold_path):
    m = flagged_quality(rel_ws, run_detector(rel_ws, "rel", "knn-vote").run_id, gold_path)
    assert m["auprc"] > 0.18 and m["relabel_accuracy"] > 0.8  # measured ~0.27 and ~0.96 on this slice


def test_embedding_space_balanced_vs_not(rel_ws, gold_path):
    balanced = flagged_quality(rel_ws, run_detector(rel_ws, "rel", "knn-vote", {"space": "embedding"}).run_id, gold_path)
    plain = flagged_quality(rel_ws, run_detector(
        rel_ws, "rel", "knn-vote", {"space": "embedding", "balanced": False}).run_id, gold_path)
    assert balanced["auprc"] > 2 * balanced["random_auprc"]
    # Unbalanced votes let no_relation's base rate flag true positives: the balanced vote ranks better.
    assert balanced["auprc"] >= plain["auprc"]
