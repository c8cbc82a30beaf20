"""Confident learning with cleanlab: label-quality scores and the label-issue filter from out-of-fold
probabilities (or the user's own pred_probs)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Classifier, ModelDetector, ModelParams, frame, register
from curate.detect.context import Context
from curate.errors import CurateError


class Params(ModelParams):
    """confident-learning parameters (passed through to cleanlab)."""

    predictions: str | None = Field(None, description="JSONL {id, label, probs: {label: p}} with the user's "
                                    "pred_probs; default: out-of-fold logistic regression on the embeddings")
    filter_by: Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                       "predicted_neq_given"] = "prune_by_noise_rate"
    method: Literal["self_confidence", "normalized_margin", "confidence_weighted_entropy"] = "self_confidence"
    classifier: Classifier = Field(
        "auto", description="as for the other model detectors, but 'auto' by default: fine-tuned on a GPU, and on a "
        "CPU up to finetune_max examples, linear beyond (docs/detectors.md has the figures)")


@register
class ConfidentLearning(ModelDetector):
    name = "confident-learning"
    description = "cleanlab label-quality scores and find_label_issues on out-of-fold (or given) predicted probabilities"
    Params = Params
    needs = ("embeddings", "predictions")
    default_order = 40

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict]:
        """The classifier auto picks; where it may fine-tune, the linear one too, a second model whose errors
        differ (first, so the tuned run is the later one; when auto picks linear, the two are one run, reused)."""
        affordable = Params(classifier="auto").finetune_affordable(len(ctx.ids))
        return ([{"classifier": "linear"}] if affordable else []) + [{"classifier": "auto"}]

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        scope = ctx.split_mask(params.split)
        if params.predictions:
            _, proba, classes = ctx.predictions_file(params.predictions)
            if proba is None:
                raise CurateError("confident-learning needs probabilities: give 'probs' in the predictions file")
            missing = scope & (proba.sum(axis=1) == 0)
            if missing.any():
                raise CurateError(f"{int(missing.sum())} examples in scope have no probabilities in the predictions file")
        else:
            proba, classes = ctx.oof_proba(scope, **params.model_args())
        rows = np.flatnonzero(scope)
        p = proba[rows]
        p = p / p.sum(axis=1, keepdims=True)
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[lab] for lab in ctx.labels[rows]])
        quality = get_label_quality_scores(y, p, method=params.method)
        issues = find_label_issues(y, p, filter_by=params.filter_by)
        best = p.argmax(axis=1)
        suggested = [classes[b] if b != t else None for b, t in zip(best, y)]
        reasons = [f"p(given {classes[t]}) = {p[j, t]:.2f}, model prefers {classes[b]} ({p[j, b]:.2f})" if b != t
                   else f"p(given {classes[t]}) = {p[j, t]:.2f}" for j, (b, t) in enumerate(zip(best, y))]
        evidence = [{"given_prob": round(float(p[j, t]), 4), "predicted": classes[b],
                     "predicted_prob": round(float(p[j, b]), 4), "label_quality": round(float(q), 4)}
                    for j, (b, t, q) in enumerate(zip(best, y, quality))]
        return frame(ctx, rows, 1.0 - quality, suggested, reasons, evidence, issues)
