"""ARHN plumbing throughput: the real openai client against the fake OpenAI-compatible server with simulated
latency, at concurrency 1, 8 and 32 (fresh cache each), then a re-run served from the cache."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import HERE, run_child

LATENCY = 0.2  # seconds per request at the fake server: a small local model on a GPU answers in about this

# The sample triplets with random cached vectors: the judge never looks at them, only at the texts.
CHILD = r"""
import json, os, sys, time
import numpy as np
os.environ["HF_HUB_OFFLINE"] = "1"
queries, latency, tmp, src = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
from curate.store import Workspace
from curate.ingest import ingest
from curate.embed import CacheKey, put_vectors
from curate.encode import REPR_TEXT, resolve_model
from curate.detect import run_detector
import subprocess
ws = Workspace(os.path.join(tmp, "a.duckdb"))
ingest(ws, src, "triplets", "r")
hashes = [h for (h,) in ws.con.execute("SELECT DISTINCT text_hash FROM texts WHERE dataset = 'r'").fetchall()]
vecs = np.random.default_rng(0).standard_normal((len(hashes), 384)).astype(np.float32)
vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
put_vectors(ws, CacheKey.of(resolve_model(None), REPR_TEXT), hashes, vecs)
out = {}
# The server runs in its own process, so it does not compete with the client for this one's GIL.
server = subprocess.Popen([sys.executable, "-m", "curate.llm.fake_server", "--latency", str(latency)],
                          stdout=subprocess.PIPE, text=True)
try:
    url = server.stdout.readline().strip()
    params = {"split": None, "max_queries": queries, "max_negatives": 5, "base_url": url, "model": "fake"}
    for conc in (1, 8, 32):
        ws.con.execute("DELETE FROM llm_cache")
        t = time.perf_counter()
        run = run_detector(ws, "r", "arhn", {**params, "concurrency": conc}, force=True)
        secs = time.perf_counter() - t
        n = sum(v for k, v in run.counts.items() if k.startswith(("answer_", "rank_")) and not k.endswith("cached"))
        out[conc] = {"seconds": secs, "requests": n, "rps": n / secs, "counts": run.counts}
    t = time.perf_counter()
    run = run_detector(ws, "r", "arhn", {**params, "concurrency": 8}, force=True)
    sent = sum(v for k, v in run.counts.items() if k.startswith(("answer_", "rank_")) and not k.endswith("cached"))
    out["rerun"] = {"seconds": time.perf_counter() - t, "requests": sent,
                    "cached": run.counts.get("answer_cached", 0) + run.counts.get("rank_cached", 0)}
finally:
    server.kill()
print(json.dumps(out))
"""


def run(queries: int) -> list[dict]:
    """Throughput per concurrency level and the cached re-run, in a fresh process."""
    src = HERE.parent / "sample_data" / "retrieval" / "triplets.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        _, peak, out = run_child(CHILD, str(queries), str(LATENCY), str(Path(tmp)), str(src))
    r = json.loads(out.strip().splitlines()[-1])
    size = f"{queries} queries x (positive + 5 negatives), {LATENCY * 1000:.0f} ms per request"
    rows = [{"measure": f"requests/s at concurrency {c}", "value": round(r[str(c)]["rps"], 1), "size": size}
            for c in (1, 8, 32)]
    rows += [
        {"measure": "requests per run", "value": r["1"]["requests"], "size": size},
        {"measure": "speed-up concurrency 32 vs 1", "value": round(r["32"]["rps"] / r["1"]["rps"], 1), "size": size},
        {"measure": "re-run from cache: requests sent / answers from cache",
         "value": f"{r['rerun']['requests']} / {r['rerun']['cached']}", "target": "0 sent",
         "met": r["rerun"]["requests"] == 0, "size": size},
        {"measure": "re-run from cache (s)", "value": round(r["rerun"]["seconds"], 2), "size": size},
        {"measure": "peak RSS of the process (MiB)", "value": int(peak), "size": size},
    ]
    return rows
