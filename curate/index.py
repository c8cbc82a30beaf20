"""k-nearest neighbours over L2-normalised vectors with faiss: exact inner product, or HNSW/IVF when large."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from curate.shards import exact_knn

log = logging.getLogger(__name__)

Method = Literal["auto", "exact", "hnsw", "ivf"]
# 'auto' searches exactly while queries x base x (dim + SELECT_COST) stays under this budget (about 20 s on
# 2 cores), and with IVF above it; approximate results report their measured recall when asked. Keeping the
# best k of every pair costs about as much as SELECT_COST multiply-adds, which dominates in low dimensions
# (probability spaces): 100k x 100k at 11-d took 16 s exactly and 5 s by IVF at recall 0.9999.
EXACT_BUDGET = 4e11
SELECT_COST = 64


@dataclass
class Neighbours:
    """kNN result: for query row i, indices[i] (into the base set) and their similarities, best first.
    Missing neighbours (k larger than the base) have index -1 and similarity -inf."""

    indices: np.ndarray
    scores: np.ndarray
    method: str
    recall: float | None = None


def choose_method(n: int, n_queries: int, dim: int) -> str:
    """'auto' made concrete: exact within the cost budget (or for small bases), IVF beyond it."""
    return "exact" if n * n_queries * (dim + SELECT_COST) <= EXACT_BUDGET or n < 2_000 else "ivf"


def _faiss():
    import faiss

    faiss.omp_set_num_threads(int(os.environ.get("CURATE_THREADS", os.cpu_count() or 1)))
    return faiss


@dataclass
class Index:
    """A built faiss index and the method that made it."""

    index: object
    method: str
    quantizer: object | None = None  # an IVF index needs its quantizer kept alive

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """faiss search: (similarities, indices)."""
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def build_index(base: np.ndarray, method: Method = "auto", *, hnsw_m: int = 32, ef_search: int = 128,
                nlist: int | None = None, nprobe: int | None = None, n_queries: int | None = None) -> Index:
    """A faiss inner-product index over base (rows L2-normalised, float32)."""
    faiss = _faiss()
    base = np.ascontiguousarray(base, dtype=np.float32)
    n, dim = base.shape
    if method == "auto":
        method = choose_method(n, n_queries or n, dim)
    quantizer = None
    if method == "exact":
        index = faiss.IndexFlatIP(dim)
    elif method == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = ef_search
    elif method == "ivf":
        lists = nlist or max(1, int(np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(base)
        # Probing a tenth of the lists keeps recall@10 high on embedding data; the caller can trade it down.
        index.nprobe = min(nprobe or max(16, lists // 10), lists)
    else:
        raise ValueError(f"unknown kNN method '{method}'")
    index.add(base)
    return Index(index, method, quantizer)


def knn(
    base: np.ndarray,
    k: int,
    queries: np.ndarray | None = None,
    *,
    method: Method = "auto",
    exclude_self: bool | None = None,
    check_recall: int = 0,
    seed: int = 0,
    nprobe: int | None = None,
    runner=None,
) -> Neighbours:
    """The k most similar base rows for each query row (queries default to base itself, without self-matches).

    Exact search is curate.shards.exact_knn (one shard in process; a runner, such as the Ray engine's, searches
    the same shards elsewhere and always exactly). check_recall > 0 measures recall@k of an approximate index
    against exact search on that many sampled queries.
    """
    base = np.ascontiguousarray(base, dtype=np.float32)
    self_query = queries is None
    q = base if self_query else np.ascontiguousarray(queries, dtype=np.float32)
    if exclude_self is None:
        exclude_self = self_query
    if base.shape[0] == 0 or k <= 0:
        empty = np.full((q.shape[0], max(k, 0)), -1, dtype=np.int64)
        return Neighbours(empty, np.full(empty.shape, -np.inf, dtype=np.float32), "exact")
    if runner is not None:
        method = "exact"
    elif method == "auto":
        method = choose_method(base.shape[0], q.shape[0], base.shape[1])
    ask = min(k + (1 if exclude_self else 0), base.shape[0])
    if method == "exact":
        _faiss()  # its thread setting
        scores, idx = exact_knn(base, q, ask, runner=runner)
        index = Index(None, "exact")
    else:
        index = build_index(base, method, n_queries=q.shape[0], nprobe=nprobe)
        scores, idx = index.search(q, ask)
    if exclude_self:
        idx, scores = _drop_self(idx, scores, k)
    idx, scores = _pad(idx, scores, k)
    result = Neighbours(idx, scores, index.method)
    if check_recall and result.method != "exact":
        result.recall = _recall(base, q, idx, k, exclude_self, check_recall, seed)
        log.info("approximate kNN (%s) recall@%d = %.3f", result.method, k, result.recall)
    return result


def _drop_self(idx: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(idx.shape[0])[:, None]
    keep = idx != rows
    # Exact duplicates can push the row itself out of first place; drop it wherever it is, else the last.
    no_self = keep.all(axis=1)
    keep[no_self, -1] = False
    out_i = idx[keep].reshape(idx.shape[0], -1)[:, :k]
    out_s = scores[keep].reshape(idx.shape[0], -1)[:, :k]
    return out_i, out_s


def _pad(idx: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if idx.shape[1] >= k:
        return idx.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)
    pad = k - idx.shape[1]
    idx = np.hstack([idx, np.full((idx.shape[0], pad), -1)])
    scores = np.hstack([scores, np.full((scores.shape[0], pad), -np.inf)])
    return idx.astype(np.int64), scores.astype(np.float32)


def _recall(base, q, approx_idx, k, exclude_self, sample, seed) -> float:
    rng = np.random.default_rng(seed)
    rows = rng.choice(q.shape[0], size=min(sample, q.shape[0]), replace=False)
    _, full = build_index(base, "exact").search(q[rows], min(k + 1, base.shape[0]))
    hits = 0
    for approx, exact, row in zip(approx_idx[rows], full, rows):
        truth = [x for x in exact.tolist() if x >= 0 and not (exclude_self and x == row)][:k]
        hits += len(set(approx[approx >= 0].tolist()) & set(truth))
    return hits / (len(rows) * k)


def knn_within(matrix: np.ndarray, k: int, base_mask: np.ndarray, query_mask: np.ndarray | None = None,
               *, method: Method = "auto", runner=None) -> Neighbours:
    """kNN where neighbours come only from rows in base_mask (e.g. positives or a clean subset).

    Returned indices refer to rows of matrix; queries are rows in query_mask (default: all rows), and a query
    that is itself in the base never gets itself back.
    """
    base_rows = np.flatnonzero(base_mask)
    query_rows = np.arange(matrix.shape[0]) if query_mask is None else np.flatnonzero(query_mask)
    sub = knn(matrix[base_rows], k + 1, matrix[query_rows], method=method, exclude_self=False, runner=runner)
    mapped = np.where(sub.indices >= 0, base_rows[np.clip(sub.indices, 0, None)], -1)
    same = mapped == query_rows[:, None]
    same[~same.any(axis=1), -1] = True
    idx = mapped[~same].reshape(len(query_rows), k)
    scores = sub.scores[~same].reshape(len(query_rows), k)
    return Neighbours(idx, scores, sub.method)
