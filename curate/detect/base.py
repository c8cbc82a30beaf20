"""Detector contract and registry: one small class per method, its params a pydantic model.

A detector describes itself to the core (the ensemble, the review queue, curate eval, `curate detect`'s default
set, the weighted export) through the class hooks below, so adding one touches only its own module, its test and
docs/detectors.md."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.detect.scores import gather_labels
from curate.registry import registrar

if TYPE_CHECKING:
    from curate.detect.context import Context

log = logging.getLogger(__name__)

COLUMNS = ["example_id", "score", "suggested_label", "reason", "evidence", "flagged"]


class DetectorParams(BaseModel):
    """Parameters every detector takes; each detector extends this (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")

    split: str | None = Field("train", description="split whose examples are scored (None: every split)")
    max_flagged_share: float | None = Field(0.15, ge=0, le=1, description="flag at most this share of the split "
                                            "(the highest scores; never fewer than 50), so a flag set "
                                            "stays reviewable; None: the method's own rule alone")


# Seconds per example of a 5-fold, 2-epoch fine-tune on a 2-core CPU (benchmarks/README.md, fine-tune cost).
FINETUNE_CPU_SECONDS = 0.085
Classifier = Literal["auto", "linear", "finetune"]


class ModelParams(DetectorParams):
    """Parameters of the out-of-fold classifier that several detectors share (docs/detectors.md has the figures)."""

    folds: int = Field(5, ge=2, description="cross-validation folds for out-of-fold probabilities")
    c: float = Field(2.0, gt=0, description="inverse regularisation strength of the logistic regression")
    balanced_model: bool = Field(True, description="class-balanced loss, so the background class does not swamp "
                                 "the relations")
    max_fit: int = Field(20_000, ge=100, description="each model fit learns from at most this many examples "
                         "(stratified sample), bounding the cost on large data")
    classifier: Classifier = Field(
        "linear", description="the classifier behind the probabilities (and, for neighbours in embedding space, the "
        "vectors): a logistic regression on the frozen embeddings, or the encoder's top layers fine-tuned with a "
        "classification head in each fold (slower: docs/detectors.md gives its time); 'auto' fits both on one "
        "validation fold of the given labels and keeps the one that predicts it better (log-loss), where "
        "fine-tuning is affordable (a GPU, or at most finetune_max examples on a CPU), else linear. The old name "
        "'model' still works")
    finetune_max: int = Field(3_500, ge=0, description="classifier=auto on a CPU: try fine-tuning on datasets of "
                              "at most this many examples")
    epochs: int = Field(2, ge=1, le=50, description="classifier=finetune: training epochs per fold")
    lr: float = Field(3e-4, gt=0, lt=1, description="classifier=finetune: learning rate of the tuned layers")
    train_layers: int = Field(2, ge=1, description="classifier=finetune: top transformer layers trained (the rest "
                              "stay frozen and run once)")

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        # `model` named this option until the embedding model (--model) and an LLM's name shared the word.
        if isinstance(data, dict) and "model" in data:
            data = dict(data)
            if "classifier" in data:
                raise ValueError("give 'classifier' only ('model' is its old name)")
            log.warning("the classifier option 'model' is now called 'classifier' (model=%s still works, for now)",
                        data["model"])
            data["classifier"] = data.pop("model")
        return data

    def resolve_classifier(self, n_examples: int, trial: Callable[[], dict] | None = None) -> str | None:
        """Make classifier=auto concrete for a dataset of n_examples on this machine; returns a note saying which
        and why (None when nothing was left to decide). Where fine-tuning is affordable (a GPU, or on a CPU at
        most finetune_max examples), trial() fits both classifiers on one validation fold of the given labels
        (Context.validation_fit) and the one with the lower held-out log-loss wins; without a trial (a dry run)
        the note says the fold will decide. Called once per run, by run_detector and its dry run."""
        if getattr(self, "predictions", None):
            if self.classifier == "auto":
                self.classifier = "linear"  # given predictions: no classifier is fitted
            return None
        if self.classifier != "auto":
            return None
        gpu = _gpu()
        minutes = n_examples * FINETUNE_CPU_SECONDS * self.epochs / 2 * self.folds / 5 / 60
        if not self.finetune_affordable(n_examples):
            self.classifier = "linear"
            return (f"linear ({n_examples:,} examples, over finetune_max {self.finetune_max:,} on CPU; "
                    f"-p classifier=finetune would take about {minutes:.0f} min here)")
        where = "a GPU is available" if gpu else f"{n_examples:,} examples, within finetune_max {self.finetune_max:,} on CPU"
        if trial is None:
            return (f"decided at run time by one validation fold of the given labels ({where}; fine-tuning that "
                    f"fold takes about {max(minutes / self.folds, 1):.0f} min unless cached)")
        fit = trial()
        self.classifier = "finetune" if fit["finetune_logloss"] < fit["linear_logloss"] else "linear"
        other = "linear" if self.classifier == "finetune" else "finetune"
        return (f"{self.classifier} (held-out log-loss {fit[self.classifier + '_logloss']:.3f} against {other}'s "
                f"{fit[other + '_logloss']:.3f}, accuracy {fit[self.classifier + '_accuracy']:.3f} against "
                f"{fit[other + '_accuracy']:.3f}, on a validation fold of {fit['examples']:,} given labels; {where})")

    def finetune_affordable(self, n_examples: int) -> bool:
        """Whether classifier=auto may fine-tune here: on a GPU, or on a CPU up to finetune_max examples."""
        return _gpu() or n_examples <= self.finetune_max

    def trial_args(self) -> dict:
        """Keyword arguments for Context.validation_fit: the fine-tuned run's own folds and settings."""
        return {"folds": self.folds, "c": self.c, "balanced": self.balanced_model, "max_fit": self.max_fit,
                "epochs": self.epochs, "lr": self.lr, "train_layers": self.train_layers}

    def model_args(self) -> dict:
        """Keyword arguments for Context.oof_proba."""
        if self.classifier == "auto":
            raise ValueError("classifier=auto is made concrete before a run (resolve_classifier)")
        args = {"folds": self.folds, "c": self.c, "balanced": self.balanced_model, "max_fit": self.max_fit,
                "classifier": self.classifier}
        if self.classifier == "finetune":
            args.update(epochs=self.epochs, lr=self.lr, train_layers=self.train_layers)
        return args


def _gpu() -> bool:
    import torch

    return torch.cuda.is_available()


class Detector:
    """One detection method: declares what it needs, computes a score per example in [0, 1] (higher = more suspect).

    The class hooks answer what the core asks about every detector; the defaults fit a plain one."""

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[DetectorParams]] = DetectorParams
    needs: ClassVar[tuple[str, ...]] = ("embeddings",)
    tasks: ClassVar[tuple[str, ...]] = ("classification", "relation", "span")  # dataset tasks it applies to
    version: ClassVar[str] = "1"
    combines_runs: ClassVar[bool] = False  # it ranks other runs' findings (the review queue does that itself)
    default_order: ClassVar[int] = 100  # where its default runs come in `curate detect`'s default set
    # What its findings are keyed by: 'examples', or 'sentences' (the sentence units of span data, curate.sentences)
    units: ClassVar[str] = "examples"

    def run(self, ctx: Context, params: DetectorParams) -> pd.DataFrame:
        """Score the examples in scope; one row per scored example with the COLUMNS above."""
        raise NotImplementedError

    def scope(self, ctx: Context, params: DetectorParams) -> np.ndarray:
        """The rows a run may score (run_detector refuses findings outside it): the split by default."""
        return ctx.split_mask(params.split)

    def scope_units(self, ctx: Context, params: DetectorParams) -> list[str]:
        """The unit ids a run may score, for a detector whose units are not examples (units='sentences')."""
        raise NotImplementedError

    def model_rows(self, ctx: Context, params: DetectorParams) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows its classifier learns from and their labels (None: the current ones); classifier=auto's
        validation fold is taken there, so a fine-tuned fold it trains is the run's own."""
        return ctx.split_mask(params.split), None

    def state(self, ws: Any, dataset: str, params: DetectorParams) -> dict[str, Any]:
        """What else a run's output depends on, for its fingerprint ({}: nothing beyond params, data and model)."""
        return {}

    @classmethod
    def variant(cls, params: dict[str, Any]) -> str:
        """The signal behind a run with these (stored) params, '' for the plain one: each variant of a detector is
        a member of its own in the ensemble, the review queue and the example view."""
        return ""

    @classmethod
    def left_out(cls, params: dict[str, Any]) -> str | None:
        """Why a run with these params is not a default member of the ensemble (None: it is)."""
        return None

    @classmethod
    def trust(cls, params: dict[str, Any], counts: dict[str, Any]) -> float:
        """How far the ensemble trusts a run of this detector, in [0, 1] (a factor on its weight), from what the
        run measured about itself without gold (counts); 1 for a detector that measures nothing of the kind."""
        return 1.0

    @classmethod
    def default_runs(cls, ctx: Context) -> list[dict[str, Any]]:
        """The params of each run this detector adds to `curate detect`'s default set for this dataset ([]: none)."""
        return []

    @classmethod
    def negative_weights(cls, findings: pd.DataFrame, counts: dict[str, Any]) -> np.ndarray | None:
        """Per finding (example_id, score, evidence), the probability that the negative really is one, for the
        weighted export; None when this detector's scores are not such an estimate."""
        return None


class ModelDetector(Detector):
    """A detector on the shared out-of-fold classifier: each classifier (and the user's own predictions) is a
    variant of its own."""

    @classmethod
    def variant(cls, params: dict[str, Any]) -> str:
        """'predictions' for the user's own model, 'finetune' for the tuned encoder, '' for the linear model."""
        if params.get("predictions"):
            return "predictions"
        return "finetune" if params.get("classifier", params.get("model")) == "finetune" else ""


REGISTRY: dict[str, type[Detector]] = {}

def default_detectors(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """The runs `curate detect` makes when no detector is named, as (detector, params): what each registered
    detector's default_runs asks for on this dataset (the set is chosen for the ensemble: docs/detectors.md)."""
    names = sorted(REGISTRY, key=lambda n: (REGISTRY[n].default_order, n))
    return [(n, p) for n in names if ctx.task in REGISTRY[n].tasks for p in REGISTRY[n].default_runs(ctx)]


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
