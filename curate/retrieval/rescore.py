"""Rescoring mined candidates with a second model before the margins apply: a cross-encoder (as
sentence-transformers' mine_hard_negatives(cross_encoder=...) does) or a teacher embedding model (positive-aware
mining with a stronger model's scores, as NV-Retriever does)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from curate.errors import NotFound
from curate.progress import progress

BATCH = 32  # mine_hard_negatives' default batch_size: the same batches give the same padded inputs


@lru_cache(maxsize=2)
def load_cross_encoder(source: str, device: str = "cpu"):
    """A sentence-transformers CrossEncoder, loaded once per process; a local folder never touches a model hub."""
    if Path(source).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        source = str(Path(source).resolve())
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(source, device=device)
    except OSError as exc:
        raise NotFound(f"cannot load cross-encoder '{source}': {exc}") from None


def cross_encoder_scores(source: str, pairs: list[tuple[str, str]], *, chunk: int = 4096,
                         quiet: bool = False) -> np.ndarray:
    """The cross-encoder's score of every (query, passage) pair, as its predict() returns it (quiet: no progress
    bar, for callers that score a few pairs at a time)."""
    ce = load_cross_encoder(source)
    out = np.zeros(len(pairs), dtype=np.float64)

    def score(start: int) -> int:
        part = pairs[start : start + chunk]
        out[start : start + len(part)] = np.asarray(ce.predict(part, batch_size=BATCH, show_progress_bar=False),
                                                    dtype=np.float64).reshape(len(part))
        return len(part)

    if quiet:
        for start in range(0, len(pairs), chunk):
            score(start)
        return out
    with progress("cross-encoder rescoring", total=len(pairs), unit="pair") as bar:
        for start in range(0, len(pairs), chunk):
            bar.update(score(start))
    return out


def teacher_scores(ws, model: str, pairs: list[tuple[str, str]]) -> np.ndarray:
    """The teacher embedding model's cosine similarity of every (query, passage) pair (vectors cached)."""
    from curate.embed import vectors_for_texts

    queries = sorted({q for q, _ in pairs})
    passages = sorted({p for _, p in pairs})
    qv = dict(zip(queries, vectors_for_texts(ws, queries, model=model)))
    pv = dict(zip(passages, vectors_for_texts(ws, passages, model=model)))
    return np.fromiter((float(qv[q] @ pv[p]) for q, p in pairs), dtype=np.float64, count=len(pairs))


def rescore(ws, cross_encoder: str | None, teacher: str | None, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Scores of (query text, passage text) pairs by the cross-encoder, else the teacher."""
    if cross_encoder:
        return cross_encoder_scores(cross_encoder, pairs)
    assert teacher
    return teacher_scores(ws, teacher, pairs)
