"""Out-of-fold per-word tag probabilities from a token-classification head on the encoder, fine-tuned in k folds
of sentences (token-issues `-p classifier=finetune`).

As for example-level fine-tuning (curate.finetune), the lower layers run once over every sentence and only the
top layers and the head train per fold; each word's vector is the mean of its wordpieces after them, and a
linear head over the IOB2 tags reads it. Each fold's held-out probabilities are committed to the store
(tuned_folds, keyed by the sentences, their tags, the folds, the settings and the model) as soon as the fold is
done, so a run that stops resumes at the first fold it has not committed, and an identical run trains nothing.
On CUDA when present.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging

import numpy as np
import pyarrow as pa

from curate.encode import load_model
from curate.finetune import TuneParams, _mask, _transformer, optimiser, prepare, step
from curate.progress import progress
from curate.store import Workspace

log = logging.getLogger(__name__)

VERSION = "tok-1"  # bump when training or pooling changes, so old folds are not reused
Q_DONE = "SELECT DISTINCT fold FROM tuned_folds WHERE dataset = ? AND key = ?"
Q_FOLDS = "SELECT example_id, proba FROM tuned_folds WHERE dataset = ? AND key = ?"


def word_chars(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The sentence as the encoder reads it (words joined by spaces) and each word's char span."""
    spans, at = [], 0
    for w in words:
        spans.append((at, at + len(w)))
        at += len(w) + 1
    return " ".join(words), spans


def _tagger(st, frozen: int, n_classes: int):
    """Copies of the top layers and a linear head over each word's mean wordpiece state."""
    import torch
    from torch import nn

    auto = _transformer(st)

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in auto.encoder.layer[frozen:])
            self.head = nn.Linear(auto.config.hidden_size, n_classes)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            self.scale = nn.Parameter(torch.tensor(10.0))

        def forward(self, h, attn, words):  # words: [batch, n_words, pieces] 0/1
            mask = _mask(auto, h, attn)
            for layer in self.layers:
                h = layer(h, mask)
                h = h[0] if isinstance(h, tuple) else h
            count = words.sum(-1, keepdim=True).clamp(min=1.0)
            vec = nn.functional.normalize(torch.bmm(words, h) / count, dim=-1)
            return self.scale * self.head(vec)

    return Tagger()


def _batch(prep, rows: np.ndarray, n_words: list[int], device: str):
    import torch

    width = max(len(prep.states[r]) for r in rows)
    most = max(n_words[r] for r in rows)
    hidden = prep.states[rows[0]].shape[1]
    h = np.zeros((len(rows), width, hidden), dtype=np.float32)
    attn = np.zeros((len(rows), width), dtype=np.int64)
    words = np.zeros((len(rows), most, width), dtype=np.float32)
    for i, r in enumerate(rows):
        n = len(prep.states[r])
        h[i, :n] = prep.states[r]
        attn[i, :n] = 1
        for j, pos in enumerate(prep.spans[r]):
            words[i, j, pos[pos < n]] = 1.0  # a word cut off by truncation has no pieces: it reads zeros
    return torch.from_numpy(h).to(device), torch.from_numpy(attn).to(device), torch.from_numpy(words).to(device)


def train_tagger(st, prep, frozen: int, train: np.ndarray, tags: list[np.ndarray], n_classes: int,
                 params: TuneParams, stage: str, device: str = "cpu"):
    """Fine-tune the top layers and the tag head on the train sentences; returns the model."""
    import torch

    torch.manual_seed(params.seed)
    n_words = [len(t) for t in tags]
    model = _tagger(st, frozen, n_classes).to(device)
    model.train()
    opt, sched = optimiser(model, params, len(train))
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    rng = np.random.default_rng(params.seed)
    for epoch in range(params.epochs):
        order = rng.permutation(train)
        with progress(f"{stage} epoch {epoch + 1}/{params.epochs}", total=len(train), unit="sentence") as bar:
            for start in range(0, len(order), params.batch_size):
                rows = order[start : start + params.batch_size]
                logits = model(*_batch(prep, rows, n_words, device))
                target = np.full(logits.shape[:2], -100, dtype=np.int64)
                for i, r in enumerate(rows):
                    target[i, : n_words[r]] = tags[r]
                step(opt, sched, loss_fn(logits.reshape(-1, n_classes),
                                         torch.from_numpy(target.reshape(-1)).to(device)))
                bar.update(len(rows))
    model.eval()
    return model


def predict_tags(model, prep, rows: np.ndarray, n_words: list[int], device: str = "cpu",
                 batch_size: int = 64) -> list[np.ndarray]:
    """Per sentence of rows, its words' tag probabilities [words, classes]."""
    import torch

    out: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            part = rows[start : start + batch_size]
            proba = torch.softmax(model(*_batch(prep, part, n_words, device)), dim=-1).cpu().numpy()
            out.extend(proba[i, : n_words[r]] for i, r in enumerate(part))
    return out


def tuned_tag_proba(ws: Workspace, dataset: str, ids: list[str], words: list[list[str]], tags: list[np.ndarray],
                    classes: list[str], folds: list[tuple[np.ndarray, np.ndarray]], model_source: str,
                    model_key: str, params: TuneParams) -> list[np.ndarray]:
    """Out-of-fold tag probabilities per sentence (folds: train and held-out sentence indices), each fold
    committed to the store when done and reused when the same sentences, tags, folds and settings come again."""
    h = hashlib.sha256(json.dumps({"version": VERSION, "params": vars(params), "classes": classes,
                                   "model": model_key}, sort_keys=True).encode())
    for sid, w, t in zip(ids, words, tags):
        h.update(f"{sid}\x1f{' '.join(w)}\x1f{t.tolist()}\x1e".encode())
    for train, _ in folds:
        h.update(np.asarray(train, dtype=np.int64).tobytes() + b"\x1d")
    key = "tok-" + h.hexdigest()[:28]
    done = {r[0] for r in ws.con.execute(Q_DONE, [dataset, key]).fetchall()}
    todo = [f for f in range(len(folds)) if f not in done]
    if done:
        log.info("fine-tuned tagger: %d of %d folds reused from the store", len(done), len(folds))
    if todo:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        st = load_model(model_source, device)
        prep = prepare(st, [word_chars(w) for w in words], params.train_layers)
        n_words = [len(w) for w in words]
        for fold in todo:
            train, held = folds[fold]
            model = train_tagger(st, prep, prep.frozen, np.asarray(train), tags, len(classes), params,
                                 f"fine-tune tagger fold {fold + 1}/{len(folds)}", device)
            proba = predict_tags(model, prep, np.asarray(held), n_words, device)
            table = pa.table({
                "dataset": [dataset] * len(held), "key": [key] * len(held), "fold": [fold] * len(held),
                "example_id": [ids[r] for r in held],
                "proba": pa.array([p.astype(np.float32).reshape(-1) for p in proba], type=pa.list_(pa.float32())),
                "vector": pa.array([np.zeros(0, dtype=np.float32)] * len(held), type=pa.list_(pa.float32())),
            })
            with ws.transaction():
                ws.append_arrow("tuned_folds", table)
    data = ws.arrow(Q_FOLDS, [dataset, key])
    got = dict(zip(data.column("example_id").to_pylist(), data.column("proba").to_pylist()))
    return [np.asarray(got[sid], dtype=np.float64).reshape(len(w), len(classes)) for sid, w in zip(ids, words)]

