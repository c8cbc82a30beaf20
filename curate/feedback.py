"""Re-ranking from reviewers' decisions: after every LEARN_EVERY decisions, the next unreviewed findings are
re-ordered by a model of which examples reviewers confirm, when that model predicts held-out decisions better
than the detectors' own order.

Reviewed examples are the top of the queue, so a model fitted on them learns from a biased sample (issue 31:
logistic-regression weights fitted on the top 100 ranked the rest worse than no learning). Three choices keep
the learning from doing harm (benchmarks/README.md, feedback, measures them on every planted-noise set):
- the queue position (its log-odds) is a covariate of the model: selection depends on the position, so
  conditioning on it makes the selection ignorable, and the model learns corrections to it (the detectors' ranks
  and the given label), penalised towards none;
- it is used only when leave-one-batch-out log-loss beats the position alone by more than two standard errors,
  so until decisions say something with confidence the queue keeps the detectors' order;
- it re-orders only the next WINDOW unreviewed examples, where its fit is an interpolation (their positions are
  next to the reviewed ones); the rest of the queue keeps its order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.store import Workspace

LEARN_EVERY = 25  # decisions per batch: the queue re-ranks after each full batch
WINDOW = 100  # unreviewed examples re-ordered after each batch
PENALTY = 3.0  # L2 penalty on the corrections (log-odds units)
GUARD_SE = 2.0  # held-out improvement needed, in standard errors over the batches
MIN_LABEL_DECISIONS = 3  # a given label becomes a feature once this many of its examples were decided
NEXT = 50  # how far ahead the estimated precision looks
MAX_FOLDS = 8  # leave-one-out over at most this many groups of whole batches (cost stays flat as decisions grow)


@dataclass
class Learned:
    """What the decisions taught, and whether the order changed."""

    decisions: int  # decisions learned from (whole batches, earliest first)
    used: bool  # the window was re-ordered
    note: str  # one line for the page and the CLI
    score: np.ndarray | None = None  # per example: the order to use (higher first), None when unchanged
    next_precision: float | None = None  # estimated share of errors among the next NEXT unreviewed
    corrections: dict[str, float] = field(default_factory=dict)  # feature -> learned log-odds correction


def relearn(ranks: np.ndarray, base: np.ndarray, labels: np.ndarray | None, decided: np.ndarray,
            confirmed: np.ndarray, *, names: list[str] | None = None, every: int = LEARN_EVERY,
            window: int = WINDOW, penalty: float = PENALTY, guard: float = GUARD_SE) -> Learned:
    """Re-rank from decisions. ranks: members x examples rank-normalised scores (0 where unscored); base: the
    current order's scores (higher first); labels: the given labels; decided: indices of decided examples in the
    order they were decided; confirmed: per decided example, True for relabel/remove, False for keep. Whole
    batches are learned from; every decided example is out of the window."""
    from scipy.stats import rankdata

    n = len(decided) // every * every
    closed = np.zeros(len(base), dtype=bool)
    closed[np.asarray(decided, dtype=np.int64)] = True
    decided, y = np.asarray(decided[:n], dtype=np.int64), np.asarray(confirmed[:n], dtype=float)
    if n < 2 * every:
        return waiting(n, every)
    if len(set(y.tolist())) < 2:
        return Learned(n, False, f"not re-ranked: all {n} decisions agree, nothing to learn a difference from")
    cand = np.flatnonzero(~closed)
    win = cand[np.argsort(-np.asarray(base, dtype=float)[cand], kind="stable")[:window]]
    # Only the decided rows and the window are ever scored: features for them alone, not the whole queue.
    need = np.concatenate([decided, win])
    q = (rankdata(base) - 0.5) / len(base)
    z = np.log(q / (1 - q))[need]  # the position's log-odds: the covariate
    x, feats = _features(ranks, labels, need, n, names)
    zd, xd, zw, xw = z[:n], x[:n], z[n:], x[n:]
    theta = _fit(zd, xd, y, penalty)
    gain = []
    batches = n // every
    folds = (np.arange(n) // every) * min(batches, MAX_FOLDS) // batches  # at most MAX_FOLDS groups of whole batches
    for b in np.unique(folds):
        train, test = folds != b, folds == b
        if len(set(y[train].tolist())) < 2:
            gain.append(0.0)
            continue
        full = _fit(zd[train], xd[train], y[train], penalty)
        alone = _fit(zd[train], xd[train][:, :0], y[train], penalty)
        gain.append(_loss(alone, zd[test], xd[test][:, :0], y[test]) - _loss(full, zd[test], xd[test], y[test]))
    gain_arr = np.array(gain)
    margin = gain_arr.mean() - guard * gain_arr.std(ddof=1) / np.sqrt(len(gain_arr))
    corrections = {f: round(float(w), 3) for f, w in zip(feats, theta[2:]) if abs(w) >= 0.05}
    if margin <= 0:
        alone = _fit(zd, xd[:, :0], y, penalty)
        nxt = _mean_p(_eta(alone, zw, xw[:, :0])[:NEXT])
        return Learned(n, False, f"not re-ranked: your {n} decisions do not yet predict errors better than the "
                       "detectors' order", next_precision=nxt, corrections=corrections)
    learned = _eta(theta, zw, xw)
    order = np.argsort(-learned, kind="stable")
    score = np.asarray(base, dtype=float).copy()
    # The window's own scores, handed out again in the learned order: nothing outside the window moves.
    score[win[order]] = np.sort(score[win])[::-1]
    nxt = _mean_p(learned[order][:NEXT])
    top = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(corrections.items(), key=lambda kv: -abs(kv[1]))[:3])
    shown = f"; estimated precision of the next {NEXT}: {nxt:.2f}" if nxt is not None else ""
    return Learned(n, True, f"queue re-ranked from your {n} decisions{shown}" + (f" (learned: {top})" if top else ""),
                   score, nxt, corrections)


def waiting(decisions: int, every: int = LEARN_EVERY) -> Learned:
    """What too few decisions give: no re-ranking yet, and a note that does not go stale as decisions come in."""
    return Learned(decisions // every * every, False, f"learning from decisions starts at {2 * every} decisions")


def _features(ranks: np.ndarray, labels: np.ndarray | None, rows: np.ndarray, n_decided: int,
              names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """For the given rows (the decided ones first): the members' ranks, standardised over the decided rows (near
    the top of a queue they span a narrow range, and the penalty should weigh an effect, not a unit), and one
    column per given label decided often enough."""
    r = np.asarray(ranks, dtype=float)[:, rows].T
    sd = r[:n_decided].std(axis=0)
    r = (r - r[:n_decided].mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
    cols, feats = [r], list(names or [f"run {i}" for i in range(len(ranks))])
    if labels is not None:
        given = np.asarray(labels, dtype=object)[rows].astype(str)
        seen, counts = np.unique(given[:n_decided], return_counts=True)
        for value in seen[counts >= MIN_LABEL_DECISIONS]:
            cols.append((given == value)[:, None].astype(float))
            feats.append(f"label={value}")
    return np.hstack(cols), feats


def _fit(z: np.ndarray, x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """(a, b, w) of logit p = a + b z + x.w with b >= 0, L2-penalised on the corrections w only."""
    from scipy.optimize import minimize

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[0] + theta[1] * z + x @ theta[2:]
        g = 1.0 / (1.0 + np.exp(-eta)) - y
        value = np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * penalty * theta[2:] @ theta[2:]
        return value, np.concatenate([[g.sum(), g @ z], x.T @ g + penalty * theta[2:]])

    start = np.zeros(x.shape[1] + 2)
    start[1] = 1.0
    bounds = [(None, None), (0.0, None)] + [(None, None)] * x.shape[1]
    return minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x


def _eta(theta: np.ndarray, z: np.ndarray, x: np.ndarray) -> np.ndarray:
    return theta[0] + theta[1] * z + x @ theta[2:]


def _loss(theta: np.ndarray, z: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    eta = _eta(theta, z, x)
    return float(np.mean(np.logaddexp(0, eta) - y * eta))


def _mean_p(eta: np.ndarray) -> float | None:
    """Mean modelled probability of an error (None for no examples)."""
    return round(float(np.mean(1.0 / (1.0 + np.exp(-eta)))), 3) if len(eta) else None


Q_DECIDED = """
    SELECT example_id, arg_max(action, seq) AS action, min(seq) AS first FROM decisions WHERE dataset = ?
    GROUP BY example_id HAVING arg_max(action, seq) IN ('keep', 'relabel', 'remove', 'retag') ORDER BY first
"""
Q_RUN_SCORES = """
    SELECT f.run_id, f.example_id, f.score FROM findings f JOIN _learn_ids i ON i.id = f.example_id
    WHERE list_contains(?, f.run_id)
"""
Q_GIVEN = "SELECT e.id, e.label FROM examples e JOIN _learn_ids i ON i.id = e.id WHERE e.dataset = ?"


def decided_in(ws: Workspace, dataset: str, where: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions (where: example id -> position) of the decided examples, in the order they were first decided,
    and whether each was confirmed (relabelled or removed) rather than kept."""
    rows = [(where[e], a != "keep") for e, a, _ in ws.con.execute(Q_DECIDED, [dataset]).fetchall() if e in where]
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=bool)


def learn_from_decisions(ws: Workspace, dataset: str, ids: list[str], base: np.ndarray, runs: list[str],
                         ranks: np.ndarray | None = None) -> Learned:
    """relearn() on a workspace: the decisions on these examples, the runs' rank-normalised scores (read from
    the findings unless given) and the labels as ingested (what the detectors saw, not the corrected ones)."""
    from curate.detect.scores import rank_normalise

    where = {eid: i for i, eid in enumerate(ids)}
    decided, confirmed = decided_in(ws, dataset, where)
    if len(decided) < 2 * LEARN_EVERY:  # before any query for scores and labels
        return waiting(len(decided))
    ws.con.register("_learn_ids", pa.table({"id": pa.array(ids, pa.string())}))
    try:
        given = dict(ws.con.execute(Q_GIVEN, [dataset]).fetchall())
        if ranks is None:
            found = ws.con.execute(Q_RUN_SCORES, [runs]).df()
    finally:
        ws.con.unregister("_learn_ids")
    if ranks is None:
        ranks = np.zeros((len(runs), len(ids)))
        for r, run in enumerate(runs):
            part = found[found["run_id"] == run]
            raw = np.zeros(len(ids))
            raw[[where[e] for e in part["example_id"]]] = part["score"].to_numpy(dtype=float)
            ranks[r] = rank_normalise(raw)
    labels = np.array([str(given.get(i)) for i in ids], dtype=object)
    return relearn(ranks, base, labels, decided, confirmed, names=list(runs))


def position_scores(n: int) -> np.ndarray:
    """Scores that keep an order of n examples (the first highest)."""
    return np.arange(n, 0, -1, dtype=float)


def reorder(items: pd.DataFrame, learned: Learned) -> pd.DataFrame:
    """Queue items in the learned order (unchanged when the order was kept)."""
    if not learned.used or learned.score is None:
        return items
    return items.iloc[np.argsort(-learned.score, kind="stable")].reset_index(drop=True)
