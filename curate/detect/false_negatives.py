"""False negatives among (mined) hard negatives: negatives that score close to or above their query's positive,
or that say what the positive says."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context
from curate.detect.scores import rank_normalise
from curate.errors import CurateError
from curate.retrieval.pairs import NEGATIVE, POSITIVE, TextVectors, load_pairs, texts_by_id


class Params(DetectorParams):
    """false-negatives parameters."""

    relative_margin: float = Field(0.05, ge=0, description="flag negatives above positive - |positive| * margin "
                                   "(0.05: above 95% of the positive's score, TopK-PercPos style)")
    absolute_margin: float | None = Field(None, description="also flag negatives above positive - margin")
    positive_similarity: float = Field(0.8, ge=-1, le=1, description="also flag negatives this similar to a known "
                                       "positive passage (they say what it says)")
    reference: Literal["min", "max"] = Field("min", description="which positive's score the margins compare with "
                                             "when a query has several")
    score: Literal["combined", "margin", "positive_similarity"] = Field(
        "combined", description="ranking: margin to the positive, similarity to the positive, or both (weighted "
        "rank mean)")
    margin_weight: float = Field(0.25, ge=0, le=1, description="score=combined: weight of the margin rank (the "
                                 "similarity rank gets the rest); 0.25, as the sample triplets (best at 0.2-0.3) "
                                 "and a held-out NIST-judged set (similarity alone above an equal mix) both point")
    cross_encoder: str | None = Field(None, description="path of a sentence-transformers CrossEncoder that rescores "
                                      "(query, passage) pairs for the margin rules")
    batch_size: int = Field(64, ge=1, description="cross-encoder batch size")


@register
class FalseNegatives(Detector):
    name = "false-negatives"
    description = "negatives scoring near or above their query's positive, or restating it (retrieval)"
    Params = Params
    needs = ("embeddings",)
    tasks = ("retrieval",)
    default_order = 10

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict]:
        """Always, on retrieval data."""
        return [{}]

    def scope(self, ctx: Context, params: Params) -> np.ndarray:
        """The split's negative pairs."""
        return ctx.split_mask(params.split) & (ctx.labels == NEGATIVE)

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        pairs = load_pairs(ctx.ws, ctx.dataset)
        scope = self.scope(ctx, params)
        rows = np.flatnonzero(scope)
        qids, pids = pairs.query_passage([ctx.ids[r] for r in rows])
        has_pos = np.array([q in pairs.positives for q in qids], dtype=bool)
        queries = TextVectors(ctx.ws, ctx.dataset, "query", ctx.model)
        passages = TextVectors(ctx.ws, ctx.dataset, "passage", ctx.model)

        # One (negative, positive) line per positive of each negative's query.
        owner = np.repeat(np.arange(len(rows)), [len(pairs.positives.get(q, ())) for q in qids])
        pos_ids = np.asarray([p for q in qids for p in pairs.positives.get(q, ())], dtype=object)
        qv = queries.of(qids)
        nv = passages.of(pids)
        pv = passages.of(pos_ids) if len(owner) else np.zeros((0, nv.shape[1]), dtype=nv.dtype)
        neg_score = np.einsum("nd,nd->n", qv, nv)
        pos_score_line = np.einsum("nd,nd->n", qv[owner], pv)
        same_line = np.einsum("nd,nd->n", nv[owner], pv)
        if params.cross_encoder:
            neg_score, pos_score_line = _cross_scores(ctx, params, qids, pids, owner, pos_ids)

        # Per negative: the reference positive score (min or max over its query's positives) and the positive
        # it is most similar to; lines sorted by negative, then by similarity, so each group starts with it.
        order = np.lexsort((-same_line, owner))
        starts = np.flatnonzero(np.r_[True, np.diff(owner[order]) != 0]) if len(order) else np.zeros(0, dtype=int)
        groups = owner[order][starts]
        ref = np.full(len(rows), np.nan)
        restate = np.full(len(rows), -1.0)
        best_pos = np.full(len(rows), None, dtype=object)
        if len(order):
            reduce = np.minimum if params.reference == "min" else np.maximum
            ref[groups] = reduce.reduceat(pos_score_line[order], starts)
            restate[groups] = same_line[order][starts]
            best_pos[groups] = pos_ids[order][starts]

        margin = neg_score - ref  # > 0: the negative beats the positive
        by_relative = has_pos & (neg_score > ref - np.abs(ref) * params.relative_margin)
        by_absolute = has_pos & (neg_score > ref - params.absolute_margin) if params.absolute_margin is not None \
            else np.zeros(len(rows), dtype=bool)
        by_restating = has_pos & (restate >= params.positive_similarity)
        flagged = by_relative | by_absolute | by_restating
        score = _score(params.score, np.where(has_pos, margin, -np.inf), np.where(has_pos, restate, -np.inf),
                       params.margin_weight)
        score[~has_pos] = 0.0

        reasons, evidence = [], []
        for j in range(len(rows)):
            if not has_pos[j]:
                reasons.append("query has no positive to compare with")
                evidence.append(None)
                continue
            why = []
            if by_relative[j] or by_absolute[j]:
                why.append(f"scores {neg_score[j]:.3f} against the positive's {ref[j]:.3f}"
                           + (" (above it)" if margin[j] > 0 else ""))
            if by_restating[j]:
                why.append(f"{restate[j]:.0%} similar to positive {best_pos[j]}")
            reasons.append("; ".join(why) if why else f"{-margin[j]:.3f} below the positive")
            evidence.append({"query_id": qids[j], "negative_score": round(float(neg_score[j]), 4),
                             "positive_score": round(float(ref[j]), 4), "margin": round(float(margin[j]), 4),
                             "closest_positive": {"id": best_pos[j], "similarity": round(float(restate[j]), 4)},
                             "scorer": "cross-encoder" if params.cross_encoder else "embedding"})
        suggested = np.where(flagged, POSITIVE, None)
        self.report = {"negatives_without_positive": int((~has_pos).sum()),
                       "flagged_by_margin": int((by_relative | by_absolute).sum()),
                       "flagged_by_restating": int(by_restating.sum())}
        return frame(ctx, rows, score, suggested, reasons, evidence, flagged)


def _score(kind: str, margin: np.ndarray, restate: np.ndarray, margin_weight: float = 0.5) -> np.ndarray:
    """Ranking score in [0, 1]: rank-normalised so that signals on different scales can be averaged."""
    finite = np.isfinite(margin)
    out = np.zeros(len(margin))
    if not finite.any():
        return out
    m, r = rank_normalise(margin[finite]), rank_normalise(restate[finite])
    out[finite] = {"margin": m, "positive_similarity": r, "combined": margin_weight * m + (1 - margin_weight) * r}[kind]
    return out


def _cross_scores(ctx: Context, params: Params, qids, pids, owner, pos_ids) -> tuple[np.ndarray, np.ndarray]:
    """(negative scores, positive scores per line) from a CrossEncoder loaded from a local path."""
    from pathlib import Path

    from sentence_transformers import CrossEncoder

    if not Path(params.cross_encoder).exists():
        raise CurateError(f"cross_encoder: no model at {params.cross_encoder} (give a local path; nothing is "
                          f"downloaded)")
    model = CrossEncoder(params.cross_encoder, device="cpu")
    q_text = texts_by_id(ctx.ws, ctx.dataset, "query")
    p_text = texts_by_id(ctx.ws, ctx.dataset, "passage")
    neg = model.predict([(q_text[q], p_text[p]) for q, p in zip(qids, pids)], batch_size=params.batch_size,
                        show_progress_bar=False)
    pos = model.predict([(q_text[qids[o]], p_text[p]) for o, p in zip(owner, pos_ids)],
                        batch_size=params.batch_size, show_progress_bar=False) if len(owner) else np.zeros(0)
    return np.asarray(neg, dtype=float), np.asarray(pos, dtype=float)
