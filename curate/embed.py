"""The embedding cache: vectors keyed by text content and a CacheKey (model, backend, representation), filled by
embed_dataset and read by every detector. Encoding itself lives in curate.encode, backends in curate.backends."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.backends import STORED_ORDER
from curate.encode import (BATCH_SIZE, REPR_TEXT, ModelSpec, TorchEncoder, encode_rows, encode_texts, load_model,
                           representation_for, resolve_model, vector_width)
from curate.engine.options import EngineOptions
from curate.errors import CurateError
from curate.progress import progress
from curate.store import Workspace
from curate.vectors import VectorStore, read_shard, register_shards

log = logging.getLogger(__name__)

WRITE_CHUNK = 2048

# {vectors} is the relation of the text hashes of every vector under one key the workspace reads (_hashes_sql).
Q_MISSING_EXAMPLES = """
    SELECT e.text_hash, any_value(e.text) AS text, any_value(e.meta) AS meta
    FROM examples e ANTI JOIN ({vectors}) v ON v.text_hash = e.text_hash
    WHERE e.dataset = ? GROUP BY e.text_hash
"""
Q_MISSING_TEXTS = """
    SELECT t.text_hash, any_value(t.text) AS text, NULL AS meta
    FROM texts t ANTI JOIN ({vectors}) v ON v.text_hash = t.text_hash
    WHERE t.dataset = ? GROUP BY t.text_hash
"""
Q_COUNT_HASHES = "SELECT count(DISTINCT text_hash) FROM examples WHERE dataset = ?"
Q_COUNT_TEXT_HASHES = "SELECT count(DISTINCT text_hash) FROM texts WHERE dataset = ?"
Q_STORED = """
    SELECT count(DISTINCT v.text_hash) FROM ({vectors}) v
    WHERE v.text_hash IN (SELECT text_hash FROM {table} WHERE dataset = ?)
"""
Q_SHARDS = "SELECT path FROM vector_shards WHERE key = ? ORDER BY added_at, path"
Q_LEGACY = "SELECT text_hash FROM embeddings WHERE model = ?"
Q_LEGACY_VECTORS = "SELECT text_hash, vector FROM embeddings WHERE model = ?"
Q_ADOPT = """
    SELECT filename, count(*) FROM read_parquet(?, filename = true)
    WHERE text_hash IN (SELECT text_hash FROM {table} WHERE dataset = ?) GROUP BY filename
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


def shard_paths(ws: Workspace, key: CacheKey) -> list[str]:
    """The vector store's shards this workspace reads key's vectors from (a shard gone from disk is dropped from
    the list when the workspace is writable: an embed adopts it again from wherever the store is now)."""
    listed = [r[0] for r in ws.con.execute(Q_SHARDS, [str(key)]).fetchall()]
    present = [p for p in listed if Path(p).is_file()]
    if len(present) < len(listed) and not ws.read_only:
        ws.con.execute("DELETE FROM vector_shards WHERE key = ? AND NOT list_contains(?, path)", [str(key), present])
    return present


def _hashes_sql(ws: Workspace, key: CacheKey) -> tuple[str, list]:
    """(SQL, params) of a relation (text_hash) over every vector under key this workspace reads: its shards in the
    vector store, read in place, and what older workspaces kept in their embeddings table."""
    paths = shard_paths(ws, key)
    if not paths:
        return Q_LEGACY, [str(key)]
    return f"SELECT text_hash FROM read_parquet(?) UNION ALL {Q_LEGACY}", [paths, str(key)]


def adopt(ws: Workspace, name: str, key: CacheKey, store: VectorStore | None = None) -> int:
    """Register the store's shards of key that hold vectors of this dataset's texts but are not read by this
    workspace yet (made by another workspace, a recipe run elsewhere or Ray workers); returns how many."""
    store = store or VectorStore()
    known = set(shard_paths(ws, key))
    others = [str(p) for p in store.shards(key) if str(p) not in known]
    if not others:
        return 0
    found = ws.con.execute(Q_ADOPT.format(table=_table(ws, name)), [others, name]).fetchall()
    register_shards(ws, key, [(Path(f), n) for f, n in found])
    return len(found)


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
    count = {}
    for k in keys:
        sql, params = _hashes_sql(ws, k)
        count[k] = ws.one(Q_STORED.format(vectors=sql, table=table), [*params, name])[0]
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
    sql, params = _hashes_sql(ws, key)
    if _table(ws, name) == "texts":
        return (ws.con.execute(Q_MISSING_TEXTS.format(vectors=sql), [*params, name]).fetchall(),
                ws.one(Q_COUNT_TEXT_HASHES, [name])[0])
    return (ws.con.execute(Q_MISSING_EXAMPLES.format(vectors=sql), [*params, name]).fetchall(),
            ws.one(Q_COUNT_HASHES, [name])[0])


def put_vectors(ws: Workspace, key: CacheKey, hashes: list[str], vecs: np.ndarray,
                store: VectorStore | None = None) -> Path:
    """Add vectors under key: one new shard in the vector store, registered with this workspace."""
    path = (store or VectorStore()).write(key, hashes, vecs)
    register_shards(ws, key, [(path, len(hashes))])
    return path


def embed_dataset(
    ws: Workspace, name: str, *, model: str | None = None, batch_size: int = BATCH_SIZE, device: str | None = None,
    backend: str = "auto", force: bool = False, sort_by_length: bool = True, engine: EngineOptions | None = None,
) -> EmbedResult:
    """Embed every example (and retrieval query/passage) not yet in the vector store for this model and backend,
    in this process or, with engine=ray, on a Ray cluster (curate.engine.embed_job).

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
    adopt(ws, name, key)  # vectors another workspace or a recipe run elsewhere already paid for
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
            adopt(ws, name, key)
            missing, total = _missing(ws, name, key)
            result.cached = int(total) - len(missing)
        result.backend = opened.backend
        result.dim = vector_width(opened.encoder, key.representation)
        if engine is not None and engine.ray:
            from curate.engine.embed_job import embed_on_ray

            result.computed, stages = embed_on_ray(ws, name, key, source=spec.source, batch_size=batch_size,
                                                   missing_of=lambda: _missing(ws, name, key)[0], opts=engine,
                                                   device=device or ("cuda" if engine.gpus_per_worker else "cpu"))
            result.timings.update(stages)
            result.cached = int(total) - result.computed
            adopt(ws, name, key)  # shards another run on the same shard folder took into the store for us
        else:
            result.computed = _embed_here(ws, name, key, opened, missing, batch_size, sort_by_length, result.timings)
    if total:  # adopted vectors too: which backend a dataset reads must not flip when another one fills up later
        _record_backend(ws, name, key)
    result.seconds = round(time.perf_counter() - started, 3)
    log.info("embedded %s: %d computed, %d cached", name, result.computed, result.cached)
    return result


def _embed_here(ws: Workspace, name: str, key: CacheKey, opened: Any, missing: list, batch_size: int,
                sort_by_length: bool, timings: dict[str, float]) -> int:
    """Encode the missing texts in this process, one committed store shard per chunk; returns how many."""
    if sort_by_length:  # across chunks, not only within one: batches then carry little padding
        missing.sort(key=lambda m: -len(m[1] or ""))
    encode_s = write_s = 0.0
    done = 0
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
            done += len(chunk)
            bar.update(len(chunk))
    timings.update(encode=round(encode_s, 3), write=round(write_s, 3))
    return done


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


Q_EXAMPLE_HASHES = "SELECT id, split, label, text_hash FROM examples WHERE dataset = ? {split_filter} ORDER BY split, ord"
Q_TEXT_HASHES = "SELECT id, text_hash FROM texts WHERE dataset = ? AND kind = ? ORDER BY id"


def gather(ws: Workspace, key: CacheKey, hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of these text hashes under key, in their order, read straight from the store's shards one file
    at a time (plus any an older workspace kept in its table); returns (matrix, found per row). Two shards holding
    one text (two writers at once) hold the same vector: whichever comes first is taken."""
    import pandas as pd

    want = pd.Index(hashes)
    rows = None
    if not want.is_unique:  # two examples with one text: gather the distinct hashes, then repeat them
        want = pd.Index(pd.unique(np.asarray(hashes, dtype=object)))
        rows = want.get_indexer(hashes)
    out: np.ndarray | None = None
    found = np.zeros(len(want), dtype=bool)

    def place(have: np.ndarray, matrix: np.ndarray) -> None:
        nonlocal out
        if out is None:
            out = np.zeros((len(want), matrix.shape[1]), dtype=np.float32)
        at = want.get_indexer(have)
        new = at >= 0
        new[new] = ~found[at[new]]
        out[at[new]] = matrix[new]
        found[at[new]] = True

    for path in shard_paths(ws, key):
        place(*read_shard(path))
        if found.all():
            break
    if not found.all() and ws.one("SELECT count(*) FROM embeddings WHERE model = ?", [str(key)])[0]:
        legacy = ws.arrow(Q_LEGACY_VECTORS, [str(key)])
        place(legacy.column("text_hash").to_numpy(zero_copy_only=False), to_matrix(legacy.column("vector")))
    if out is None:
        out = np.zeros((len(want), 0), dtype=np.float32)
    return (out, found) if rows is None else (out[rows], found[rows])


def load_vectors(ws: Workspace, name: str, *, model: str | None = None, split: str | None = None,
                 key: CacheKey | None = None) -> Vectors:
    """Cached vectors of a dataset's examples (under key, default the dataset's stored key); a clear error names
    the command when some are missing."""
    info = ws.dataset(name)
    key = key or stored_key(ws, name, resolve_model(model), representation_for(info.task))
    rows = ws.con.execute(Q_EXAMPLE_HASHES.format(split_filter="AND split = ?" if split else ""),
                          [name] + ([split] if split else [])).fetchall()
    matrix, found = gather(ws, key, [r[3] for r in rows])
    if not found.all():
        raise CurateError(
            f"{int((~found).sum())} of {len(rows)} examples of '{name}' have no embeddings for {key}; "
            f"run: curate embed {name}" + (f" --model {model}" if model else "")
        )
    return Vectors(
        ids=[r[0] for r in rows],
        splits=np.asarray([r[1] for r in rows], dtype=object),
        labels=np.asarray([r[2] for r in rows], dtype=object),
        matrix=matrix,
        key=key,
    )


def load_text_vectors(ws: Workspace, name: str, kind: str, *, model: str | None = None) -> tuple[list[str], np.ndarray]:
    """Cached vectors of a retrieval dataset's queries or passages, by id."""
    key = stored_key(ws, name, resolve_model(model), REPR_TEXT)
    rows = ws.con.execute(Q_TEXT_HASHES, [name, kind]).fetchall()
    matrix, found = gather(ws, key, [r[1] for r in rows])
    if not found.all():
        raise CurateError(f"some {kind} texts of '{name}' have no embeddings for {key}; run: curate embed {name}")
    return [r[0] for r in rows], matrix


def vectors_for_texts(ws: Workspace, texts: list[str], *, model: str | None = None,
                      batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Sentence vectors of arbitrary texts (e.g. passage sentences) through the same cache: only misses are encoded
    (with torch fp32, whatever backend the dataset used)."""
    from curate.ingest.base import text_hash

    spec = resolve_model(model)
    key = CacheKey.of(spec, REPR_TEXT)
    hashes = [text_hash(t) for t in texts]
    unique = dict(zip(hashes, texts))
    matrix, ok = gather(ws, key, list(unique))
    have = {h: v for h, v, good in zip(unique, matrix, ok) if good}
    missing = [h for h in unique if h not in have]
    if missing:
        vecs = encode_texts(TorchEncoder(load_model(spec.source)), [unique[h] for h in missing], batch_size)
        put_vectors(ws, key, missing, vecs)
        have.update(zip(missing, vecs))
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([have[h] for h in hashes]).astype(np.float32)
