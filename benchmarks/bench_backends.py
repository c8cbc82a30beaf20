"""Embedding backends on real, mixed-length text: raw SentenceTransformer.encode against `curate embed` with each
backend (torch, onnx fp32, onnx int8), with and without sorting all texts by length before chunking. Each
configuration runs in a fresh process (its own peak RSS); vectors are compared with raw encode's."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import run_child, save

ROOT = Path(__file__).resolve().parents[1]
SEMEVAL = ROOT.parent / "shared" / "data" / "semeval2010_task8" / "TRAIN_FILE.TXT"

SETUP = """
import json, sys, time
from curate.backends import open_backend
from curate.encode import load_model, resolve_model
texts = json.load(open(sys.argv[1]))
st = load_model(resolve_model().source)
out = {}
for variant in ("onnx", "onnx-int8"):
    opened = open_backend(st, resolve_model().source, variant, texts, force=True)
    meta = json.loads((opened.encoder.path.parent / "meta.json").read_text())
    out[variant] = {"export_seconds": meta["export_seconds"], "guard": meta["guard"]}
print(json.dumps(out))
"""

RAW = """
import json, sys, time, numpy as np
from curate.encode import load_model, resolve_model
texts = json.load(open(sys.argv[1]))
st = load_model(resolve_model().source)
st.encode(texts[:64])
t = time.perf_counter()
v = st.encode(texts, normalize_embeddings=True)  # sentence-transformers' defaults, batch 32
print(json.dumps({"seconds": time.perf_counter() - t}))
np.save(sys.argv[2], np.asarray(v, dtype=np.float32))
"""

CURATE = """
import json, sys, time, numpy as np
from curate.embed import embed_dataset, load_vectors
from curate.encode import load_model, resolve_model
from curate.backends import open_backend
from curate.ingest import ingest
from curate.store import Workspace
texts, out, backend, sort = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
st = load_model(resolve_model().source)
opened = open_backend(st, resolve_model().source, backend, texts, force=True)  # export and guard: not timed
opened.encoder.encode(texts[:64])
ws = Workspace(out + ".duckdb")
src = out + ".jsonl"
open(src, "w").write("".join(json.dumps({"id": f"{i:05d}", "text": s, "label": "x"}) + "\\n" for i, s in enumerate(texts)))
ingest(ws, src, "jsonl", "bench")
t = time.perf_counter()
res = embed_dataset(ws, "bench", backend=backend, force=True, sort_by_length=sort)
seconds = time.perf_counter() - t
assert res.computed == len(texts) and res.backend == backend, res
vecs = load_vectors(ws, "bench")
order = np.argsort(vecs.ids)
np.save(out, vecs.matrix[order])
print(json.dumps({"seconds": seconds}))
"""


def texts(n: int = 5000) -> list[str]:
    """Real mixed-length text: SemEval-2010 train sentences (markers removed) and the sample retrieval passages."""
    sem = []
    for line in SEMEVAL.read_text(encoding="utf-8").splitlines():
        if "\t" in line and line.split("\t")[0].isdigit():
            sem.append(re.sub(r"</?e[12]>", "", line.split("\t", 1)[1].strip().strip('"')))
    passages = []
    for line in open(ROOT / "sample_data" / "retrieval" / "triplets.jsonl"):
        rec = json.loads(line)
        passages += [v for k, v in rec.items() if k != "anchor" and isinstance(v, str)]
    passages = sorted(set(passages))
    sem = sorted(set(sem) - set(passages))  # distinct texts: each is embedded once
    take_p = min(len(passages), n // 5)
    rng = np.random.default_rng(0)
    out = [passages[i] for i in rng.choice(len(passages), take_p, replace=False)]
    out += [sem[i] for i in rng.choice(len(sem), n - take_p, replace=False)]
    return [out[i] for i in rng.permutation(len(out))]  # mixed order, as a user's file would be


def knn_overlap(ref: np.ndarray, other: np.ndarray, k: int = 10) -> float:
    """Share of each text's k nearest neighbours (by raw encode) that the other vectors keep."""
    import faiss

    def top(v):
        index = faiss.IndexFlatIP(v.shape[1])
        index.add(v)
        return index.search(v, k + 1)[1][:, 1:]

    a, b = top(ref), top(other)
    return float(np.mean([len(np.intersect1d(x, y)) / k for x, y in zip(a, b)]))


def run(n: int = 5000) -> list[dict]:
    """Every configuration once, each in its own process; the same texts throughout."""
    data = texts(n)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "texts.json"
        src.write_text(json.dumps(data))
        _, _, setup = run_child(SETUP, str(src))
        setup = json.loads(setup)
        raw_s, raw_rss, out = run_child(RAW, str(src), str(Path(tmp) / "raw.npy"))
        raw_t = json.loads(out)["seconds"]
        ref = np.load(Path(tmp) / "raw.npy")
        lengths = [len(t) for t in data]
        rows = [{"config": "raw SentenceTransformer.encode (torch)", "texts/s": int(n / raw_t), "x raw": 1.0,
                 "min cosine": 1.0, "kNN@10 kept": 1.0, "peak RSS MiB": int(raw_rss), "export s": "",
                 "texts": f"{n:,} real (SemEval + passages; {min(lengths)}-{max(lengths)} chars)"}]
        for backend in ("torch", "onnx", "onnx-int8"):
            for sort in (False, True):
                path = Path(tmp) / f"{backend}-{int(sort)}"
                _, rss, out = run_child(CURATE, str(src), str(path), backend, "1" if sort else "0")
                seconds = json.loads(out)["seconds"]
                vecs = np.load(str(path) + ".npy")
                cos = float((vecs * ref).sum(axis=1).min())
                rows.append({"config": f"curate embed --backend {backend}" + (", sorted by length" if sort else ""),
                             "texts/s": int(n / seconds), "x raw": round(raw_t / seconds, 2),
                             "min cosine": round(cos, 6), "kNN@10 kept": round(knn_overlap(ref, vecs), 4),
                             "peak RSS MiB": int(rss),
                             "export s": setup.get(backend, {}).get("export_seconds", ""), "texts": ""})
    for variant, info in setup.items():
        g = info["guard"]
        rows.append({"config": f"guard of {variant} on 256 of these texts", "texts/s": "", "x raw": "",
                     "min cosine": g["min_cosine"], "kNN@10 kept": g["knn_overlap"], "peak RSS MiB": "",
                     "export s": "", "texts": "passed" if g["passed"] else "refused without --force"})
    return rows


if __name__ == "__main__":
    import sys

    rows = run(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
    save("backends", rows, table=True)
    print(json.dumps(rows, indent=1))
