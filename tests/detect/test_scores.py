"""The array maths behind the detectors, on literal arrays."""

from __future__ import annotations

import numpy as np

from curate.detect.scores import agreement, balanced_weights, gather_labels, neighbour_vote, rank_normalise


def test_neighbour_vote_weighted_and_excluding():
    labels = np.array([["a", "b", "b", None], ["a", "a", "c", "c"]], dtype=object)
    sims = np.array([[0.9, 0.5, 0.5, -np.inf], [0.1, 0.1, 0.4, 0.4]])
    winner, share = neighbour_vote(labels, sims)
    assert list(winner) == ["b", "c"]
    np.testing.assert_allclose(share, [1.0 / 1.9, 0.8 / 1.0])
    winner, share = neighbour_vote(labels, sims, exclude=np.array(["b", "c"], dtype=object))
    assert list(winner) == ["a", "a"]
    np.testing.assert_allclose(share, [0.9 / 1.9, 0.2 / 1.0])
    winner, share = neighbour_vote(labels, sims, weighted=False)
    np.testing.assert_allclose(share, [2 / 3, 0.5])


def test_class_weight_counters_the_base_rate():
    labels = np.array([["neg", "neg", "neg", "rel"]], dtype=object)
    sims = np.ones((1, 4))
    assert neighbour_vote(labels, sims)[0][0] == "neg"
    w = balanced_weights(np.array(["neg"] * 9 + ["rel"], dtype=object))
    assert w["rel"] == 9 * w["neg"]
    winner, share = neighbour_vote(labels, sims, class_weight=w)
    assert winner[0] == "rel" and share[0] > 0.5


def test_agreement_and_gather():
    idx = np.array([[1, 2, -1], [0, 0, 2]])
    labels = np.array(["x", "y", "x"], dtype=object)
    nl = gather_labels(labels, idx)
    assert nl.tolist() == [["y", "x", None], ["x", "x", "x"]]
    agree = agreement(nl, np.ones((2, 3)), np.array(["x", "y"], dtype=object))
    np.testing.assert_allclose(agree, [0.5, 0.0])


def test_rank_normalise_ties_and_range():
    r = rank_normalise(np.array([0.1, 0.5, 0.5, 0.9]))
    np.testing.assert_allclose(r, [0.0, 0.5, 0.5, 1.0])
    assert rank_normalise(np.array([3.0])).tolist() == [0.0]
