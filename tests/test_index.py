"""kNN correctness against brute force, self-exclusion, subsets, and approximate recall."""

from __future__ import annotations

import numpy as np
import pytest

from curate.index import knn, knn_within


def unit(rng, n, d=16):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(base, queries, k, exclude_self):
    sims = queries @ base.T
    if exclude_self:
        np.fill_diagonal(sims, -np.inf)
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(sims, idx, axis=1)


def test_exact_matches_brute_force():
    rng = np.random.default_rng(0)
    base = unit(rng, 300)
    nb = knn(base, 7)
    idx, sims = brute(base, base, 7, exclude_self=True)
    np.testing.assert_allclose(nb.scores, sims, rtol=1e-5, atol=1e-5)
    assert (nb.indices == idx).mean() > 0.99  # ties aside, the same neighbours in the same order
    assert not (nb.indices == np.arange(300)[:, None]).any()


def test_separate_queries_and_k_larger_than_base():
    rng = np.random.default_rng(1)
    base, queries = unit(rng, 5), unit(rng, 3)
    nb = knn(base, 8, queries)
    assert nb.indices.shape == (3, 8)
    assert (nb.indices[:, 5:] == -1).all() and np.isneginf(nb.scores[:, 5:]).all()
    idx, _ = brute(base, queries, 5, exclude_self=False)
    assert (nb.indices[:, :5] == idx).all()


def test_duplicates_still_exclude_self():
    base = np.tile(np.eye(4, dtype=np.float32)[:1], (3, 1))  # three identical rows
    nb = knn(base, 2)
    for row in range(3):
        assert row not in nb.indices[row] and sorted(nb.indices[row]) == sorted({0, 1, 2} - {row})


def test_knn_within_subset_maps_back_to_rows():
    rng = np.random.default_rng(2)
    m = unit(rng, 200)
    mask = np.zeros(200, bool)
    mask[::3] = True
    nb = knn_within(m, 4, mask)
    assert mask[nb.indices].all()
    assert not (nb.indices == np.arange(200)[:, None]).any()
    sims = m @ m[mask].T
    rows = np.flatnonzero(mask)
    sims[np.arange(200)[mask], np.arange(mask.sum())] = -np.inf
    expect = rows[np.argsort(-sims, axis=1)[:, :4]]
    assert (nb.indices == expect).mean() > 0.99


@pytest.mark.parametrize("method", ["hnsw", "ivf"])
def test_approximate_reports_recall(method):
    rng = np.random.default_rng(3)
    base = unit(rng, 4000, 32)
    nb = knn(base, 10, method=method, check_recall=200)
    assert nb.method == method and nb.recall is not None
    assert nb.recall > 0.8
