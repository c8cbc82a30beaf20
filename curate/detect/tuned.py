"""Out-of-fold predictions of a fine-tuned encoder (`-p classifier=finetune`), cached in the store one fold at a
time: a run that stops mid-way resumes at the first fold it has not committed."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate.embed import to_matrix
from curate.encode import load_model
from curate.finetune import TuneParams, predict, prepare, train_fold
from curate.relation import marked_text
from curate.spans import marked_span_text
from curate.store import Workspace

log = logging.getLogger(__name__)

VERSION = "ft-1"  # bump when training or pooling changes, so old folds are not reused
Q_META = "SELECT id, text, meta FROM examples WHERE dataset = ?"
Q_HASHES = "SELECT id, text_hash FROM examples WHERE dataset = ?"
Q_DONE = "SELECT DISTINCT fold FROM tuned_folds WHERE dataset = ? AND key = ?"
Q_FOLDS = "SELECT fold, example_id, proba, vector FROM tuned_folds WHERE dataset = ? AND key = ? ORDER BY fold"


@dataclass(frozen=True)
class FoldStore:
    """A dataset's fine-tuned folds in the workspace: the rows (example ids) they cover, the embedding model they
    tune (its source and cache key), and the encoder inputs read when a fold has to be trained."""

    ws: Workspace
    dataset: str
    task: str
    ids: list[str]
    model_source: str
    model_key: str

    def inputs(self) -> list[tuple[str, list[tuple[int, int]]]]:
        """Per row, the text the encoder reads and the char spans it pools (entities, the span, or none)."""
        rows = {i: (t, m) for i, t, m in self.ws.con.execute(Q_META, [self.dataset]).fetchall()}
        out = []
        for example_id in self.ids:
            text, meta = rows[example_id]
            if self.task == "relation":
                t, subj, obj = marked_text(json.loads(meta))
                out.append((t, [subj, obj]))
            elif self.task == "span":
                t, span = marked_span_text(json.loads(meta))
                out.append((t, [span]))
            else:
                out.append((text, []))
        return out

    def key(self, jobs: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, classes: list[str], rows: np.ndarray,
            others: np.ndarray, extra: np.ndarray | None, params: TuneParams) -> str:
        """What the folds learnt from and predict: rows with their ids, text hashes and labels, each fold's training
        rows, the rows outside the mask, the type features, the training parameters, the model and this code."""
        hashes = dict(self.ws.con.execute(Q_HASHES, [self.dataset]).fetchall())
        h = hashlib.sha256(json.dumps({"version": VERSION, "params": vars(params), "classes": classes,
                                       "model": self.model_key}, sort_keys=True).encode())
        for r, label in zip(rows.tolist(), y.tolist()):
            h.update(f"{self.ids[r]}\x1f{hashes[self.ids[r]]}\x1f{label}\x1e".encode())
        for r in others.tolist():
            h.update(f"{self.ids[r]}\x1f{hashes[self.ids[r]]}\x1e".encode())
        for train_idx, _ in jobs:  # the folds and the max_fit cap, as the training rows they chose
            h.update(np.asarray(train_idx, dtype=np.int64).tobytes() + b"\x1d")
        if extra is not None:
            h.update(np.ascontiguousarray(extra, dtype=np.float32).tobytes())
        return h.hexdigest()[:32]

    def done(self, key: str) -> set[int]:
        """Folds already committed under key."""
        return {r[0] for r in self.ws.con.execute(Q_DONE, [self.dataset, key]).fetchall()}

    def save(self, key: str, fold: int, target: np.ndarray, proba: np.ndarray, vecs: np.ndarray) -> None:
        """Commit one fold's predictions for the target rows, whole or not at all."""
        table = pa.table({
            "dataset": [self.dataset] * len(target), "key": [key] * len(target), "fold": [fold] * len(target),
            "example_id": [self.ids[r] for r in target],
            "proba": pa.array(list(proba.astype(np.float32)), type=pa.list_(pa.float32())),
            "vector": pa.array(list(vecs.astype(np.float32)), type=pa.list_(pa.float32())),
        })
        with self.ws.transaction():
            self.ws.append_arrow("tuned_folds", table)

    def load(self, key: str, n_classes: int, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Assemble the stored folds: held-out rows from their fold, other rows averaged over the folds."""
        data = self.ws.arrow(Q_FOLDS, [self.dataset, key])
        ids = data.column("example_id").to_pylist()
        proba = to_matrix(data.column("proba")).astype(np.float64).reshape(len(ids), n_classes)
        vecs = to_matrix(data.column("vector"))
        row_of = {e: i for i, e in enumerate(self.ids)}
        at = np.array([row_of[e] for e in ids], dtype=np.int64)
        full_p = np.zeros((len(self.ids), n_classes))
        full_v = np.zeros((len(self.ids), vecs.shape[1] if len(vecs) else 0), dtype=np.float32)
        np.add.at(full_p, at, proba)
        np.add.at(full_v, at, vecs)
        seen = np.maximum(np.bincount(at, minlength=len(self.ids)).astype(np.float64), 1)[:, None]
        full_p /= seen
        full_v /= seen
        if len(others):
            norm = np.linalg.norm(full_v[others], axis=1, keepdims=True)
            full_v[others] /= np.maximum(norm, 1e-12)
        return full_p, full_v


def tuned_oof(store: FoldStore, jobs: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, classes: list[str],
              rows: np.ndarray, others: np.ndarray, extra: np.ndarray | None, params: TuneParams,
              timings: dict[str, float], only: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train one model per fold job (train indices into rows, held-out rows); every fold also predicts the rows
    outside the mask, which get the mean of the fold models. Returns (proba, vectors) for all rows; adds its stage
    times to timings. only=k trains the first k folds alone (a validation fold: stored as the full run's own)."""
    key = store.key(jobs, y, classes, rows, others, extra, params)
    done = store.done(key)
    todo = [f for f in range(len(jobs) if only is None else min(only, len(jobs))) if f not in done]
    if done:
        log.info("fine-tuned model: %d of %d folds reused from the store", len(done), len(jobs))
    if todo:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        st = load_model(store.model_source, device)
        t = time.perf_counter()
        prep = prepare(st, store.inputs(), params.train_layers)
        timings["finetune_prepare"] = time.perf_counter() - t
        index = np.array([classes.index(c) for c in y])
        for fold in todo:
            train_idx, heldout = jobs[fold]
            t = time.perf_counter()
            model = train_fold(st, prep, rows[train_idx], index[train_idx], len(classes), extra, params,
                               f"fine-tune fold {fold + 1}/{len(jobs)}", device)
            timings["finetune_train"] = timings.get("finetune_train", 0.0) + time.perf_counter() - t
            timings["finetune_trained_examples"] = timings.get("finetune_trained_examples", 0) + \
                len(train_idx) * params.epochs
            target = np.concatenate([heldout, others])
            proba, vecs = predict(model, prep, target, extra, device=device)
            store.save(key, fold, target, proba, vecs)
    return store.load(key, len(classes), others)
