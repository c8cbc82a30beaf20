"""Array-in, array-out scoring functions shared by the detectors (testable with literal arrays)."""

from __future__ import annotations

import numpy as np


def neighbour_vote(
    neighbour_labels: np.ndarray, sims: np.ndarray, *, weighted: bool = True, exclude: np.ndarray | None = None,
    class_weight: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the winning label among neighbours and its (similarity-weighted) share of the vote.

    neighbour_labels: (n, k) object array, None where a neighbour is missing; sims: (n, k).
    exclude: optional (n,) labels that may not win for that row (e.g. the row's own or the negative label).
    class_weight: optional multiplier per label (see balanced_weights) so a frequent class does not win by its
    base rate alone.
    Returns (winner, share) with winner None and share 0 where nothing may win.
    """
    n, k = neighbour_labels.shape
    winners = np.full(n, None, dtype=object)
    shares = np.zeros(n, dtype=np.float64)
    valid = neighbour_labels != None  # noqa: E711 - elementwise on an object array
    if n == 0 or not valid.any():
        return winners, shares
    # Labels become column codes sorted by their text, so the last of equal maxima is the largest label
    # (the same tie-break as sorting votes by (weight, label)).
    uniq = sorted(set(neighbour_labels[valid].tolist()), key=str)
    code = {u: i for i, u in enumerate(uniq)}
    codes = np.full((n, k), -1, dtype=np.int64)
    codes[valid] = [code[v] for v in neighbour_labels[valid].tolist()]
    weights = np.clip(np.nan_to_num(sims, neginf=0.0), 0.0, None) if weighted else np.ones((n, k))
    weights = np.where(valid, weights, 0.0)
    if class_weight is not None:
        per_code = np.array([class_weight.get(u, 1.0) for u in uniq])
        weights = weights * per_code[np.clip(codes, 0, None)]
    total = weights.sum(axis=1)
    tally = np.zeros((n, len(uniq)))
    present = np.zeros((n, len(uniq)), dtype=bool)
    r, c = np.nonzero(valid)
    np.add.at(tally, (r, codes[r, c]), weights[r, c])
    present[r, codes[r, c]] = True
    if exclude is not None:
        ex = np.array([code.get(e, -1) if e is not None else -1 for e in exclude.tolist()], dtype=np.int64)
        has = ex >= 0
        present[np.flatnonzero(has), ex[has]] = False
    masked = np.where(present, tally, -np.inf)
    best = len(uniq) - 1 - np.argmax(masked[:, ::-1], axis=1)
    ok = present.any(axis=1) & (total > 0)
    labels_arr = np.empty(len(uniq), dtype=object)
    labels_arr[:] = uniq
    winners[ok] = labels_arr[best[ok]]
    shares[ok] = tally[ok, best[ok]] / total[ok]
    return winners, shares


def agreement(neighbour_labels: np.ndarray, sims: np.ndarray, labels: np.ndarray, *, weighted: bool = True,
              class_weight: dict | None = None) -> np.ndarray:
    """Per row, the (weighted) share of neighbours carrying the row's own label."""
    weights = np.clip(np.nan_to_num(sims, neginf=0.0), 0.0, None) if weighted else np.ones_like(sims, dtype=float)
    if class_weight is not None:
        weights = weights * np.vectorize(lambda lab: class_weight.get(lab, 1.0) if lab is not None else 0.0,
                                         otypes=[float])(neighbour_labels)
    valid = neighbour_labels != None  # noqa: E711 - elementwise on an object array
    same = (neighbour_labels == labels[:, None]) & valid
    total = (weights * valid).sum(axis=1)
    return np.divide((weights * same).sum(axis=1), total, out=np.zeros(len(labels)), where=total > 0)


def gather_labels(labels: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Labels of neighbour indices, None where an index is -1."""
    out = np.empty(indices.shape, dtype=object)
    ok = indices >= 0
    out[ok] = labels[indices[ok]]
    return out


def rank_normalise(scores: np.ndarray) -> np.ndarray:
    """Scores mapped to their average rank in [0, 1] (ties share a rank), for combining detectors."""
    scores = np.asarray(scores, dtype=float)
    if len(scores) <= 1:
        return np.zeros(len(scores))
    # Average ranks of ties, as scipy's rankdata(method="average"), without importing scipy.stats (~3 s).
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average = ends - (counts - 1) / 2.0  # 1-based rank in the middle of each tie block
    return (average[inverse] - 1) / (len(scores) - 1)


def balanced_weights(labels: np.ndarray) -> dict:
    """Inverse-frequency weight per label (mean 1 over the examples), so votes reflect evidence, not base rates."""
    values, counts = np.unique(np.asarray([str(x) for x in labels]), return_counts=True)
    k = len(values)
    return {v: len(labels) / (k * c) for v, c in zip(values, counts)}
