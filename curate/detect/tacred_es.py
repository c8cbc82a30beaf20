"""TACRED Extrinsic Strategy (ES): trust a clean subset. Negatives whose nearest clean neighbours carry a relation
are flagged (EN/RN); with include_positives, positives whose clean neighbours disagree too (ENP/RNP)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import ModelDetector, ModelParams, frame, neighbour_evidence, register
from curate.detect.context import Context
from curate.detect.scores import balanced_weights, gather_labels, neighbour_vote
from curate.errors import CurateError, InputError


class Params(ModelParams):
    """ES parameters."""

    clean: str = Field("dev", description="the clean subset: a split name, 'patch' (ingested patch labels), "
                       "'reviewed' (examples reviewers kept or relabelled) or 'file:PATH' (one id per line)")
    balanced_model: bool = Field(False, description="class-balanced model loss; off for ES, where the model's own "
                                 "belief in the background class ranks better (measured on SemEval and the sample)")
    k: int = Field(10, ge=1, description="clean neighbours consulted per example")
    threshold: float = Field(0.5, ge=0, le=1, description="vote share needed to flag")
    include_positives: bool = Field(False, description="also flag positives whose clean neighbours disagree (ENP/RNP)")
    space: Literal["embedding", "proba"] = Field("proba", description="find clean neighbours in the embedding "
                                                 "space or in the probability space of a model fitted on the clean subset")
    use_model: bool = Field(True, description="multiply the vote share by 1 - p(negative) of a model fitted on "
                            "the clean subset (negatives) or by 1 - p(own label) (positives)")
    balanced: bool = Field(False, description="weight clean votes by inverse label frequency in the clean subset")


@register
class TacredES(ModelDetector):
    name = "tacred-es"
    description = ("Extrinsic Strategy: examples whose k nearest neighbours in a trusted clean subset carry another "
                   "label (negatives by default; positives too with include_positives)")
    Params = Params
    needs = ("embeddings", "knn", "clean_subset")
    default_order = 20

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict]:
        """With a negative label and a dev split to trust: one run on the classifier auto picks."""
        return [{"classifier": "auto"}] if ctx.negative_label is not None and "dev" in set(ctx.splits) else []

    def scope(self, ctx: Context, params: Params) -> np.ndarray:
        """The split's negatives, and its positives too with include_positives."""
        return ctx.split_mask(params.split) & (True if params.include_positives else ctx.negative_mask())

    def model_rows(self, ctx: Context, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """The clean subset and its trusted labels: what its model learns from."""
        return clean_subset(ctx, params.clean)

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        clean, clean_labels = clean_subset(ctx, params.clean)
        neg = ctx.negative_mask()
        if not clean.any():
            raise CurateError(f"the clean subset '{params.clean}' is empty")
        if not (clean & (clean_labels != ctx.negative_label)).any():
            raise CurateError(f"the clean subset '{params.clean}' has no positive examples to vote with")
        scope = ctx.split_mask(params.split)
        queries = scope & (np.ones_like(neg) if params.include_positives else neg)
        nb = ctx.neighbours(params.k, clean, queries, params.space, space_mask=clean, space_labels=clean_labels,
                            model_args=params.model_args())
        rows = np.flatnonzero(queries)
        own = ctx.labels[rows]
        # The best label other than the example's own: a relation for a negative, anything else for a positive.
        cw = balanced_weights(clean_labels[clean]) if params.balanced else None
        winner, share = neighbour_vote(gather_labels(clean_labels, nb.indices), nb.scores, exclude=own, class_weight=cw)
        score = share.copy()
        flagged = share >= params.threshold
        if params.use_model:
            proba, classes = ctx.oof_proba(clean, labels=clean_labels, **params.model_args())
            index = {c: i for i, c in enumerate(classes)}
            p_own = np.array([proba[r, index[o]] if o in index else 0.0 for r, o in zip(rows, own)])
            score = share * (1.0 - p_own)
        # A clean-subset example inside the scored split whose verified label differs is a known error.
        known = clean[rows] & (clean_labels[rows] != own)
        score[known], flagged[known] = 1.0, True
        winner[known] = clean_labels[rows][known]
        near = neighbour_evidence(ctx, nb.indices, nb.scores, clean_labels)
        reasons, evidence = [], []
        for j, r in enumerate(rows):
            if known[j]:
                reasons.append(f"clean subset labels it {clean_labels[r]}")
            else:
                reasons.append(f"{share[j]:.0%} of {params.k} clean neighbours say {winner[j]}")
            evidence.append({
                "clean": params.clean, "vote": {"label": winner[j], "share": round(float(share[j]), 4)},
                "neighbours": near[j],
            } if score[j] > 0 else None)
        return frame(ctx, rows, score, winner, reasons, evidence, flagged)


def clean_subset(ctx: Context, spec: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the clean subset and the labels to trust there (verified labels override current ones)."""
    labels = ctx.labels.copy()
    if spec == "patch":
        rows = ctx.ws.con.execute("SELECT example_id, label FROM clean_labels WHERE dataset = ?",
                                  [ctx.dataset]).fetchall()
        if not rows:
            raise CurateError(f"dataset '{ctx.dataset}' has no patch labels; ingest one with --format tacred-patch")
        mask = np.zeros(len(ctx.ids), dtype=bool)
        for ex_id, label in rows:
            r = ctx.row_of.get(ex_id)
            if r is not None:
                mask[r], labels[r] = True, label
        return mask, labels
    if spec == "reviewed":
        ids = {r[0] for r in ctx.ws.con.execute(
            "SELECT id FROM current_examples WHERE dataset = ? AND last_action IN ('keep', 'relabel')",
            [ctx.dataset]).fetchall()}
        return np.array([i in ids for i in ctx.ids], dtype=bool), labels
    if spec.startswith("file:"):
        path = Path(spec[5:])
        if not path.exists():
            raise InputError("no such id list", path=path)
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for n, i in enumerate(ids, start=1):
            if i not in ctx.row_of:
                raise InputError(f"unknown example id '{i}'", path=path, line=n)
        return np.isin(np.asarray(ctx.ids, dtype=object), ids), labels
    return ctx.split_mask(spec), labels
