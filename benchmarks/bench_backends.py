"""Embedding on real text: raw SentenceTransformer.encode against `curate embed`.

- mixed: 5,000 real mixed-length texts through each backend (torch, onnx fp32, onnx int8), with and without
  sorting all texts by length before chunking, each in a fresh process (its own peak RSS), timed inside
  embed_dataset; vectors compared with raw encode's.
- short sentences (6,000 SemEval-2010 train sentences, markers removed) and passages (the sample retrieval
  passages): the whole `curate embed` command as a user runs it (process start, imports, opening the backend,
  encoding, writing), backend auto, against raw encode in a process with the model already loaded; for the
  sentences also as relation data (pair vectors of the entity-marked text, which is longer: more tokens)."""

from __future__ import annotations

import json
import re
import tempfile
import time
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


def short_sentences(n: int = 6000) -> list[str]:
    """The first n SemEval-2010 train sentences with the entity markers removed (in file order)."""
    out = []
    for line in SEMEVAL.read_text(encoding="utf-8").splitlines():
        if "\t" in line and line.split("\t")[0].isdigit():
            out.append(re.sub(r"</?e[12]>", "", line.split("\t", 1)[1].strip().strip('"')))
    return out[:n]


def passages(n: int = 2000, per: int = 4) -> list[str]:
    """Passage-length real text (MS MARCO passages average ~60 words): n paragraphs of `per` consecutive SemEval-2010
    sentences each, taken after the ones short_sentences uses."""
    sents = []
    for line in SEMEVAL.read_text(encoding="utf-8").splitlines():
        if "\t" in line and line.split("\t")[0].isdigit():
            sents.append(re.sub(r"</?e[12]>", "", line.split("\t", 1)[1].strip().strip('"')))
    rest = sents[6000:] + sents[:6000]
    return [" ".join(rest[i * per : (i + 1) * per]) for i in range(n)]


def whole_command(tmp: Path, name: str, texts_: list[str], fmt: str = "jsonl", src: Path | None = None) -> dict:
    """`curate embed` as a user runs it, timed from outside (after an untimed ingest), with its own count."""
    import subprocess
    import sys

    db = tmp / f"{name}.duckdb"
    if src is None:
        src = tmp / f"{name}.jsonl"
        src.write_text("".join(json.dumps({"id": f"{i:05d}", "text": t, "label": "x"}) + "\n"
                               for i, t in enumerate(texts_)))
    curate = [sys.executable, "-m", "curate.cli", "--db", str(db)]
    subprocess.run([*curate, "ingest", str(src), "--format", fmt, "--name", name, "--split", "train"], check=True,
                   capture_output=True)
    t = time.perf_counter()
    out = subprocess.run([*curate, "embed", name, "--json"], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, **json.loads(out.stdout)}


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


def run_whole() -> list[dict]:
    """Short sentences and passages: raw encode against the whole `curate embed` command (backend auto)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        setup_src = tmp / "setup.json"
        sets = {"short sentences": short_sentences(), "passages (4 SemEval sentences each)": passages()}
        setup_src.write_text(json.dumps(sets["short sentences"][:512]))
        run_child(SETUP, str(setup_src))  # the export and its guard exist before anything is timed, as after a first use
        for label, data in sets.items():
            src = tmp / "texts.json"
            src.write_text(json.dumps(data))
            _, raw_rss, out = run_child(RAW, str(src), str(tmp / "raw.npy"))
            raw_rate = len(data) / json.loads(out)["seconds"]
            chars = [len(t) for t in data]
            what = f"{len(data):,} real {label} ({int(np.median(chars))} chars median, {min(chars)}-{max(chars)})"
            rows.append({"set": what, "config": "raw SentenceTransformer.encode (torch, model loaded, not timed)",
                         "texts/s": int(raw_rate), "x raw": 1.0, "encoding only/s": "", "peak RSS MiB": int(raw_rss)})
            res = whole_command(tmp, label.split(" (")[0].replace(" ", "-"), data)
            rows.append({"set": "", "config": f"curate embed, whole command (auto: {res['backend']})",
                         "texts/s": int(len(data) / res["seconds"]), "x raw": round(len(data) / res["seconds"] / raw_rate, 2),
                         "encoding only/s": int(res["computed"] / res["timings"]["encode"]), "peak RSS MiB": ""})
            if label == "short sentences":
                lines = SEMEVAL.read_text(encoding="utf-8").splitlines()[: 4 * len(data)]
                sem = tmp / "sem.txt"
                sem.write_text("\n".join(lines) + "\n", encoding="utf-8")
                rel = whole_command(tmp, "relation", data, fmt="semeval", src=sem)
                rows.append({"set": "", "config": f"curate embed, whole command, as relation data (pair vectors of the "
                             f"marked text; auto: {rel['backend']})", "texts/s": int(len(data) / rel["seconds"]),
                             "x raw": round(len(data) / rel["seconds"] / raw_rate, 2),
                             "encoding only/s": int(rel["computed"] / rel["timings"]["encode"]), "peak RSS MiB": ""})
    return rows


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "whole":
        rows = run_whole()
        save("backends_whole", rows, table=True)
    else:
        rows = run(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
        save("backends", rows, table=True)
    print(json.dumps(rows, indent=1))
