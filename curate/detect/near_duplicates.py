"""Exact and near duplicates: conflicting labels between copies, and leakage of copies across splits."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context
from curate.index import Neighbours, knn_within

EVAL_SPLITS = {"test", "dev", "validation", "valid", "val"}
REDUCE_ABOVE = 20_000  # rows; above it candidates come from a PCA-reduced space and are re-scored exactly


class Params(DetectorParams):
    """near-duplicates parameters."""

    split: str | None = Field(None, description="split to look in (None: all, which is what leakage needs)")
    threshold: float = Field(0.97, ge=0, le=1, description="cosine similarity from which two examples are copies")
    k: int = Field(5, ge=1, description="neighbours checked per example")


@register
class NearDuplicates(Detector):
    name = "near-duplicates"
    description = "exact/near-duplicate examples: copies with conflicting labels and copies leaking across splits"
    Params = Params
    # Not retrieval: one passage legitimately appears in pairs of many queries with different labels.
    tasks = ("classification", "relation", "span")
    needs = ("embeddings", "knn")
    default_order = 90

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict]:
        """Always: copies and leaks are worth a look whatever else runs."""
        return [{}]

    @classmethod
    def left_out(cls, params: dict) -> str | None:
        """Never a default ensemble member."""
        return "it ranks copies, not label errors"

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        scope = ctx.split_mask(params.split)
        rows = np.flatnonzero(scope)
        hashes = dict(ctx.ws.con.execute(
            "SELECT id, text_hash FROM current_examples WHERE dataset = ? AND NOT removed", [ctx.dataset]).fetchall())
        groups: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            groups[hashes[ctx.ids[r]]].append(r)
        nb = candidate_neighbours(ctx.matrix, scope, params.k, params.threshold, runner=ctx.runner)
        score = np.zeros(len(rows))
        suggested: list[str | None] = [None] * len(rows)
        flagged = np.zeros(len(rows), dtype=bool)
        reasons, evidence = [], []
        # Most rows have no copy at all: only rows with an exact twin or a close enough neighbour are examined.
        close = (nb.scores >= params.threshold).any(axis=1)
        twin = np.array([len(groups[hashes[ctx.ids[r]]]) > 1 for r in rows], dtype=bool)
        examine = close | twin
        for j, r in enumerate(rows):
            if not examine[j]:
                reasons.append("no copy found")
                evidence.append(None)
                continue
            partners = {p: 1.0 for p in groups[hashes[ctx.ids[r]]] if p != r}
            for p, s in zip(nb.indices[j], nb.scores[j]):
                if p >= 0 and s >= params.threshold:
                    partners[p] = max(partners.get(p, 0.0), float(s))
            conflict = {p: s for p, s in partners.items() if ctx.labels[p] != ctx.labels[r]}
            leak = {p: s for p, s in partners.items() if ctx.splits[p] != ctx.splits[r]
                    and {ctx.splits[p], ctx.splits[r]} & EVAL_SPLITS}
            parts = []
            if conflict:
                score[j] = max(conflict.values())
                suggested[j] = Counter(ctx.labels[p] for p in conflict).most_common(1)[0][0]
                parts.append(f"copy labelled {suggested[j]}")
            if leak:
                score[j] = max(score[j], max(leak.values()))
                other = sorted({ctx.splits[p] for p in leak})
                parts.append(f"copy in {', '.join(other)} split")
            if partners and not parts:
                score[j] = 0.5 * max(partners.values())
                parts.append("duplicate with the same label")
            flagged[j] = bool(conflict or leak)
            reasons.append("; ".join(parts) if parts else "no copy found")
            evidence.append({"copies": [{"id": ctx.ids[p], "label": ctx.labels[p], "split": ctx.splits[p],
                                         "similarity": round(s, 4)} for p, s in sorted(partners.items(),
                                                                                       key=lambda kv: -kv[1])[:10]]}
                            if partners else None)
        return frame(ctx, rows, score, suggested, reasons, evidence, flagged)


def candidate_neighbours(matrix: np.ndarray, scope: np.ndarray, k: int, threshold: float = 0.0, dim: int = 64,
                         widen: int = 4, runner=None) -> Neighbours:
    """The k most similar rows within scope; on large data in one process only those that can reach threshold,
    found among widen*k candidates from an IVF search in a PCA-reduced space and re-scored with the full vectors
    (a runner, the Ray engine's, searches exactly instead)."""
    rows = np.flatnonzero(scope)
    if runner is not None or len(rows) <= REDUCE_ABOVE or matrix.shape[1] <= dim:
        return knn_within(matrix, k, scope, scope, runner=runner)  # one row of neighbours per scoped row
    import faiss

    # All rows (the usual case) need no copy of the vectors; a subset does.
    sub = matrix if len(rows) == len(matrix) else np.ascontiguousarray(matrix[rows], dtype=np.float32)
    rng = np.random.default_rng(0)
    sample = sub[rng.choice(len(sub), size=min(len(sub), 5_000), replace=False)]
    mean = sample.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov(sample, rowvar=False))
    proj = np.ascontiguousarray(vecs[:, ::-1][:, :dim], dtype=np.float32)
    reduced = np.ascontiguousarray(sub @ proj - mean @ proj)  # centred after projecting: no full-size temporary
    # An orthonormal projection never lengthens a difference, so two unit vectors with cosine >= threshold lie
    # within sqrt(2 - 2 * threshold) in the reduced space too: candidates farther apart are dropped unscored.
    reach = 2.0 - 2.0 * threshold + 1e-4
    lists = max(1, int(np.sqrt(len(rows))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, lists, faiss.METRIC_L2)
    index.train(reduced)
    index.add(reduced)
    index.nprobe = 4  # near copies share a cell almost surely; this skips most of the n^2 distances
    dist, cand = index.search(reduced, widen * k + 1)
    cand[(dist > reach) | (cand == np.arange(len(rows))[:, None])] = -1
    out_i = np.full((len(rows), k), -1, dtype=np.int64)
    out_s = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for j in np.flatnonzero((cand >= 0).any(axis=1)):
        c = cand[j][cand[j] >= 0]
        sims = sub[c] @ sub[j]
        order = np.argsort(-sims)[:k]
        out_i[j, : len(order)] = rows[c[order]]
        out_s[j, : len(order)] = sims[order]
    return Neighbours(out_i, out_s, "pca-ivf-candidates+exact")
