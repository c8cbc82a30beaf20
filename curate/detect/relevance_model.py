"""Confident learning for retrieval pairs: a relevance model learned from the dataset's own positive and negative
labels, out of fold and grouped by query, scored by cleanlab; a negative it calls relevant is suspect.

Similarity in the bi-encoder's space says what the encoder thinks relevant; this model learns what *these*
labels call relevant, from the standard pair features [q * p ; |q - p|] of the frozen vectors, so its errors
differ from the similarity rules of false-negatives (docs/detectors.md has what each gives alone and together)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context
from curate.errors import CurateError
from curate.progress import progress
from curate.retrieval.pairs import NEGATIVE, POSITIVE, TextVectors, load_pairs


class Params(DetectorParams):
    """relevance-model parameters."""

    folds: int = Field(5, ge=2, description="cross-validation folds; a query's pairs always share a fold, so no "
                       "pair is scored by a model that learned from its own query")
    c: float = Field(8.0, gt=0, description="inverse regularisation strength of the logistic regression (the pair "
                     "features are small, so weaker than the other models' 2; see docs/detectors.md)")
    max_fit: int = Field(20_000, ge=100, description="each fold's model learns from at most this many pairs "
                         "(a sample that keeps every positive up to the cap), bounding the cost on large data")
    positives: bool = Field(False, description="also score positive pairs (a positive the model finds irrelevant "
                            "may be mislabelled); default: negatives only, the false-negative question")


@register
class RelevanceModel(Detector):
    name = "relevance-model"
    description = "cleanlab on a query-grouped out-of-fold relevance model of the pairs' own labels (retrieval)"
    Params = Params
    needs = ("embeddings",)
    tasks = ("retrieval",)
    version = "2"  # runs record their out-of-fold fit (trust)
    default_order = 20

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict]:
        """Always, on retrieval data: a signal whose errors differ from false-negatives'."""
        return [{}]

    @classmethod
    def trust(cls, params: dict, counts: dict) -> float:
        """Half the square of the share of the encoder's own ranking errors on the given labels that the model fixes
        out of fold, (AUC of its p(relevant) - AUC of query-passage similarity) / (1 - AUC of similarity), both
        ranking the given positives above the given negatives. A model that learned nothing beyond the encoder's
        similarity (which false-negatives uses already) ranks negatives by noise and gets no weight; at most half,
        because it learned from the very labels it judges. Chosen on the sample triplets at 150 / 300 / 600
        queries (docs/detectors.md): the ensemble no worse than false-negatives on any of them."""
        return float(counts.get("trust", 1.0))

    @classmethod
    def negative_weights(cls, findings: pd.DataFrame, counts: dict) -> np.ndarray | None:
        """1 - p(relevant) with the class-balancing prior shift undone: the model was fitted as if half the pairs
        were relevant, so its odds are rescaled by the labels' own odds, pi = positives / negatives
        (p * pi / (p * pi + 1 - p)); docs/export.md."""
        if "prior_odds" not in counts:
            return None  # a run from before the prior was recorded
        p = np.array([e["relevant_prob"] if isinstance(e, dict) else 0.0 for e in findings["evidence"]])
        odds = float(counts["prior_odds"])
        return 1.0 - p * odds / np.maximum(p * odds + 1.0 - p, 1e-12)

    def scope(self, ctx: Context, params: Params) -> np.ndarray:
        """The split's negative pairs, and its positive ones too with positives=true."""
        labels = [NEGATIVE, POSITIVE] if params.positives else [NEGATIVE]
        return ctx.split_mask(params.split) & np.isin(ctx.labels, labels)

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        pairs = load_pairs(ctx.ws, ctx.dataset)
        scope = ctx.split_mask(params.split) & np.isin(ctx.labels, [NEGATIVE, POSITIVE])
        rows = np.flatnonzero(scope)
        qids, pids = pairs.query_passage([ctx.ids[r] for r in rows])
        y = (ctx.labels[rows] == POSITIVE).astype(int)
        if y.sum() == 0 or y.sum() == len(y):
            raise CurateError(f"relevance-model needs both positive and negative pairs in '{ctx.dataset}'"
                              f"{'' if params.split is None else f' split {params.split}'}; it has "
                              f"{int(y.sum())} positive of {len(y)}")
        features = _PairFeatures(TextVectors(ctx.ws, ctx.dataset, "query", ctx.model), qids,
                                 TextVectors(ctx.ws, ctx.dataset, "passage", ctx.model), pids)
        self.report = {"prior_odds": round(float(y.sum()) / max(1.0, float((1 - y).sum())), 6)}
        proba = np.zeros((len(rows), 2))
        proba[:, 1] = _oof_relevance(features, y, qids, params, ctx.seed)
        proba[:, 0] = 1.0 - proba[:, 1]

        quality = get_label_quality_scores(y, proba)
        issues = find_label_issues(y, proba)
        similarity = features.similarity()
        self.report.update(_fit_report(y, proba[:, 1], similarity))
        keep = np.ones(len(rows), dtype=bool) if params.positives else y == 0
        reasons, evidence, suggested = [], [], []
        for j in np.flatnonzero(keep):
            given, other = (POSITIVE, NEGATIVE) if y[j] else (NEGATIVE, POSITIVE)
            p_rel = float(proba[j, 1])
            reasons.append(f"p(relevant) = {p_rel:.2f} from a model of this dataset's labels (labelled {given}; "
                           f"similarity {similarity[j]:.2f})")
            evidence.append({"query_id": qids[j], "relevant_prob": round(p_rel, 4),
                             "similarity": round(float(similarity[j]), 4)})
            suggested.append(other if issues[j] else None)
        return frame(ctx, rows[keep], 1.0 - quality[keep], suggested, reasons, evidence, issues[keep])


def _fit_report(y: np.ndarray, p_relevant: np.ndarray, similarity: np.ndarray) -> dict:
    """How well the out-of-fold model and the plain similarity rank the given positives above the given negatives
    (ROC AUC), and the trust that earns the model in the ensemble (RelevanceModel.trust)."""
    from sklearn.metrics import roc_auc_score

    model, plain = float(roc_auc_score(y, p_relevant)), float(roc_auc_score(y, similarity))
    gain = min(max((model - plain) / (1.0 - plain), 0.0), 1.0) if plain < 1.0 else 0.0
    return {"oof_auc": round(model, 4), "similarity_auc": round(plain, 4), "trust": round(0.5 * gain**2, 4)}


class _PairFeatures:
    """[q * p ; |q - p|] of pairs, gathered from the unique query and passage vectors per batch of pairs, so no
    per-pair copy of the vectors is ever held whole."""

    BATCH = 8192

    def __init__(self, queries: TextVectors, qids: np.ndarray, passages: TextVectors, pids: np.ndarray) -> None:
        self.qm, self.qr = queries.matrix, queries.known_rows(qids)
        self.pm, self.pr = passages.matrix, passages.known_rows(pids)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        q, p = self.qm[self.qr[idx]], self.pm[self.pr[idx]]
        return np.hstack([q * p, np.abs(q - p)])

    def similarity(self) -> np.ndarray:
        """Query-passage cosine per pair (the vectors are normalised)."""
        out = np.empty(len(self.qr))
        for start in range(0, len(out), self.BATCH):
            part = slice(start, start + self.BATCH)
            out[part] = np.einsum("nd,nd->n", self.qm[self.qr[part]], self.pm[self.pr[part]])
        return out


def _oof_relevance(features: _PairFeatures, y: np.ndarray, groups: np.ndarray, params: Params,
                   seed: int) -> np.ndarray:
    """Out-of-fold P(relevant) per pair from a class-balanced logistic regression on the pair features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups.tolist()))
    n_folds = min(params.folds, n_groups, int(y.sum()), int((1 - y).sum()))
    if n_folds < 2:
        raise CurateError("relevance-model needs at least two queries with a positive and two negative pairs")
    rng = np.random.default_rng(seed)
    out = np.zeros(len(y))
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with progress("relevance model", total=n_folds, unit="fold") as bar:
        for train, test in splitter.split(np.zeros(len(y)), y, groups):
            train = _cap(train, y, params.max_fit, rng)
            clf = LogisticRegression(C=params.c, max_iter=500, class_weight="balanced")
            clf.fit(features(train), y[train])
            for start in range(0, len(test), features.BATCH):
                part = test[start : start + features.BATCH]
                out[part] = clf.predict_proba(features(part))[:, 1]
            bar.update(1)
    return out


def _cap(idx: np.ndarray, y: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """At most cap of idx: positives first (the rarer label), negatives sampled to fill the rest."""
    if len(idx) <= cap:
        return idx
    pos, neg = idx[y[idx] == 1], idx[y[idx] == 0]
    pos = pos if len(pos) <= cap // 2 else rng.choice(pos, size=cap // 2, replace=False)
    neg = rng.choice(neg, size=min(len(neg), cap - len(pos)), replace=False)
    return np.sort(np.concatenate([pos, neg]))
