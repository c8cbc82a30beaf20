"""The vector store: vectors keyed by what made them (a CacheKey) and by the content hash of their text, kept in
Parquet shards under one cache folder that every workspace, recipe run and Ray worker on a machine (or on a shared
file system) reads and adds to. Each shard is written whole under a temporary name and then renamed, so a reader
never sees half a shard and a crash loses at most the shard being written.

A workspace does not copy vectors: its table vector_shards lists the shards that hold its datasets' vectors, and
its queries read those files in place (benchmarks/README.md, vector store, has both ways measured)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from curate.embed import CacheKey
    from curate.store import Workspace

KEY_FILE = "key.txt"
ROW_GROUP = 8192


def cache_root() -> Path:
    """Where curate keeps what outlives a workspace: $CURATE_CACHE, else the user's cache folder."""
    if os.environ.get("CURATE_CACHE"):
        return Path(os.environ["CURATE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "curate"


def vector_table(hashes: list[str], vecs: np.ndarray) -> pa.Table:
    """(text_hash, vector) rows as Arrow, each vector the raw bytes of its float32 values (fixed-size binary: Parquet
    stores it as one value per row, where a float list costs a repetition level per number to decode; measured
    in benchmarks/README.md, store)."""
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    width = vecs.shape[1] if vecs.ndim == 2 else 0
    data = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4 * width), len(vecs), [None, pa.py_buffer(vecs.tobytes())])
    return pa.table({"text_hash": pa.array(hashes, type=pa.string()), "vector": data})


def read_shard(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(text hashes, float32 matrix) of one shard, the matrix a view of the file's buffer (no copy)."""
    table = pq.read_table(path, columns=["text_hash", "vector"])
    col = table.column("vector").combine_chunks()  # one chunk per file read: no copy
    hashes = table.column("text_hash").to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_list(col.type):  # shards written before vectors became fixed-size binary
        width = col.type.list_size
        return hashes, col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, width)
    width = col.type.byte_width // 4
    matrix = np.frombuffer(col.buffers()[1], dtype=np.float32, count=len(col) * width,
                           offset=col.offset * col.type.byte_width).reshape(len(col), width)
    return hashes, matrix


def write_shard(path: Path, hashes: list[str], vecs: np.ndarray) -> None:
    """Write (text_hash, vector) rows to path whole or not at all (a temporary name, then a rename), in the store's
    layout: uncompressed (float vectors hardly compress, and decompressing them cost more time than reading them)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(vector_table(hashes, vecs), tmp, row_group_size=ROW_GROUP, compression="none",
                   use_dictionary=["text_hash"])
    os.replace(tmp, path)


class VectorStore:
    """The shards of every cache key under root/vectors/<digest of the key>/."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root else cache_root()

    def folder(self, key: CacheKey | str) -> Path:
        """The folder of one cache key's shards (named by a digest: keys hold paths and '#')."""
        return self.root / "vectors" / hashlib.sha256(str(key).encode()).hexdigest()[:24]

    def shards(self, key: CacheKey | str) -> list[Path]:
        """Every finished shard of a key, in a stable order."""
        folder = self.folder(key)
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def _ready(self, key: CacheKey | str) -> Path:
        """The key's folder, made (with a file naming the key, for people browsing the cache) if new."""
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / KEY_FILE
        if not marker.exists():
            marker.write_text(str(key) + "\n")
        return folder

    def write(self, key: CacheKey | str, hashes: list[str], vecs: np.ndarray, *, name: str | None = None) -> Path:
        """Write one shard of vectors under key (whole or not at all) and return its path."""
        path = self._ready(key) / f"{name or uuid.uuid4().hex}.parquet"
        write_shard(path, hashes, vecs)
        return path

    def adopt(self, key: CacheKey | str, path: Path) -> Path:
        """Move a finished shard written elsewhere (a Ray worker's output) into the key's folder, atomically when
        both are on one file system."""
        folder = self._ready(key)
        target = folder / f"{uuid.uuid4().hex}.parquet"
        tmp = folder / f".{target.name}.tmp"
        os.replace(path, tmp) if os.stat(path).st_dev == os.stat(folder).st_dev else _copy(path, tmp)
        os.replace(tmp, target)
        return target


def _copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copyfile(src, dst)
    src.unlink()


def register_shards(ws: Workspace, key: CacheKey | str, shards: list[tuple[Path, int]]) -> None:
    """List store shards (path, rows) as ones this workspace reads key's vectors from."""
    if shards:
        ws.append_arrow("vector_shards", pa.table({"key": [str(key)] * len(shards),
                                                   "path": [str(p) for p, _ in shards],
                                                   "rows": [int(n) for _, n in shards]}))
