"""The Ray engine on this machine: what it costs against the in-process path, and what N machines would take.

- overhead: the same 50,000 real texts (SemEval-2010 sentences, WNUT 2017 tweets, and passages of consecutive
  SemEval sentences) embedded in process and by one Ray actor with the same threads (2; it asks for one CPU, so
  Ray's read and write tasks keep the other), as a ratio; Ray's start-up apart.
- workers: two actors of one thread each on these two cores: processes against threads on the same cores, not
  scaling; it gives the per-worker rate the projection uses.
- serial costs: writing the input shards, taking the outputs into the vector store, merging kNN results.
- mining: exact hard-negative mining for 20,000 queries over 200,000 real-text passages, in process and as Ray
  tasks (20,000-passage shards x 4,096-query blocks), time and peak RSS (per worker on Ray).
Each measurement runs in a fresh process, once."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import run_child

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

EMBED = """
import json, sys, time, os
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
from curate.store import Workspace
from curate.embed import embed_dataset
from curate.engine import EngineOptions
db, name, engine = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = {}
if engine:
    import ray, logging
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    out["ray_start_s"] = time.perf_counter() - t
with Workspace(db) as ws:
    t = time.perf_counter()
    r = embed_dataset(ws, name, engine=EngineOptions(**engine) if engine else None)
    out.update(seconds=time.perf_counter() - t, computed=r.computed, timings=r.timings, backend=r.backend)
print(json.dumps(out))
"""

MINE = """
import json, sys, time, os, shutil
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
from curate.store import Workspace
from curate.retrieval.mine import MineOptions, mine
from curate.engine import EngineOptions
db, engine = sys.argv[1], json.loads(sys.argv[2])
copy = db + (".ray" if engine else ".local") + ".duckdb"
shutil.copy(db, copy)
out = {}
if engine:
    import ray, logging
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
with Workspace(copy) as ws:
    t = time.perf_counter()
    r = mine(ws, "p", MineOptions(num_negatives=5, range_max=30), engine=EngineOptions(**engine) if engine else None)
    out.update(seconds=time.perf_counter() - t, mined=r.mined, timings=r.timings)
print(json.dumps(out))
"""


def _semeval_sentences() -> list[str]:
    out = []
    for name in ("TRAIN_FILE.TXT", "TEST_FILE_FULL.TXT"):
        for line in (DATA / "semeval2010_task8" / name).read_text(encoding="utf-8").splitlines():
            if "\t" in line and line.split("\t")[0].isdigit():
                out.append(re.sub(r"</?e[12]>", "", line.split("\t", 1)[1].strip().strip('"')))
    return out


def _tweets() -> list[str]:
    out = []
    for path in sorted([*(DATA / "wnut17").glob("*.conll"), *(DATA / "wnut17").glob("*.annotated")]):
        words: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines() + [""]:
            if line.strip():
                words.append(line.split("\t")[0].split(" ")[0])
            elif words:
                out.append(" ".join(words))
                words = []
    return out


def texts(n: int = 50_000) -> list[str]:
    """n distinct real texts: SemEval sentences, WNUT tweets, then passages of 2-6 consecutive SemEval sentences."""
    sents = _semeval_sentences()
    seen: dict[str, None] = dict.fromkeys(sents + _tweets())
    for width in (2, 3, 4, 5, 6):
        for i in range(len(sents) - width):
            if len(seen) >= n:
                break
            seen.setdefault(" ".join(sents[i : i + width]))
    return list(seen)[:n]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _ingest(db: Path, src: Path, fmt: str, name: str) -> None:
    from curate.ingest import ingest
    from curate.store import Workspace

    with Workspace(db) as ws:
        ingest(ws, src, fmt, name)


def run(n: int = 50_000, passages: int = 200_000, queries: int = 20_000) -> list[dict]:
    """Every measurement once; rows for the README table."""
    import os

    rows = []
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        os.environ["CURATE_CACHE"] = str(tmp / "cache")  # children inherit it: a store of this run's own
        data = texts(n)
        src = _jsonl(tmp / "t.jsonl", [{"id": f"t{i:06d}", "text": t, "label": "x"} for i, t in enumerate(data)])
        results = {}
        for label, engine in (("in process", None),
                              ("one Ray actor, same threads", {"engine": "ray", "workers": 1, "cpus_per_worker": 1.0, "threads_per_worker": 2,
                                                              "shard_rows": 2_500,
                                                              "shard_dir": str(tmp / "s1")}),
                              ("two Ray actors, one thread each", {"engine": "ray", "workers": 2,
                                                                  "cpus_per_worker": 0.5, "shard_rows": 2_500,
                                                                  "shard_dir": str(tmp / "s2")})):
            db = tmp / f"{len(results)}.duckdb"
            _ingest(db, src, "jsonl", "t")
            os.environ["CURATE_CACHE"] = str(tmp / f"cache{len(results)}")  # each starts empty
            _, rss, out = run_child(EMBED, str(db), "t", json.dumps(engine))
            results[label] = {**json.loads(out.strip().splitlines()[-1]), "rss": rss}
        base = results["in process"]["seconds"]
        for label, r in results.items():
            t = r["timings"]
            rows.append({"measure": f"embed {n:,} real texts: {label}", "seconds": round(r["seconds"], 1),
                         "texts/s": int(r["computed"] / r["seconds"]), "x in process": round(r["seconds"] / base, 2),
                         "Ray start s": round(r.get("ray_start_s", 0), 1) or "",
                         "serial: input shards s / into the store s": (f"{t.get('write_inputs', 0):.1f} / "
                                                                       f"{t.get('load', 0):.2f}" if "embed" in t
                                                                       else ""),
                         "peak RSS MiB (driver)": int(r["rss"])})
        # Mining: a retrieval set of real text, embedded once (the vectors do not depend on the engine).
        sents = _semeval_sentences()
        # Passages of two real sentences each (distinct pairs; MS MARCO passages are about this long).
        rng = np.random.default_rng(0)
        pick = rng.integers(0, len(sents), size=(passages * 2, 2))
        corpus = list(dict.fromkeys(f"{sents[a]} {sents[b]}" for a, b in pick if a != b))[:passages]
        # A query is the first sentence of its positive passage, cut to a question-like length.
        qs = [{"id": f"q{i}", "text": corpus[i].split(". ")[0][:100]} for i in range(queries)]
        pairs = [{"query_id": f"q{i}", "passage_id": f"p{i}", "label": "positive"} for i in range(queries)]
        folder = tmp / "beir"
        folder.mkdir()
        _jsonl(folder / "corpus.jsonl", [{"_id": f"p{i}", "text": t} for i, t in enumerate(corpus)])
        _jsonl(folder / "queries.jsonl", [{"_id": q["id"], "text": q["text"]} for q in qs])
        (folder / "qrels").mkdir()
        (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{p['query_id']}\t{p['passage_id']}\t1\n" for p in pairs))
        db = tmp / "mine.duckdb"
        _ingest(db, folder, "beir", "p")
        os.environ["CURATE_CACHE"] = str(tmp / "cache-mine")
        _, _, out = run_child(EMBED, str(db), "p", json.dumps(None))
        embedded = json.loads(out.strip().splitlines()[-1])
        mined = {}
        for label, engine in (("in process", None),
                              ("Ray tasks", {"engine": "ray", "cpus_per_worker": 1.0, "shard_rows": 20_000,
                                             "query_block": 4_096, "shard_dir": str(tmp / "s-mine")})):
            _, rss, out = run_child(MINE, str(db), json.dumps(engine))
            mined[label] = {**json.loads(out.strip().splitlines()[-1]), "rss": rss}
        for label, r in mined.items():
            t = r["timings"]
            rows.append({"measure": f"mine {queries:,} queries x {len(corpus):,} passages (exact): {label}",
                         "seconds": round(r["seconds"], 1), "texts/s": "",
                         "x in process": round(r["seconds"] / mined["in process"]["seconds"], 2), "Ray start s": "",
                         "serial: input shards s / into the store s": (f"shards {t['ray_write_shards']:.1f} / merge "
                                                                       f"{t['ray_merge']:.2f}" if "ray_merge" in t
                                                                       else ""),
                         "peak RSS MiB (driver)": int(r["rss"]),
                         "peak RSS MiB per worker": int(t["ray_worker_peak_rss_mib"]) if "ray_merge" in t else ""})
        rows.append({"measure": f"embedding the mining set ({embedded['computed']:,} texts, in process)",
                     "seconds": round(embedded["seconds"], 1),
                     "texts/s": int(embedded["computed"] / embedded["seconds"])})
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.common import render_table, save

    rows = run(*(int(a) for a in sys.argv[1:]))
    save("engine", rows, table=True)
    render_table()
    print(json.dumps(rows, indent=1))
