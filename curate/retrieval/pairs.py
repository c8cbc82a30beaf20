"""A retrieval dataset as arrays: (query, passage) pairs with current labels, and query/passage vectors by id."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curate.embed import load_text_vectors
from curate.errors import CurateError
from curate.ingest.retrieval import NEGATIVE, POSITIVE
from curate.store import Workspace

Q_PAIRS = """
    SELECT id, split, label, json_extract_string(meta, '$.query_id') AS qid,
           json_extract_string(meta, '$.passage_id') AS pid, json_extract_string(meta, '$.source') AS source
    FROM current_examples WHERE dataset = ? AND NOT removed ORDER BY split, ord
"""
Q_TEXTS = "SELECT id, text FROM texts WHERE dataset = ? AND kind = ?"


@dataclass
class Pairs:
    """The live (not removed) pairs of a retrieval dataset, with current labels."""

    ids: np.ndarray
    splits: np.ndarray
    labels: np.ndarray
    qids: np.ndarray
    pids: np.ndarray
    sources: np.ndarray
    positives: dict[str, list[str]] = field(default_factory=dict)

    @property
    def negative(self) -> np.ndarray:
        """Mask of pairs labelled negative."""
        return self.labels == NEGATIVE

    def query_passage(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(query ids, passage ids) of the given pair (example) ids."""
        row = {e: i for i, e in enumerate(self.ids.tolist())}
        at = np.array([row[e] for e in ids], dtype=np.int64)
        return self.qids[at], self.pids[at]


def load_pairs(ws: Workspace, name: str) -> Pairs:
    """Pairs of a retrieval dataset; errors if the dataset is not a retrieval one."""
    info = ws.dataset(name)
    if info.task != "retrieval":
        raise CurateError(f"dataset '{name}' is a {info.task} dataset; this needs retrieval pairs "
                          f"(ingest with --format triplets or beir)")
    rows = ws.con.execute(Q_PAIRS, [name]).fetchall()
    cols = list(zip(*rows)) if rows else [[]] * 6
    pairs = Pairs(*(np.asarray(c, dtype=object) for c in cols))
    for qid, pid, label in zip(pairs.qids, pairs.pids, pairs.labels):
        if label == POSITIVE:
            pairs.positives.setdefault(qid, []).append(pid)
    return pairs


class TextVectors:
    """Query or passage vectors of a retrieval dataset, looked up by id."""

    def __init__(self, ws: Workspace, name: str, kind: str, model: str | None = None, prompt: str | None = None) -> None:
        if prompt:  # vectors of prompt + text, as sentence-transformers' encode(prompt=...) makes them, cached
            texts = texts_by_id(ws, name, kind)
            ids = list(texts)
            self.matrix = prompted_vectors(ws, [texts[i] for i in ids], prompt, model)
        else:
            ids, self.matrix = load_text_vectors(ws, name, kind, model=model)
        self._set(ids, self.matrix)

    @classmethod
    def from_arrays(cls, ids: list[str], matrix: np.ndarray) -> TextVectors:
        """Vectors given as ids and a matrix in their order (e.g. another model's)."""
        self = cls.__new__(cls)
        self._set(ids, matrix)
        return self

    def _set(self, ids: list[str], matrix: np.ndarray) -> None:
        import pandas as pd

        self.matrix = matrix
        self.ids = np.asarray(ids, dtype=object)
        self._index = pd.Index(ids)
        self.row = {i: r for r, i in enumerate(ids)}

    def rows(self, ids) -> np.ndarray:
        """Row numbers of the given ids (-1 for unknown ids)."""
        if len(ids) < 256:  # a dict is faster for the many small lookups, the index for the big ones
            return np.fromiter((self.row.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        return self._index.get_indexer(list(ids)).astype(np.int64)

    def known_rows(self, ids) -> np.ndarray:
        """Row numbers of the given ids, which must all be known."""
        rows = self.rows(ids)
        if (rows < 0).any():
            raise CurateError(f"no vector for {ids[int(np.flatnonzero(rows < 0)[0])]!r}; run: curate embed")
        return rows

    def of(self, ids) -> np.ndarray:
        """Vectors of the given ids, which must all be known."""
        return self.matrix[self.known_rows(ids)]


def prompted_vectors(ws: Workspace, texts: list[str], prompt: str, model: str | None = None) -> np.ndarray:
    """Vectors of prompt + text through the embedding cache (the prompt is part of the hashed text, so it is part
    of the cache key); refused for a model whose pooling leaves the prompt's tokens out (include_prompt=False),
    where prompt + text is not what sentence-transformers embeds."""
    from curate.embed import vectors_for_texts
    from curate.encode import load_model, resolve_model

    st = load_model(resolve_model(model).source)
    if any(getattr(m, "include_prompt", True) is False for m in st):
        raise CurateError(f"the model '{model or 'default'}' pools without its prompt tokens (include_prompt=False): "
                          "prompts are not supported for it yet")
    return vectors_for_texts(ws, [prompt + t for t in texts], model=model)


def texts_by_id(ws: Workspace, name: str, kind: str) -> dict[str, str]:
    """Query or passage texts of a retrieval dataset by id."""
    return dict(ws.con.execute(Q_TEXTS, [name, kind]).fetchall())


__all__ = ["NEGATIVE", "POSITIVE", "Pairs", "TextVectors", "load_pairs", "prompted_vectors", "texts_by_id"]
