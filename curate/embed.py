"""The embedding cache: vectors keyed by text content and a CacheKey (model, backend, representation), filled by
embed_dataset and read by every detector. Encoding itself lives in curate.encode, backends in curate.backends."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from curate.backends import STORED_ORDER
from curate.encode import (BATCH_SIZE, REPR_TEXT, ModelSpec, TorchEncoder, encode_rows, encode_texts, load_model,
                           representation_for, resolve_model, vector_width)
from curate.errors import CurateError
from curate.progress import progress
from curate.store import Workspace

log = logging.getLogger(__name__)

WRITE_CHUNK = 2048

Q_MISSING_EXAMPLES = """
    SELECT e.text_hash, any_value(e.text) AS text, any_value(e.meta) AS meta
    FROM examples e
    WHERE e.dataset = ? AND NOT EXISTS (
        SELECT 1 FROM embeddings v WHERE v.text_hash = e.text_hash AND v.model = ?)
    GROUP BY e.text_hash
"""
Q_MISSING_TEXTS = """
    SELECT t.text_hash, any_value(t.text) AS text, NULL AS meta
    FROM texts t
    WHERE t.dataset = ? AND NOT EXISTS (
        SELECT 1 FROM embeddings v WHERE v.text_hash = t.text_hash AND v.model = ?)
    GROUP BY t.text_hash
"""
Q_COUNT_HASHES = "SELECT count(DISTINCT text_hash) FROM examples WHERE dataset = ?"
Q_COUNT_TEXT_HASHES = "SELECT count(DISTINCT text_hash) FROM texts WHERE dataset = ?"
Q_VECTORS = """
    SELECT e.id, e.split, e.label, v.vector
    FROM examples e LEFT JOIN embeddings v ON v.text_hash = e.text_hash AND v.model = ?
    WHERE e.dataset = ? {split_filter}
    ORDER BY e.split, e.ord
"""
Q_TEXT_VECTORS = """
    SELECT t.id, v.vector
    FROM texts t LEFT JOIN embeddings v ON v.text_hash = t.text_hash AND v.model = ?
    WHERE t.dataset = ? AND t.kind = ?
    ORDER BY t.id
"""
Q_STORED = """
    SELECT v.model, count(DISTINCT v.text_hash) FROM embeddings v
    WHERE v.model IN (SELECT unnest(?::VARCHAR[])) AND v.text_hash IN (SELECT text_hash FROM {table} WHERE dataset = ?)
    GROUP BY v.model
"""


@dataclass(frozen=True)
class CacheKey:
    """What made a cached vector: the model, the backend that ran it and the representation. Stored as one string
    (embeddings.model), 'MODEL[+BACKEND]#REPRESENTATION', torch unnamed as before backends existed."""

    model: str
    backend: str
    representation: str

    def __str__(self) -> str:
        return f"{self.model}{'' if self.backend == 'torch' else '+' + self.backend}#{self.representation}"

    @classmethod
    def parse(cls, text: str) -> CacheKey:
        """The key a stored string names."""
        head, _, representation = text.rpartition("#")
        backend = next((b for b in STORED_ORDER[1:] if head.endswith("+" + b)), "torch")
        model = head[: -len(backend) - 1] if backend != "torch" else head
        return cls(model, backend, representation)

    @classmethod
    def of(cls, spec: ModelSpec, representation: str, backend: str = "torch") -> CacheKey:
        """The key of a resolved model's vectors."""
        return cls(spec.model_id, backend, representation)

    def with_backend(self, backend: str) -> CacheKey:
        """The same model and representation from another backend."""
        return CacheKey(self.model, backend, self.representation)


@dataclass
class EmbedResult:
    """What an embed call did."""

    dataset: str
    model: str
    representation: str
    total: int
    cached: int
    computed: int
    seconds: float
    dim: int | None = None
    backend: str = "torch"
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _table(ws: Workspace, name: str) -> str:
    return "texts" if ws.dataset(name).task == "retrieval" else "examples"


def stored_key(ws: Workspace, name: str, spec: ModelSpec, representation: str, *,
               complete: bool = True) -> CacheKey | None:
    """The key a dataset's vectors are read from: the backend it was last embedded with when its vectors are
    complete, else the first of torch, onnx, onnx-int8 that covers every text, else torch's. complete=False: the
    recorded backend, else the one with the most vectors, None when there are none.

    The record matters because other code (the ARHN embedding judge) caches some of the same texts with torch:
    the choice must not flip when that makes torch's entries complete too."""
    info = ws.dataset(name)
    base = CacheKey.of(spec, representation)
    recorded = info.meta.get("embedding_backends", {}).get(str(base))
    backends = ([recorded] if recorded in STORED_ORDER else []) + [b for b in STORED_ORDER if b != recorded]
    keys = [base.with_backend(b) for b in backends]
    table = _table(ws, name)
    have = dict(ws.con.execute(Q_STORED.format(table=table), [[str(k) for k in keys], name]).fetchall())
    count = {k: have.get(str(k), 0) for k in keys}
    if complete:
        total = ws.one(Q_COUNT_TEXT_HASHES if table == "texts" else Q_COUNT_HASHES, [name])[0]
        return next((k for k in keys if count[k] >= total and total), base)
    if recorded in STORED_ORDER and count[keys[0]]:
        return keys[0]
    best = max(keys, key=lambda k: (count[k], -keys.index(k)))
    return best if count[best] else None


def _record_backend(ws: Workspace, name: str, key: CacheKey) -> None:
    """Remember which backend made a dataset's vectors (keyed by the model and representation's torch key)."""
    backends = ws.dataset(name).meta.get("embedding_backends", {})
    base = str(key.with_backend("torch"))
    if backends.get(base) != key.backend:
        ws.update_dataset_meta(name, embedding_backends={**backends, base: key.backend})


def _missing(ws: Workspace, name: str, key: CacheKey) -> tuple[list, int]:
    """(text hash, text, meta) of the dataset's texts with no vector under key, and how many texts it has."""
    if _table(ws, name) == "texts":
        return ws.con.execute(Q_MISSING_TEXTS, [name, str(key)]).fetchall(), ws.one(Q_COUNT_TEXT_HASHES, [name])[0]
    return ws.con.execute(Q_MISSING_EXAMPLES, [name, str(key)]).fetchall(), ws.one(Q_COUNT_HASHES, [name])[0]


def put_vectors(ws: Workspace, key: CacheKey, hashes: list[str], vecs: np.ndarray) -> None:
    """Add vectors to the cache under key (one append: a chunk is stored whole or not at all)."""
    flat = pa.array(vecs.astype(np.float32, copy=False).ravel(), type=pa.float32())
    offsets = pa.array(np.arange(0, vecs.size + 1, vecs.shape[1], dtype=np.int32))
    ws.append_arrow("embeddings", pa.table({
        "text_hash": pa.array(hashes, type=pa.string()),
        "model": pa.array([str(key)] * len(hashes), type=pa.string()),
        "vector": pa.ListArray.from_arrays(offsets, flat),
    }))


def embed_dataset(
    ws: Workspace, name: str, *, model: str | None = None, batch_size: int = BATCH_SIZE, device: str | None = None,
    backend: str = "auto", force: bool = False, sort_by_length: bool = True,
) -> EmbedResult:
    """Embed every example (and retrieval query/passage) not yet in the cache for this model and backend.

    backend 'auto' keeps to the backend a dataset was already embedded with; for a new one it takes onnx fp32
    when onnxruntime is installed and its export passes the guard, else torch (see curate.backends)."""
    from curate.backends import BACKENDS, open_encoder

    if backend not in BACKENDS:
        raise CurateError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    started = time.perf_counter()
    info = ws.dataset(name)
    spec = resolve_model(model)
    key = CacheKey.of(spec, representation_for(info.task))
    chosen = backend
    if backend == "auto":
        have = stored_key(ws, name, spec, key.representation, complete=False)
        if have:  # a dataset's vectors come from one backend; an interrupted run goes on
            key, chosen = have, have.backend
    else:
        key = key.with_backend(backend)
    missing, total = _missing(ws, name, key)
    result = EmbedResult(name, spec.model_id, key.representation, int(total), int(total) - len(missing), 0, 0.0,
                         backend=key.backend)
    if missing:
        t = time.perf_counter()
        opened = open_encoder(spec.source, chosen, [m[1] for m in missing], force=force, device=device)
        result.timings["open"] = round(time.perf_counter() - t, 3)
        result.notes = opened.notes
        if opened.backend != key.backend:
            key = key.with_backend(opened.backend)
            missing, total = _missing(ws, name, key)
            result.cached = int(total) - len(missing)
        result.backend = opened.backend
        if sort_by_length:  # across chunks, not only within one: batches then carry little padding
            missing.sort(key=lambda m: -len(m[1] or ""))
        result.dim = vector_width(opened.encoder, key.representation)
        encode_s = write_s = 0.0
        with progress(f"embed {name} ({opened.backend})", total=len(missing), unit="text") as bar:
            for start in range(0, len(missing), WRITE_CHUNK):
                chunk = missing[start : start + WRITE_CHUNK]
                t = time.perf_counter()
                vecs = encode_rows(opened.encoder, key.representation, [m[1] for m in chunk],
                                   [json.loads(m[2]) if m[2] else None for m in chunk], batch_size)
                encode_s += time.perf_counter() - t
                t = time.perf_counter()
                # Each chunk commits on its own: an interrupted run keeps what it already paid for.
                put_vectors(ws, key, [m[0] for m in chunk], vecs)
                write_s += time.perf_counter() - t
                result.computed += len(chunk)
                bar.update(len(chunk))
        result.timings.update(encode=round(encode_s, 3), write=round(write_s, 3))
    if total and (missing or backend != "auto"):
        _record_backend(ws, name, key)
    result.seconds = round(time.perf_counter() - started, 3)
    log.info("embedded %s: %d computed, %d cached", name, result.computed, result.cached)
    return result


def to_matrix(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A column of equal-length float lists as a float32 matrix (no per-row Python objects)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(arr) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(arr), -1)


@dataclass
class Vectors:
    """Vectors of a dataset's examples in stable order, with their ids, splits and labels."""

    ids: list[str]
    splits: np.ndarray
    labels: np.ndarray
    matrix: np.ndarray
    key: CacheKey


def load_vectors(ws: Workspace, name: str, *, model: str | None = None, split: str | None = None,
                 key: CacheKey | None = None) -> Vectors:
    """Cached vectors of a dataset's examples (under key, default the dataset's stored key); a clear error names
    the command when some are missing."""
    info = ws.dataset(name)
    key = key or stored_key(ws, name, resolve_model(model), representation_for(info.task))
    sql = Q_VECTORS.format(split_filter="AND e.split = ?" if split else "")
    table = ws.arrow(sql, [str(key), name] + ([split] if split else []))
    missing = table.column("vector").null_count
    if missing:
        raise CurateError(
            f"{missing} of {table.num_rows} examples of '{name}' have no embeddings for {key}; "
            f"run: curate embed {name}" + (f" --model {model}" if model else "")
        )
    return Vectors(
        ids=table.column("id").to_pylist(),
        splits=np.asarray(table.column("split").to_pylist(), dtype=object),
        labels=np.asarray(table.column("label").to_pylist(), dtype=object),
        matrix=to_matrix(table.column("vector")),
        key=key,
    )


def load_text_vectors(ws: Workspace, name: str, kind: str, *, model: str | None = None) -> tuple[list[str], np.ndarray]:
    """Cached vectors of a retrieval dataset's queries or passages, by id."""
    key = stored_key(ws, name, resolve_model(model), REPR_TEXT)
    table = ws.arrow(Q_TEXT_VECTORS, [str(key), name, kind])
    if table.column("vector").null_count:
        raise CurateError(f"some {kind} texts of '{name}' have no embeddings for {key}; run: curate embed {name}")
    return table.column("id").to_pylist(), to_matrix(table.column("vector"))


def vectors_for_texts(ws: Workspace, texts: list[str], *, model: str | None = None,
                      batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Sentence vectors of arbitrary texts (e.g. passage sentences) through the same cache: only misses are encoded
    (with torch fp32, whatever backend the dataset used)."""
    from curate.ingest.base import text_hash

    spec = resolve_model(model)
    key = CacheKey.of(spec, REPR_TEXT)
    hashes = [text_hash(t) for t in texts]
    unique = dict(zip(hashes, texts))
    found = ws.arrow("SELECT text_hash, vector FROM embeddings WHERE model = ? "
                     "AND text_hash IN (SELECT unnest(?::VARCHAR[]))", [str(key), list(unique)])
    have = dict(zip(found.column("text_hash").to_pylist(), to_matrix(found.column("vector")))) if found.num_rows else {}
    missing = [h for h in unique if h not in have]
    if missing:
        vecs = encode_texts(TorchEncoder(load_model(spec.source)), [unique[h] for h in missing], batch_size)
        put_vectors(ws, key, missing, vecs)
        have.update(zip(missing, vecs))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([have[h] for h in hashes]).astype(np.float32)
