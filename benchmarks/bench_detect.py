"""Detector speed at scale with embeddings cached: all detectors on N examples in one context, time split by
stage (kNN, model fitting, writing findings) and peak RSS, in a fresh process per size."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import run_child

# Builds a workspace of n relation-like examples whose cached vectors are class centroids plus noise (the
# detectors' cost does not depend on where vectors came from).
BUILD = r"""
import sys
import numpy as np, pyarrow as pa
from curate.store import Workspace
from curate.embed import CacheKey, put_vectors
from curate.encode import REPR_PAIR, resolve_model
n, dim, db = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
labels = np.where(rng.random(n) < 0.78, "no_relation", rng.choice([f"rel:{i}" for i in range(10)], size=n))
centroids = {lab: rng.standard_normal(dim) for lab in set(labels)}
vecs = np.stack([centroids[lab] for lab in labels]) + 2.5 * rng.standard_normal((n, dim))
vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
noisy = labels.copy()
flip = (labels != "no_relation") & (rng.random(n) < 0.1)
noisy[flip] = "no_relation"
splits = np.where(rng.random(n) < 0.8, "train", "dev")
ws = Workspace(db)
ws.create_dataset("bench", "relation", negative_label="no_relation", source="synthetic", fmt="bench")
hashes = [f"h{i}" for i in range(n)]
ws.append_arrow("examples", pa.table({"dataset": ["bench"] * n, "id": [f"e{i}" for i in range(n)],
    "split": splits.tolist(), "text": [f"text {i}" for i in range(n)], "label": noisy.tolist(),
    "meta": [None] * n, "text_hash": hashes, "ord": list(range(n))}))
put_vectors(ws, CacheKey.of(resolve_model(None), REPR_PAIR), hashes, vecs)
ws.close()
"""

# Runs every default detector once on the built workspace, in a fresh process whose peak RSS is measured.
CHILD = r"""
import json, sys, time
from curate.store import Workspace
from curate.detect import Context, run_detector
ws = Workspace(sys.argv[1])
t0 = time.perf_counter()
ctx = Context(ws, "bench")
load = time.perf_counter() - t0
stages = {"load": load, "knn": 0.0, "model": 0.0, "write": 0.0}
per = {}
for det in ["tacred-is", "tacred-es", "knn-vote", "near-duplicates", "confident-learning"]:
    t = time.perf_counter()
    r = run_detector(ws, "bench", det, ctx=ctx)
    per[det] = round(time.perf_counter() - t, 2)
    stages["write"] += r.timings.get("write", 0.0)
for k in ("knn", "model"):
    stages[k] = ctx.timings.get(k, 0.0)
total = time.perf_counter() - t0
stages["other"] = total - sum(stages.values())
print(json.dumps({"total": total, "stages": {k: round(v, 2) for k, v in stages.items()}, "per_detector": per}))
"""


def run(sizes: list[int], dim: int = 1152) -> list[dict]:
    """Measure every size in its own process."""
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "d.duckdb")
            run_child(BUILD, str(n), str(dim), db)
            wall, peak, out = run_child(CHILD, db)
        res = json.loads(out.strip().splitlines()[-1])
        size = f"{n:,} x {dim}-d"
        st = res["stages"]
        split = ", ".join(f"{k} {v:.1f}s" for k, v in st.items())
        per = ", ".join(f"{k} {v:.1f}s" for k, v in res["per_detector"].items())
        rows += [
            {"measure": "all default detectors, total (s)", "value": round(res["total"], 1), "size": size,
             "target": "< 60 at 100k", "met": res["total"] < 60 if n >= 100_000 else None},
            {"measure": "time split", "value": split, "size": size},
            {"measure": "per detector", "value": per, "size": size},
            {"measure": "peak RSS of the detecting process (MiB)", "value": int(peak), "size": size,
             "target": "< 3072 at 100k", "met": peak < 3072 if n >= 100_000 else None},
        ]
    return rows
