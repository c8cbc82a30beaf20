"""Detector contract and registry: one small class per method, its params a pydantic model."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from curate.detect.context import Context
from curate.detect.scores import gather_labels
from curate.registry import registrar

COLUMNS = ["example_id", "score", "suggested_label", "reason", "evidence", "flagged"]


class DetectorParams(BaseModel):
    """Parameters every detector takes; each detector extends this (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")

    split: str | None = Field("train", description="split whose examples are scored (None: every split)")
    max_flagged_share: float | None = Field(0.15, ge=0, le=1, description="flag at most this share of the split "
                                            "(the highest scores; never fewer than 50), so a flag set "
                                            "stays reviewable; None: the method's own rule alone")


# Seconds per example of a 5-fold, 2-epoch fine-tune on this project's 2-core CPU (benchmarks/bench_finetune.py:
# 8 example-epochs of training at 9.4 ms, the frozen pass 6.5 ms, predictions 3-4 ms).
FINETUNE_CPU_SECONDS = 0.085


class ModelParams(DetectorParams):
    """Parameters of the out-of-fold logistic regression that several detectors share."""

    folds: int = Field(5, ge=2, description="cross-validation folds for out-of-fold probabilities")
    c: float = Field(2.0, gt=0, description="inverse regularisation strength of the logistic regression")
    balanced_model: bool = Field(True, description="class-balanced loss, so the background class does not swamp "
                                 "the relations (measured: AUPRC 0.27 -> 0.51 on SemEval with planted noise)")

    max_fit: int = Field(20_000, ge=100, description="each model fit learns from at most this many examples "
                         "(stratified sample), bounding the cost on large data")

    model: Literal["auto", "linear", "finetune"] = Field(
        "linear", description="the model behind the probabilities (and, for neighbours in embedding space, the "
        "vectors): a logistic regression on the frozen embeddings, or the encoder's top layers fine-tuned with a "
        "classification head in each fold (slower: see docs/detectors.md for its time per 1k examples); 'auto' "
        "fine-tunes on a GPU, and on a CPU when the dataset has at most finetune_max examples")
    finetune_max: int = Field(3_500, ge=0, description="model=auto on a CPU: fine-tune datasets of at most this "
                              "many examples (about 5 minutes on 2 cores at the default epochs and folds)")
    epochs: int = Field(2, ge=1, le=50, description="model=finetune: training epochs per fold")
    lr: float = Field(3e-4, gt=0, lt=1, description="model=finetune: learning rate of the tuned layers")
    train_layers: int = Field(2, ge=1, description="model=finetune: top transformer layers trained (the rest stay "
                              "frozen and run once)")

    def resolve_model(self, n_examples: int) -> str | None:
        """Make model=auto concrete for a dataset of n_examples on this machine; returns a note saying which and
        why (None when the model was given)."""
        if self.model != "auto":
            return None
        import torch

        if torch.cuda.is_available():
            self.model = "finetune"
            return "finetune (a GPU is available)"
        minutes = n_examples * FINETUNE_CPU_SECONDS * self.epochs / 2 * self.folds / 5 / 60
        if n_examples <= self.finetune_max:
            self.model = "finetune"
            return (f"finetune ({n_examples:,} examples, within finetune_max {self.finetune_max:,} on CPU; about "
                    f"{max(minutes, 1):.0f} min unless cached)")
        self.model = "linear"
        return (f"linear ({n_examples:,} examples, over finetune_max {self.finetune_max:,} on CPU; -p model=finetune "
                f"would take about {minutes:.0f} min here)")

    def model_args(self) -> dict:
        """Keyword arguments for Context.oof_proba."""
        args = {"folds": self.folds, "c": self.c, "balanced": self.balanced_model, "max_fit": self.max_fit,
                "model": self.model}
        if self.model == "finetune":
            args.update(epochs=self.epochs, lr=self.lr, train_layers=self.train_layers)
        return args


class Detector:
    """One detection method: declares what it needs, computes a score per example in [0, 1] (higher = more suspect)."""

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[DetectorParams]] = DetectorParams
    needs: ClassVar[tuple[str, ...]] = ("embeddings",)
    tasks: ClassVar[tuple[str, ...]] = ("classification", "relation", "span")  # dataset tasks it applies to
    version: ClassVar[str] = "1"

    def run(self, ctx: Context, params: DetectorParams) -> pd.DataFrame:
        """Score the examples in scope; one row per scored example with the COLUMNS above."""
        raise NotImplementedError


REGISTRY: dict[str, type[Detector]] = {}


def default_detectors(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """The runs `curate detect` makes when no detector is named, as (detector, params): chosen as a set for the
    ensemble. IS needs a negative label, ES also a 'dev' split to trust; every model detector runs with
    model=auto, and when that fine-tunes, confident-learning runs on the linear model too, a second model whose
    errors differ (measured in docs/detectors.md). Retrieval gets the similarity rules of false-negatives and a
    relevance model learned from the pairs' own labels: two signals whose errors differ."""
    if ctx.task == "retrieval":
        return [("false-negatives", {}), ("relevance-model", {})]
    chosen = ["knn-vote", "confident-learning"]
    if ctx.negative_label is not None:
        chosen = ["tacred-is", *(["tacred-es"] if "dev" in set(ctx.splits) else []), *chosen]
    runs: list[tuple[str, dict[str, Any]]] = [(d, {"model": "auto"}) for d in chosen]
    auto = ModelParams(model="auto")
    auto.resolve_model(len(ctx.ids))
    if auto.model == "finetune":  # the linear run first, so the fine-tuned one stays the detector's latest
        runs.insert(len(runs) - 1, ("confident-learning", {"model": "linear"}))
    return [*runs, ("near-duplicates", {})]


register = registrar(REGISTRY, "detector")


def frame(
    ctx: Context,
    rows: np.ndarray,
    score: np.ndarray,
    suggested: np.ndarray | list,
    reason: list[str],
    evidence: list[dict[str, Any] | None],
    flagged: np.ndarray,
) -> pd.DataFrame:
    """Assemble a findings frame for the given context rows."""
    return pd.DataFrame({
        "example_id": [ctx.ids[r] for r in rows],
        "score": np.clip(np.asarray(score, dtype=float), 0.0, 1.0),
        "suggested_label": list(suggested),
        "reason": reason,
        "evidence": evidence,
        "flagged": np.asarray(flagged, dtype=bool),
    }, columns=COLUMNS)


def neighbour_evidence(ctx: Context, indices: np.ndarray, sims: np.ndarray, labels: np.ndarray | None = None,
                       limit: int = 10) -> list[list[dict[str, Any]]]:
    """Per query row, the neighbours behind its score: ids, labels and similarities, best first."""
    idx = indices[:, :limit]
    labs = gather_labels(ctx.labels if labels is None else labels, idx).tolist()
    ids = np.asarray(ctx.ids, dtype=object)[np.clip(idx, 0, None)].tolist()
    # One vectorised rounding and tolist() instead of per-cell float() calls: this runs for every scored row.
    rounded = np.round(sims[:, :limit].astype(np.float64), 4).tolist()
    ok = (idx >= 0).tolist()
    return [[{"id": i, "label": lab, "similarity": s} for i, lab, s, good in zip(ri, rl, rs, rk) if good]
            for ri, rl, rs, rk in zip(ids, labs, rounded, ok)]
