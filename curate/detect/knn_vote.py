"""kNN label disagreement: an example whose nearest neighbours mostly carry another label (any task)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import ModelDetector, ModelParams, frame, neighbour_evidence, register
from curate.detect.context import Context
from curate.detect.scores import agreement, balanced_weights, gather_labels, neighbour_vote


class Params(ModelParams):
    """knn-vote parameters."""

    k: int = Field(10, ge=1)
    threshold: float = Field(0.5, ge=0, le=1, description="share of neighbours for another label needed to flag")
    weighted: bool = Field(True, description="weight votes by similarity")
    balanced: bool = Field(True, description="weight votes by inverse label frequency, so a majority class does "
                           "not outvote the rest by its base rate")
    space: Literal["embedding", "proba"] = Field("proba", description="out-of-fold probability space (default, "
                                                 "measured best) or the embedding space")


@register
class KnnVote(ModelDetector):
    name = "knn-vote"
    description = "disagreement of an example's label with its k nearest neighbours in the same split"
    Params = Params
    needs = ("embeddings", "knn")
    default_order = 30

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict]:
        """One run on the classifier auto picks."""
        return [{"classifier": "auto"}]

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        scope = ctx.split_mask(params.split)
        nb = ctx.neighbours(params.k, scope, scope, params.space, model_args=params.model_args())
        rows = np.flatnonzero(scope)
        labs = gather_labels(ctx.labels, nb.indices)
        own = ctx.labels[rows]
        cw = balanced_weights(ctx.labels[scope]) if params.balanced else None
        score = 1.0 - agreement(labs, nb.scores, own, weighted=params.weighted, class_weight=cw)
        winner, share = neighbour_vote(labs, nb.scores, weighted=params.weighted, exclude=own, class_weight=cw)
        flagged = share >= params.threshold
        reasons = [f"{1 - s:.0%} of neighbours share its label; {w} leads with {v:.0%}" if w is not None
                   else "all neighbours share its label" for s, w, v in zip(score, winner, share)]
        near = neighbour_evidence(ctx, nb.indices, nb.scores)
        evidence = [{"vote": {"label": w, "share": round(float(v), 4)},
                     "neighbours": near[j]} if score[j] > 0 else None
                    for j, (w, v) in enumerate(zip(winner, share))]
        return frame(ctx, rows, score, winner, reasons, evidence, flagged)
