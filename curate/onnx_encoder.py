"""A sentence-transformers model's transformer exported to ONNX and run by onnxruntime, behind the Encoder protocol.

It needs neither torch nor sentence-transformers once the export exists: the tokenizer comes from the model
folder's tokenizer.json (the `tokenizers` library, as the model's fast tokenizer uses it), the pooling and the
maximum length from its sentence-transformers config files. Texts are tokenised in one call, ordered by token
count so batches carry little padding, and batches run on every core at once (one single-threaded onnxruntime
call per core: measured faster than one call using all cores on short sentences, benchmarks/README.md)."""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.encode import BATCH_SIZE
from curate.errors import CurateError

Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]  # rows, token states, sentence, char offsets


@dataclass(frozen=True)
class ModelLayout:
    """What the ONNX encoder needs to know of a sentence-transformers model besides its weights."""

    dim: int
    max_seq_length: int
    pooling: str  # mean | cls | max
    normalise: bool

    @classmethod
    def read(cls, folder: str | Path) -> ModelLayout | None:
        """The layout from a local model folder's config files; None when it is not a plain Transformer + Pooling
        (+ Normalize) model folder (the caller then reads it off the loaded model)."""
        root = Path(folder)
        try:
            modules = json.loads((root / "modules.json").read_text())
            kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
            pool_dir = next(root / m["path"] for m in modules if m["type"].endswith(".Pooling"))
            pool = json.loads((pool_dir / "config.json").read_text())
            seq = json.loads((root / "sentence_bert_config.json").read_text())
        except (OSError, ValueError, KeyError, StopIteration):
            return None
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        modes = [m for m in ("cls_token", "mean_tokens", "max_tokens") if pool.get(f"pooling_mode_{m}")]
        extra = [k for k, v in pool.items() if k.startswith("pooling_mode_") and v
                 and k not in ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens")]
        if len(modes) != 1 or extra:
            return None
        return cls(int(pool["word_embedding_dimension"]), int(seq["max_seq_length"]),
                   {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}[modes[0]],
                   kinds[-1] == "Normalize")

    @classmethod
    def of_model(cls, st: Any) -> ModelLayout:
        """The layout read off a loaded SentenceTransformer (models whose folder is not readable as files)."""
        mode, normalise = None, False
        for module in st:
            kind = type(module).__name__
            if kind == "Pooling":
                mode = module.pooling_mode if isinstance(module.pooling_mode, str) else "+".join(module.pooling_mode)
            elif kind == "Normalize":
                normalise = True
            elif kind != "Transformer":
                raise CurateError(f"the ONNX backend supports Transformer, Pooling and Normalize modules; this model "
                                  f"has {kind}: use --backend torch")
        if mode not in ("mean", "cls", "max"):
            raise CurateError(f"the ONNX backend supports mean, cls and max pooling, not {mode!r}: use --backend torch")
        return cls(st.get_embedding_dimension(), st.max_seq_length, mode, normalise)


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str, normalise: bool) -> np.ndarray:
    """Sentence vectors from token states [batch, tokens, dim] and the attention mask [batch, tokens]."""
    m = mask.astype(np.float32)[..., None]
    if mode == "mean":
        sent = (tokens * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    elif mode == "cls":
        sent = tokens[:, 0]
    else:
        sent = np.where(m > 0, tokens, -1e9).max(axis=1)
    if normalise:
        sent = sent / np.maximum(np.linalg.norm(sent, axis=1, keepdims=True), 1e-12)
    return sent.astype(np.float32)


def _tokenizer(source: str, st: Any | None, max_length: int):
    """The model's fast tokenizer as a `tokenizers.Tokenizer`, truncating at max_length and never padding."""
    from tokenizers import Tokenizer

    path = Path(source) / "tokenizer.json"
    if path.is_file():
        tok = Tokenizer.from_file(str(path))
    elif st is not None and getattr(st.tokenizer, "is_fast", False):
        tok = Tokenizer.from_str(st.tokenizer.backend_tokenizer.to_str())
    else:
        raise CurateError(f"the ONNX backend needs a fast tokenizer (tokenizer.json) in {source}: use --backend torch")
    tok.enable_truncation(max_length)
    tok.no_padding()
    return tok


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OnnxEncoder:
    """A sentence-transformers model's transformer on onnxruntime with the model's own tokenizer and pooling."""

    def __init__(self, source: str, path: Path, variant: str, layout: ModelLayout, st: Any | None = None,
                 workers: int | None = None) -> None:
        import onnxruntime as ort

        self.variant = variant
        self.path = path
        self.layout = layout
        self.max_seq_length = layout.max_seq_length
        self.tokenizer = _tokenizer(source, st, layout.max_seq_length)
        self.workers = workers or cores()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one core per call; calls run side by side (see the module docstring)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        if "CUDAExecutionProvider" in providers:
            opts.intra_op_num_threads = 0  # on a GPU one stream of calls, each with the default threads
            self.workers = 1
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self._inputs = [i.name for i in self.session.get_inputs()]

    def get_embedding_dimension(self) -> int:
        """Width of the sentence vector."""
        return self.layout.dim

    def _run(self, encodings: list, rows: np.ndarray, offsets: bool) -> Batch:
        """One padded batch through the model."""
        length = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        spans = np.zeros((len(rows), length, 2), dtype=np.int64) if offsets else None
        for r, i in enumerate(rows):
            e = encodings[i]
            n = len(e.ids)
            ids[r, :n], mask[r, :n], types[r, :n] = e.ids, e.attention_mask, e.type_ids
            if spans is not None:
                spans[r, :n] = e.offsets
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tokens = self.session.run(None, {k: feed[k] for k in self._inputs})[0]
        return rows, tokens, pool(tokens, mask, self.layout.pooling, self.layout.normalise), spans

    def token_batches(self, texts: list[str], batch_size: int = BATCH_SIZE, offsets: bool = False) -> Iterator[Batch]:
        """(rows, token states, sentence vectors, char offsets [batch, tokens, 2] or None) per batch of texts,
        batched by token count and computed on every core; batches come in an order of their own."""
        if not texts:
            return
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        jobs = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        if self.workers == 1 or len(jobs) == 1:
            for rows in jobs:
                yield self._run(encodings, rows, offsets)
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool_:
            pending: deque = deque()
            for rows in jobs:  # a bounded window: results are consumed as they come, never all held at once
                pending.append(pool_.submit(self._run, encodings, rows, offsets))
                if len(pending) >= 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def token_states(self, texts: list[str], offsets: bool = False) -> tuple[np.ndarray, np.ndarray, Any]:
        """(token states, pooled sentence vectors, char offsets or None) of one batch, in input order."""
        encodings = self.tokenizer.encode_batch(texts)
        _, tokens, sent, spans = self._run(encodings, np.arange(len(texts)), offsets)
        return tokens, sent, spans

    def encode(self, texts: list[str], batch_size: int = BATCH_SIZE, normalize_embeddings: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        """Sentence vectors in input order."""
        out = np.zeros((len(texts), self.layout.dim), dtype=np.float32)
        for rows, _, sent, _ in self.token_batches(texts, batch_size):
            out[rows] = sent
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
