"""Exact inner-product kNN over a corpus cut into shards: each shard is searched on its own (faiss IndexFlatIP), its
row numbers made global, and the per-shard results merged by faiss's own merge_knn_results. In process the corpus
is one shard; on Ray each (corpus shard x query block) is a task (curate/engine/knn_job.py). One routine, so both
give the same neighbours (ties included) and scores within float rounding."""

from __future__ import annotations

import numpy as np

# faiss fills the places of missing neighbours (k larger than a shard) with this score and index -1.
MISSING_SCORE = np.float32(-np.inf)


def search_shard(base: np.ndarray, queries: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows of one shard for each query, as (scores [nq, k] float32, global row numbers [nq, k]
    int64, shard rows counted from offset); places beyond the shard's size hold -inf and -1."""
    import faiss

    nq = queries.shape[0]
    scores = np.full((nq, k), MISSING_SCORE, dtype=np.float32)
    rows = np.full((nq, k), -1, dtype=np.int64)
    if len(base) == 0 or nq == 0 or k == 0:
        return scores, rows
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    ask = min(k, len(base))
    d, i = index.search(np.ascontiguousarray(queries, dtype=np.float32), ask)
    scores[:, :ask] = d
    rows[:, :ask] = np.where(i >= 0, i + offset, -1)
    scores[rows < 0] = MISSING_SCORE
    return scores, rows


def merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One (scores, rows) result from the results of several shards for the same queries, best first."""
    if len(parts) == 1:
        return parts[0]
    import faiss

    d = np.ascontiguousarray(np.stack([p[0] for p in parts]), dtype=np.float32)
    i = np.ascontiguousarray(np.stack([p[1] for p in parts]), dtype=np.int64)
    return faiss.merge_knn_results(d, i, keep_max=True)


def exact_knn(base: np.ndarray, queries: np.ndarray, k: int, *, shard_rows: int | None = None,
              runner=None) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN of queries among base rows: (scores, rows). In process (runner None) the base is searched in
    shards of shard_rows (default: one shard); a runner (curate.engine.knn_job.RayRunner) runs the same cells
    as Ray tasks."""
    if runner is not None:
        return runner.search(base, queries, k)
    size = shard_rows or max(len(base), 1)
    parts = [search_shard(base[s : s + size], queries, k, s) for s in range(0, max(len(base), 1), size)]
    return merge(parts)
