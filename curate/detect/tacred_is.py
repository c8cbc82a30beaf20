"""TACRED Intrinsic Strategy (IS): trust the positives. A negative the model predicts as a relation, whose
nearest positive neighbours agree on a relation, is a likely noisy negative with that relation as suggestion."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import ModelDetector, ModelParams, frame, neighbour_evidence, register
from curate.detect.context import Context
from curate.detect.scores import balanced_weights, gather_labels, neighbour_vote


class Params(ModelParams):
    """IS parameters; the paper's exact k and threshold are not recoverable, these are tuned with `curate eval`."""

    balanced_model: bool = Field(False, description="class-balanced model loss; off for IS, where the model's own "
                                 "belief in the background class ranks better (measured on SemEval and the sample)")
    k: int = Field(10, ge=1, description="positive neighbours consulted per candidate")
    threshold: float = Field(0.5, ge=0, le=1, description="vote share of one relation needed to flag")
    predictions: str | None = Field(None, description="JSONL {id, label, probs?} from the user's model; "
                                    "default: out-of-fold logistic regression on the embeddings")
    space: Literal["embedding", "proba"] = Field("proba", description="space the neighbours are found in: "
                                                 "out-of-fold probabilities (default, measured best) or embeddings")
    balanced: bool = Field(False, description="weight positive votes by inverse relation frequency")


@register
class TacredIS(ModelDetector):
    name = "tacred-is"
    description = ("Intrinsic Strategy: negatives predicted as a relation whose k nearest positive neighbours "
                   "agree on it; suggests that relation")
    Params = Params
    needs = ("embeddings", "predictions", "knn")
    default_order = 10

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict]:
        """With a negative label: one run on the classifier auto picks."""
        return [{"classifier": "auto"}] if ctx.negative_label is not None else []

    def scope(self, ctx: Context, params: Params) -> np.ndarray:
        """The split's negatives: IS trusts the positives."""
        return ctx.split_mask(params.split) & ctx.negative_mask()

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        scope = ctx.split_mask(params.split)
        neg = ctx.negative_mask()
        queries = scope & neg
        positives = scope & ~neg
        if params.predictions:
            pred, proba, classes = ctx.predictions_file(params.predictions)
        else:
            proba, classes = ctx.oof_proba(scope, **params.model_args())
            pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        p_neg = proba[:, classes.index(ctx.negative_label)] if proba is not None else None
        nb = ctx.neighbours(params.k, positives, queries, params.space, space_mask=scope,
                            model_args=params.model_args())
        rows = np.flatnonzero(queries)
        cw = balanced_weights(ctx.labels[positives]) if params.balanced else None
        winner, share = neighbour_vote(gather_labels(ctx.labels, nb.indices), nb.scores, class_weight=cw)
        candidate = np.array([pred[r] is not None and pred[r] != ctx.negative_label for r in rows], dtype=bool)
        # Rank every negative: neighbour agreement times the model's belief that it is not negative,
        # so candidates the paper would flag come first and near-misses follow in a sensible order.
        belief = (1.0 - p_neg[rows]) if p_neg is not None else candidate.astype(float)
        score = share * belief
        flagged = candidate & (share >= params.threshold)
        near = neighbour_evidence(ctx, nb.indices, nb.scores)
        reasons, evidence = [], []
        for j, r in enumerate(rows):
            if flagged[j]:
                reasons.append(f"predicted {pred[r]}; {share[j]:.0%} of {params.k} positive neighbours say {winner[j]}")
            elif candidate[j]:
                reasons.append(f"predicted {pred[r]}; neighbours split ({share[j]:.0%} {winner[j]})")
            else:
                reasons.append(f"model agrees with {ctx.negative_label}")
            evidence.append({
                "prediction": pred[r], "p_negative": None if p_neg is None else round(float(p_neg[r]), 4),
                "vote": {"label": winner[j], "share": round(float(share[j]), 4)},
                "neighbours": near[j],
            } if score[j] > 0 else None)
        return frame(ctx, rows, score, winner, reasons, evidence, flagged)
