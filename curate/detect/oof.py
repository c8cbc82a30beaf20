"""Out-of-fold class probabilities as functions over arrays: the folds (with the max_fit cap) and the linear
classifier fitted on each. Context caches what these return; the fine-tuned classifier (tuned.py) takes the same
folds."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from curate.errors import CurateError
from curate.progress import progress

Job = tuple[np.ndarray, np.ndarray]  # (training indices into the fitted rows, matrix rows to predict)


def fold_jobs(y: np.ndarray, rows: np.ndarray, folds: int, max_fit: int, seed: int,
              others: np.ndarray | None = None) -> list[Job]:
    """Stratified folds over the fitted rows (y their labels, rows their matrix rows): per fold the training indices
    (at most about max_fit, a stratified sample) and the held-out matrix rows; with others (matrix rows outside the
    fit), one more job fitted on all the rows (capped) predicts them. Fewer folds are used when the rarest labels are
    too small to spread, or when every fold's training part would exceed max_fit anyway (each fit still learns from
    max_fit examples and every row still gets an out-of-fold prediction)."""
    from sklearn.model_selection import StratifiedKFold

    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise CurateError("a model needs at least two labels among the examples it learns from")
    counts = {c: int((y == c).sum()) for c in classes}
    n_folds = max(2, min(folds, max(2, int(np.median(list(counts.values()))))))
    while n_folds > 2 and len(y) * (n_folds - 2) / (n_folds - 1) >= max_fit:
        n_folds -= 1
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    # Classes too rare to stratify still get a column (probability ~0 where unseen).
    strat_y = np.where(np.isin(y, [c for c, n in counts.items() if n < n_folds]), "__rare__", y)
    rng = np.random.default_rng(seed)
    # Training rows are drawn up front, in a fixed order, so results do not depend on thread scheduling.
    jobs = [(stratified_cap(train, y, max_fit, rng), rows[test])
            for train, test in splitter.split(np.zeros(len(y)), strat_y)]
    if others is not None and len(others):
        jobs.append((stratified_cap(np.arange(len(y)), y, max_fit, rng), others))
    return jobs


def fit_linear(matrix: np.ndarray, jobs: list[Job], rows: np.ndarray, y: np.ndarray, classes: list[str], c: float,
               balanced: bool) -> np.ndarray:
    """One logistic regression per job, fitted on matrix[rows[train]] with labels y[train]; returns the predicted
    probabilities of every matrix row (zeros for rows no job predicts), columns in the order of classes."""
    from sklearn.linear_model import LogisticRegression

    full = np.zeros((len(matrix), len(classes)))

    def fit(job: Job) -> None:
        train_idx, predict_rows = job
        clf = LogisticRegression(C=c, max_iter=300, tol=1e-3, class_weight="balanced" if balanced else None)
        clf.fit(matrix[rows[train_idx]], y[train_idx])
        cols = [classes.index(cl) for cl in clf.classes_]
        for start in range(0, len(predict_rows), 8192):  # chunks keep the float64 copies small
            part = predict_rows[start : start + 8192]
            full[np.ix_(part, cols)] = clf.predict_proba(matrix[part])

    # Two fits side by side use the cores better than one: lbfgs spends much of its time outside BLAS.
    # Each job writes its own rows of full, so the threads never touch the same cells.
    workers = min(2, len(jobs), os.cpu_count() or 1)
    # One BLAS thread per fit while fits run side by side: no oversubscription of the cores.
    with progress("out-of-fold model", total=len(jobs), unit="fit") as bar, \
            threadpool_limits(limits=1 if workers > 1 else None, user_api="blas"), \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(fit, jobs):
            bar.update(1)
    return full


def stratified_cap(idx: np.ndarray, y: np.ndarray, cap: int, rng: np.random.Generator, floor: int = 50) -> np.ndarray:
    """At most about cap of idx, sampled per label in proportion, never fewer than floor (or all) of a label."""
    if len(idx) <= cap:
        return idx
    keep = []
    for label in np.unique(y[idx]):
        members = idx[y[idx] == label]
        n = max(min(len(members), floor), round(len(members) * cap / len(idx)))
        keep.append(members if n >= len(members) else rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(keep))
