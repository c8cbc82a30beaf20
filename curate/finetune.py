"""A task-tuned encoder under cross-validation: the top transformer layers and a classification head are
fine-tuned on the users' labels in k folds, giving out-of-fold probabilities and fine-tuned vectors.

The lower layers stay frozen and run once over every example; only the top `train_layers` layers (and the
head) are trained per fold, from those cached states. That is what makes fine-tuning affordable on a CPU:
with 2 of MiniLM's 6 layers trained, an epoch costs about a third of a full fine-tuning epoch. The pooled
vector is built exactly as the frozen representation (sentence mean, plus the mean of each marked span),
so before training the tuned model reproduces the cached embeddings.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from curate.encode import span_positions
from curate.errors import CurateError
from curate.progress import progress

# Architectures whose encoder layers take (hidden_states, attention_mask) and whose embeddings module takes
# input ids and token types; others would need their own layer call.
LAYERED = ("bert", "roberta", "xlm-roberta", "electra", "camembert")


@dataclass(frozen=True)
class TuneParams:
    """How each fold's model is trained."""

    epochs: int = 2
    lr: float = 1e-4
    head_lr: float = 3e-3
    train_layers: int = 2
    batch_size: int = 32
    balanced: bool = True
    seed: int = 0


@dataclass
class Prepared:
    """Frozen lower-layer states of every example, and the token positions of its marked spans."""

    states: list[np.ndarray]  # per example: (tokens, hidden) float16
    spans: list[list[np.ndarray]]  # per example: token positions of each marked span
    parts: int
    frozen: int


def _transformer(st):
    """The Hugging Face model inside a SentenceTransformer, refused when its layers cannot be called alone."""
    auto = getattr(st[0], "auto_model", None)
    kind = getattr(getattr(auto, "config", None), "model_type", None)
    if auto is None or kind not in LAYERED or not hasattr(auto, "encoder"):
        raise CurateError(f"model=finetune supports BERT-style encoders ({', '.join(LAYERED)}); this model is {kind!r}")
    pooling = getattr(st[1], "pooling_mode", "mean") if len(st) > 1 else "mean"
    if pooling != "mean":
        raise CurateError(f"model=finetune needs a mean-pooling model; this one pools by {pooling!r}")
    return auto


def _mask(auto, hidden, attention):
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=auto.config, inputs_embeds=hidden, attention_mask=attention)


def prepare(st, marked: list[tuple[str, list[tuple[int, int]]]], train_layers: int, batch_size: int = 64) -> Prepared:
    """Run the frozen lower layers once over every text; remember the wordpieces inside each char span."""
    import torch

    auto = _transformer(st)
    n_layers = len(auto.encoder.layer)
    if not 1 <= train_layers <= n_layers:
        raise CurateError(f"train_layers must be between 1 and {n_layers} for this model, not {train_layers}")
    frozen = n_layers - train_layers
    texts = [t for t, _ in marked]
    enc = st.tokenizer(texts, truncation=True, max_length=st.max_seq_length, return_offsets_mapping=True)
    spans = []
    for offsets, (_, chars) in zip(enc["offset_mapping"], marked):
        spans.append([np.asarray(span_positions(offsets, lo, hi), dtype=np.int64) for lo, hi in chars])
    states: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
    types_of = enc.get("token_type_ids") or [None] * len(texts)
    order = np.argsort([-len(ids) for ids in enc["input_ids"]], kind="stable")
    auto.eval()
    with progress("fine-tune: frozen layers", total=len(texts), unit="text") as bar, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, attn, types = (t.to(auto.device) for t in _pad([enc["input_ids"][i] for i in idx], [types_of[i] for i in idx]))
            h = auto.embeddings(input_ids=ids, token_type_ids=types)
            mask = _mask(auto, h, attn)
            for layer in auto.encoder.layer[:frozen]:
                h = layer(h, mask)
                h = h[0] if isinstance(h, tuple) else h
            for row, i in enumerate(idx):
                states[i] = h[row, : int(attn[row].sum())].to(torch.float16).cpu().numpy()
            bar.update(len(idx))
    return Prepared(states, spans, 1 + (len(marked[0][1]) if marked else 0), frozen)


def _pad(rows: list[list[int]], types: list[list[int] | None]):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    tt = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, t) in enumerate(zip(rows, types)):
        ids[i, : len(r)] = torch.tensor(r)
        attn[i, : len(r)] = 1
        if t is not None:
            tt[i, : len(t)] = torch.tensor(t)
    return ids, attn, tt


def _head_model(st, prep: Prepared, n_extra: int, n_classes: int):
    """The trainable part: copies of the top layers, the pooling of the frozen representation, a linear head."""
    import torch
    from torch import nn

    auto = _transformer(st)

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in auto.encoder.layer[prep.frozen :])
            dim = auto.config.hidden_size
            self.head = nn.Linear(dim * prep.parts + n_extra, n_classes)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            # Unit-length vectors give small logits; a learnt scale lets the head reach confident ones quickly.
            self.scale = nn.Parameter(torch.tensor(10.0))

        def forward(self, h, attn, span_mask, extra):
            mask = _mask(auto, h, attn)
            for layer in self.layers:
                h = layer(h, mask)
                h = h[0] if isinstance(h, tuple) else h
            a = attn.unsqueeze(-1).to(h.dtype)
            sent = (h * a).sum(1) / a.sum(1).clamp(min=1.0)
            parts = [sent]
            for j in range(prep.parts - 1):
                m = span_mask[:, j].unsqueeze(-1)
                count = m.sum(1)
                # A span cut off by truncation falls back to the sentence vector, as in the frozen encoder.
                parts.append(torch.where(count > 0, (h * m).sum(1) / count.clamp(min=1.0), sent))
            vec = torch.cat([nn.functional.normalize(p, dim=-1) for p in parts], dim=-1) / math.sqrt(prep.parts)
            x = torch.cat([vec, extra], dim=-1) if extra is not None else vec
            return self.scale * self.head(x), vec

    return Top()


def _batch(prep: Prepared, rows: np.ndarray, extra: np.ndarray | None, device: str = "cpu"):
    import torch

    width = max(len(prep.states[r]) for r in rows)
    hidden = prep.states[rows[0]].shape[1]
    h = np.zeros((len(rows), width, hidden), dtype=np.float32)
    attn = np.zeros((len(rows), width), dtype=np.int64)
    span = np.zeros((len(rows), max(prep.parts - 1, 1), width), dtype=np.float32)
    for i, r in enumerate(rows):
        n = len(prep.states[r])
        h[i, :n] = prep.states[r]
        attn[i, :n] = 1
        for j, pos in enumerate(prep.spans[r]):
            span[i, j, pos[pos < n]] = 1.0
    x = torch.from_numpy(np.ascontiguousarray(extra[rows], dtype=np.float32)).to(device) if extra is not None else None
    return torch.from_numpy(h).to(device), torch.from_numpy(attn).to(device), torch.from_numpy(span).to(device), x


def _batches(prep: Prepared, rows: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar length (sorted within pools of 20 batches), so little compute goes to padding."""
    rows = rng.permutation(rows)
    out = []
    for start in range(0, len(rows), size * 20):
        pool = rows[start : start + size * 20]
        pool = pool[np.argsort([len(prep.states[r]) for r in pool], kind="stable")]
        out.extend(pool[i : i + size] for i in range(0, len(pool), size))
    return [out[i] for i in rng.permutation(len(out))]


def train_fold(st, prep: Prepared, train: np.ndarray, y: np.ndarray, n_classes: int, extra: np.ndarray | None,
               params: TuneParams, stage: str, device: str = "cpu"):
    """Fine-tune the top layers and head on the train rows (y: class index per train row); returns the model."""
    import torch

    torch.manual_seed(params.seed)
    model = _head_model(st, prep, 0 if extra is None else extra.shape[1], n_classes).to(device)
    model.train()
    opt, sched = optimiser(model, params, len(train))
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    weight = torch.from_numpy(np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0).astype(np.float32)) \
        if params.balanced else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=None if weight is None else weight.to(device))
    label_of = dict(zip(train.tolist(), y.tolist()))
    rng = np.random.default_rng(params.seed)
    for epoch in range(params.epochs):
        batches = _batches(prep, train, params.batch_size, rng)
        with progress(f"{stage} epoch {epoch + 1}/{params.epochs}", total=len(train), unit="ex") as bar:
            for rows in batches:
                logits, _ = model(*_batch(prep, rows, extra, device))
                step(opt, sched, loss_fn(logits, torch.tensor([label_of[r] for r in rows.tolist()], device=device)))
                bar.update(len(rows))
    model.eval()
    return model


def optimiser(model, params: TuneParams, n_train: int):
    """AdamW over the trained layers (lr) and the head (head_lr), with a linear warm-up over the first tenth of
    the steps and a linear decay to 0: (optimiser, schedule)."""
    import torch

    body = [p for n, p in model.named_parameters() if n.startswith("layers.")]
    top = [p for n, p in model.named_parameters() if not n.startswith("layers.")]
    opt = torch.optim.AdamW([{"params": body, "lr": params.lr}, {"params": top, "lr": params.head_lr}], weight_decay=0.01)
    steps = params.epochs * math.ceil(n_train / params.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps))
    return opt, sched


def step(opt, sched, loss) -> None:
    """One training step on a batch's loss."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()


def predict(model, prep: Prepared, rows: np.ndarray, extra: np.ndarray | None, batch_size: int = 128,
            device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and tuned vectors of the given rows."""
    import torch

    proba, vecs = [], []
    by_length = np.argsort([-len(prep.states[r]) for r in rows], kind="stable")
    order = rows[by_length]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            logits, vec = model(*_batch(prep, part, extra, device))
            proba.append(torch.softmax(logits, dim=-1).cpu().numpy())
            vecs.append(vec.cpu().numpy())
    back = np.argsort(by_length)
    return np.concatenate(proba)[back], np.concatenate(vecs)[back]
