"""The vector store, both ways: a workspace that reads the store's Parquet shards in place (what curate does) against
one that copies the vectors into its own DuckDB table (what it did), at N vectors of 384 float32 (MiniLM's width).

The vectors are random unit vectors (this measures storage, not meaning); the texts are N examples whose hashes
they carry. Each way: the time to make the vectors readable by a new workspace (adopt: list the shards that hold
its texts; copy: insert them into its table), the disk it adds, and a full read of every example's vector in
ingest order (load_vectors), with peak RSS. Each in a fresh process."""

from __future__ import annotations

import json
import tempfile

from benchmarks.common import run_child

SETUP = """
import sys, time, json, numpy as np, pyarrow as pa
from curate.store import Workspace
from curate.vectors import VectorStore
from curate.embed import CacheKey
from curate.encode import resolve_model, REPR_TEXT
n, shard, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
key = CacheKey.of(resolve_model(), REPR_TEXT)
store = VectorStore(root + "/store")
rng = np.random.default_rng(0)
hashes = [f"{i:032x}" for i in range(n)]
t = time.perf_counter()
for s in range(0, n, shard):
    v = rng.standard_normal((min(shard, n - s), 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    store.write(key, hashes[s:s + shard], v)
written = time.perf_counter() - t
with Workspace(root + "/base.duckdb") as ws:
    ws.con.execute("INSERT INTO datasets (name, task, source, format, meta) VALUES ('d', 'classification', 'x', 'x', '{}')")
    ws.con.execute(f"INSERT INTO examples SELECT 'd', 'e' || i, 'train', 't', 'x', NULL, printf('%032x', i), i FROM range({n}) r(i)")
print(json.dumps({"write_s": written, "store_mib": sum(p.stat().st_size for p in store.shards(key)) / 2**20}))
"""

WAY = """
import sys, time, json, shutil, os
from pathlib import Path
from curate.store import Workspace
from curate.embed import CacheKey, adopt, load_vectors, shard_paths
from curate.encode import resolve_model, REPR_TEXT
from curate.vectors import VectorStore
way, root = sys.argv[1], sys.argv[2]
key = CacheKey.of(resolve_model(), REPR_TEXT)
db = root + f"/{way}.duckdb"
shutil.copy(root + "/base.duckdb", db)
before = os.path.getsize(db)
store = VectorStore(root + "/store")
t = time.perf_counter()
with Workspace(db) as ws:
    if way == "reference":
        adopt(ws, "d", key, store)
    else:
        import numpy as np, pyarrow as pa
        from curate.vectors import read_shard
        for path in store.shards(key):
            hashes, m = read_shard(path)
            offsets = pa.array(np.arange(0, m.size + 1, m.shape[1], dtype=np.int32))
            ws.append_arrow("embeddings", pa.table({"text_hash": pa.array(hashes, pa.string()),
                                                    "model": [str(key)] * len(hashes),
                                                    "vector": pa.ListArray.from_arrays(offsets, pa.array(m.ravel()))}))
        ws.con.execute("CHECKPOINT")
made = time.perf_counter() - t
added = (os.path.getsize(db) - before) / 2**20
with Workspace(db, read_only=True) as ws:
    t = time.perf_counter()
    v = load_vectors(ws, "d", key=key)
    read = time.perf_counter() - t
assert v.matrix.shape[1] == 384 and len(v.ids) == v.matrix.shape[0]
print(json.dumps({"make_s": made, "added_mib": added, "read_s": read, "rows": len(v.ids)}))
"""


def run(n: int = 1_000_000, shard: int = 2048) -> list[dict]:
    """Both ways at n vectors, the store in shards of `shard` rows (what curate embed writes per chunk)."""
    with tempfile.TemporaryDirectory() as tmp:
        _, _, out = run_child(SETUP, str(n), str(shard), tmp)
        setup = json.loads(out.strip().splitlines()[-1])
        rows = [{"way": "the vector store itself", "vectors": f"{n:,} x 384 float32 in {shard:,}-row shards",
                 "make readable s": round(setup["write_s"], 1), "disk added MiB": round(setup["store_mib"]),
                 "read all s": "", "peak RSS MiB": ""}]
        for way, what in (("reference", "workspace reads the shards in place (curate)"),
                          ("copy", "workspace copies them into its DuckDB table")):
            _, rss, out = run_child(WAY, way, tmp)
            got = json.loads(out.strip().splitlines()[-1])  # after DuckDB's own progress lines
            rows.append({"way": what, "vectors": f"{got['rows']:,} read", "make readable s": round(got["make_s"], 1),
                         "disk added MiB": round(got["added_mib"]), "read all s": round(got["read_s"], 1),
                         "peak RSS MiB": int(rss)})
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.common import render_table, save

    rows = run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    save("store", rows, table=True)
    render_table()
    print(json.dumps(rows, indent=1))
