"""The shared detection context: vectors, current labels, kNN graphs and out-of-fold probabilities, each
computed once per run and recorded with the parameters that made it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from curate.embed import load_vectors, stored_key
from curate.engine.options import EngineOptions
from curate.encode import representation_for, resolve_model
from curate.errors import CurateError
from curate.ingest.base import iter_jsonl
from curate.index import Neighbours, knn_within
from curate.store import Workspace

if TYPE_CHECKING:
    from curate.detect.tuned import FoldStore

log = logging.getLogger(__name__)

Q_CURRENT = """
    SELECT id, split, label, removed FROM current_examples WHERE dataset = ? ORDER BY split, ord
"""
Q_TYPES = """
    SELECT id, json_extract_string(meta, '$.subj_type'), json_extract_string(meta, '$.obj_type')
    FROM examples WHERE dataset = ?
"""
TYPE_PAIR_WEIGHT = 1.0  # a plain one-hot, as measured on the held-out set


@dataclass
class Context:
    """Everything detectors share for one dataset; expensive parts are computed lazily and cached."""

    ws: Workspace
    dataset: str
    model: str | None = None
    seed: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    engine: EngineOptions | None = None  # with engine=ray the neighbour searches run exactly, on the cluster

    def __post_init__(self) -> None:
        info = self.ws.dataset(self.dataset)
        self.task = info.task
        self.negative_label = info.negative_label
        current = self.ws.con.execute(Q_CURRENT, [self.dataset]).fetchall()
        self._all_ids = [r[0] for r in current]
        self._keep = np.array([not r[3] for r in current], dtype=bool)
        # Removed examples take no part: they neither get scored nor vote.
        self.ids = [r[0] for r in current if not r[3]]
        self.splits = np.asarray([r[1] for r in current], dtype=object)[self._keep]
        self.labels = np.asarray([r[2] for r in current], dtype=object)[self._keep]
        self.cache_key = stored_key(self.ws, self.dataset, resolve_model(self.model), representation_for(self.task))
        self.model_key = str(self.cache_key)  # what runs record as their embedding_model
        self.row_of = {e: i for i, e in enumerate(self.ids)}
        self._matrix: np.ndarray | None = None
        self._model_matrix: np.ndarray | None = None
        self._knn: dict[tuple, Neighbours] = {}
        self._proba: dict[tuple, tuple[np.ndarray, list[str]]] = {}
        self._trials: dict[tuple, dict] = {}  # validation_fit results
        self._tuned: dict[tuple, np.ndarray] = {}
        self.runner = None
        if self.engine is not None and self.engine.ray:
            from curate.engine.knn_job import RayRunner

            self.runner = RayRunner(self.engine)

    @property
    def matrix(self) -> np.ndarray:
        """Example vectors, loaded on first use (detectors that read query/passage vectors never need them)."""
        if self._matrix is None:
            vecs = load_vectors(self.ws, self.dataset, key=self.cache_key)
            if vecs.ids != self._all_ids:
                raise CurateError("examples changed while loading; run again")
            self._matrix = vecs.matrix[self._keep]
        return self._matrix

    @property
    def model_matrix(self) -> np.ndarray:
        """What the out-of-fold linear model learns from: the vectors, plus the type-pair one-hot when there is one."""
        if self._model_matrix is None:
            extra = self.type_features()
            self._model_matrix = self.matrix if extra is None else np.hstack([self.matrix, extra])
        return self._model_matrix

    def type_features(self) -> np.ndarray | None:
        """For relations with entity types, a one-hot of the (subject type, object type) pair per row (else None).

        The pair vectors carry the types only as marker words; the one-hot makes "this type pair never holds this
        relation" one weight away (measured better on a held-out re-annotated relation set: docs/detectors.md)."""
        if self.task != "relation":
            return None
        of = {i: f"{a}|{b}" for i, a, b in self.ws.con.execute(Q_TYPES, [self.dataset]).fetchall()}
        pairs = np.asarray([of.get(i, "None|None") for i in self.ids], dtype=object)
        kinds = sorted(set(pairs.tolist()) - {"None|None"})
        if len(kinds) < 2:
            return None
        return TYPE_PAIR_WEIGHT * (pairs[:, None] == np.asarray(kinds, dtype=object)[None, :]).astype(np.float32)

    # -- masks -----------------------------------------------------------
    def split_mask(self, split: str | list[str] | None) -> np.ndarray:
        """Rows of the given split(s); None means every row."""
        if split is None:
            return np.ones(len(self.ids), dtype=bool)
        splits = [split] if isinstance(split, str) else list(split)
        unknown = set(splits) - set(self.splits.tolist())
        if unknown:
            raise CurateError(f"dataset '{self.dataset}' has no split {', '.join(sorted(unknown))}; "
                              f"splits: {', '.join(sorted(set(self.splits.tolist())))}")
        return np.isin(self.splits, splits)

    def negative_mask(self) -> np.ndarray:
        """Rows currently labelled with the negative (background) label."""
        if self.negative_label is None:
            raise CurateError(f"dataset '{self.dataset}' has no negative label; set one at ingest (--negative-label)")
        return self.labels == self.negative_label

    # -- shared computations ---------------------------------------------
    def neighbours(self, k: int, base: np.ndarray, queries: np.ndarray, space: str = "embedding",
                   space_mask: np.ndarray | None = None, space_labels: np.ndarray | None = None,
                   model_args: dict | None = None) -> Neighbours:
        """kNN of query rows among base rows (never a row itself), cached per (k, masks, space).

        space 'proba' searches in the probability space of a model trained on space_mask rows (default: queries
        and base) with space_labels (default: current labels)."""
        fit_rows = (queries | base) if space_mask is None else space_mask
        key = (k, base.tobytes(), queries.tobytes(), space, fit_rows.tobytes(),
               None if space_labels is None else space_labels.tobytes(), tuple(sorted((model_args or {}).items())))
        if key not in self._knn:
            if not base.any():
                raise CurateError("no examples to take neighbours from (the base set is empty)")
            if space == "embedding" and (model_args or {}).get("classifier") == "finetune":
                matrix = self.tuned_vectors(fit_rows, space_labels, **model_args)
            elif space == "embedding":
                matrix = self.matrix
            else:
                matrix = self.proba_space(fit_rows, space_labels, model_args)
            t = time.perf_counter()
            self._knn[key] = knn_within(matrix, k, base, queries, runner=self.runner)
            self.timings["knn"] = self.timings.get("knn", 0.0) + time.perf_counter() - t
        return self._knn[key]

    def _scope_proba(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(normalised out-of-fold probabilities, current-label index) of the mask rows, from the model a detector
        computed last for exactly these rows; None when none did (estimating is not worth a fit)."""
        for key, (proba, classes) in reversed(list(self._proba.items())):
            if key[0] == mask.tobytes() and key[4] is None and mask.any():
                index = {c: i for i, c in enumerate(classes)}
                y = np.array([index[lab] for lab in self.labels[mask]])
                p = proba[mask] / np.clip(proba[mask].sum(axis=1, keepdims=True), 1e-12, None)
                return (p, y) if len(set(y.tolist())) >= 2 else None
        return None

    def noise_rate(self, mask: np.ndarray) -> float | None:
        """cleanlab's estimate of the share of mislabelled examples in mask (see _scope_proba)."""
        from cleanlab.count import num_label_issues

        got = self._scope_proba(mask)
        return None if got is None else float(num_label_issues(got[1], got[0])) / int(mask.sum())

    def oof_proba(self, mask: np.ndarray, labels: np.ndarray | None = None, **model_args) -> tuple[np.ndarray, list[str]]:
        """Class probabilities of a model trained on the masked rows (see _fit_model), as (proba per row, classes)."""
        return self._proba[self._fit_model(mask, labels, **model_args)]

    def validation_fit(self, mask: np.ndarray, labels: np.ndarray | None = None, folds: int = 5, c: float = 2.0,
                       balanced: bool = True, max_fit: int = 20_000, epochs: int = 2, lr: float = 3e-4,
                       train_layers: int = 2) -> dict:
        """Both classifiers on the first fold of the masked rows' own labels (no gold): log-loss and accuracy of the
        linear model and of the fine-tuned encoder on that fold's held-out examples. The folds are those a
        fine-tuned run on the same rows uses, so a fine-tuned fold 0 is stored once and reused by the run."""
        from sklearn.metrics import log_loss

        from curate.detect import oof
        from curate.detect.tuned import tuned_oof
        from curate.finetune import TuneParams

        labels = self.labels if labels is None else labels
        key = (mask.tobytes(), labels.tobytes(), folds, c, balanced, max_fit, epochs, lr, train_layers)
        if key in self._trials:
            return self._trials[key]
        y = labels[mask].astype(str)
        rows, others = np.flatnonzero(mask), np.flatnonzero(~mask)
        jobs = oof.fold_jobs(y, rows, folds, max_fit, self.seed)
        classes = sorted(set(y.tolist()))
        held = jobs[0][1]
        linear = oof.fit_linear(self.model_matrix, jobs[:1], rows, y, classes, c, balanced)[held]
        tuned, _ = tuned_oof(self.fold_store(), jobs, y, classes, rows, others, self.type_features(),
                             TuneParams(epochs=epochs, lr=lr, train_layers=train_layers, balanced=balanced,
                                        seed=self.seed), self.timings, only=1)
        truth = labels[held].astype(str)
        out: dict = {"examples": int(len(held))}
        for name, p in (("linear", linear), ("finetune", tuned[held])):
            p = np.clip(p, 1e-7, None)
            p = p / p.sum(axis=1, keepdims=True)
            out[f"{name}_logloss"] = round(float(log_loss(truth, p, labels=classes)), 4)
            out[f"{name}_accuracy"] = round(float(np.mean(np.asarray(classes)[p.argmax(axis=1)] == truth)), 4)
        self._trials[key] = out
        return out

    def tuned_vectors(self, mask: np.ndarray, labels: np.ndarray | None = None, **model_args) -> np.ndarray:
        """Vectors of the fine-tuned encoder (out-of-fold for masked rows), from the same folds as its probabilities."""
        return self._tuned[self._fit_model(mask, labels, **{**model_args, "classifier": "finetune"})]

    def _fit_model(self, mask: np.ndarray, labels: np.ndarray | None = None, folds: int = 5, c: float = 2.0,
                   balanced: bool = True, max_fit: int = 20_000, classifier: str = "linear", epochs: int = 2,
                   lr: float = 3e-4, train_layers: int = 2) -> tuple:
        """Class probabilities of a classifier trained on the masked rows: a logistic regression on the embeddings
        (classifier='linear', oof.fit_linear) or the encoder fine-tuned with a classification head
        (classifier='finetune', tuned.tuned_oof), on the folds of oof.fold_jobs.

        Masked rows get out-of-fold probabilities (never from a model that saw their label); the other rows get
        the probabilities of a model fitted on all masked rows (fine-tuned: the mean of the fold models). labels
        defaults to the current labels (a clean subset passes its verified ones). Stores (proba for every row,
        classes) and, fine-tuned, the tuned vectors; returns their cache key.
        """
        from curate.detect import oof

        labels = self.labels if labels is None else labels
        tuned = (epochs, lr, train_layers) if classifier == "finetune" else ()
        key = (mask.tobytes(), folds, c if classifier == "linear" else None, balanced,
               labels.tobytes() if labels is not self.labels else None, max_fit, classifier, tuned)
        if key in self._proba:
            return key
        if classifier not in ("linear", "finetune"):
            raise CurateError(f"unknown classifier {classifier!r}; choose linear or finetune")
        y = labels[mask].astype(str)  # rows are taken from the matrix per fit: no full copy of the vectors
        rows, others = np.flatnonzero(mask), np.flatnonzero(~mask)
        jobs = oof.fold_jobs(y, rows, folds, max_fit, self.seed, others if classifier == "linear" else None)
        classes = sorted(set(y.tolist()))
        t = time.perf_counter()
        if classifier == "finetune":
            from curate.detect.tuned import tuned_oof
            from curate.finetune import TuneParams

            full, self._tuned[key] = tuned_oof(
                self.fold_store(), jobs, y, classes, rows, others, self.type_features(),
                TuneParams(epochs=epochs, lr=lr, train_layers=train_layers, balanced=balanced, seed=self.seed),
                self.timings)
        else:
            full = oof.fit_linear(self.model_matrix, jobs, rows, y, classes, c, balanced)
        self.timings["model"] = self.timings.get("model", 0.0) + time.perf_counter() - t
        self._proba[key] = (full, classes)
        return key

    def fold_store(self) -> FoldStore:
        """Where the fine-tuned folds of this dataset are kept, with what they are keyed and trained on."""
        from curate.detect.tuned import FoldStore

        return FoldStore(self.ws, self.dataset, self.task, self.ids, resolve_model(self.model).source,
                         self.model_key)

    def proba_space(self, mask: np.ndarray, labels: np.ndarray | None = None,
                    model_args: dict | None = None) -> np.ndarray:
        """Rows embedded as L2-normalised out-of-fold probability vectors (the space where neighbours relabel best)."""
        proba, _ = self.oof_proba(mask, labels=labels, **(model_args or {}))
        norm = np.linalg.norm(proba, axis=1, keepdims=True)
        return np.divide(proba, norm, out=np.zeros_like(proba), where=norm > 0).astype(np.float32)

    def predictions_file(self, path: str | Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
        """Read user predictions (JSONL: {id, label, probs?: {label: p}}) for the rows they name.

        Returns (predicted label per row or None, probability matrix or None, its class order)."""
        pred = np.full(len(self.ids), None, dtype=object)
        probs: dict[int, dict[str, float]] = {}
        known = set(self.labels.tolist())
        for where, rec in iter_jsonl(Path(path), "predictions file", require=("id",)):
            row = self.row_of.get(str(rec["id"]))
            if row is None:
                raise where.error(f"unknown example id '{rec['id']}'", "id")
            label = rec.get("label")
            if label not in known:
                raise where.error(f"label {label!r} is not a label of this dataset", "label")
            pred[row] = label
            if "probs" in rec:
                p = rec["probs"]
                if not isinstance(p, dict) or not set(p) <= known:
                    raise where.error("probs must map dataset labels to probabilities", "probs")
                probs[row] = p
        if probs:
            classes = sorted(known)
            matrix = np.zeros((len(self.ids), len(classes)))
            for row, p in probs.items():
                for lab, v in p.items():
                    matrix[row, classes.index(lab)] = float(v)
            return pred, matrix, classes
        return pred, None, None

