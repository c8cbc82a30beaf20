"""Hard-negative mining + false-negative detection with curate against sentence-transformers'
mine_hard_negatives, same model and settings, in one process: cold (embedding included) and warm (embeddings
cached: curate's store, sentence-transformers' cache_folder), time ratio and overlap of the mined negatives."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import run_child

# Distinct short (query, positive) pairs from templates: embedding cost per text is what a real set has.
CHILD = r"""
import json, os, random, sys, time
os.environ["HF_HUB_OFFLINE"] = "1"
n, tmp = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
A = "red blue green small large fast quiet solar wooden steel smart cheap".split()
B = "bikes drones phones lamps chairs pumps boats tents ovens kites drills radios".split()
C = "Oslo Lima Pune Cork Kobe Graz Fez Hue Nice Bonn Perth Leeds Omaha Tartu Recife Split".split()
pairs, seen = [], set()
while len(pairs) < n:
    firm = f"{rng.choice('BCDFGHKLMNPRSTVZ')}{rng.choice('aeiou')}{rng.choice('lnrstvx')}{rng.randint(1, 99999)}"
    a, b, c = rng.choice(A), rng.choice(B), rng.choice(C)
    if firm in seen:
        continue
    seen.add(firm)
    pairs.append((f"What does {firm} make in {c}?", f"{firm} builds {a} {b} at its plant in {c}."))
src = os.path.join(tmp, "pairs.jsonl")
with open(src, "w") as f:
    for q, p in pairs:
        f.write(json.dumps({"anchor": q, "positive": p}) + "\n")

from sentence_transformers.util import mine_hard_negatives
from datasets import Dataset
from curate.store import Workspace
from curate.ingest import ingest
from curate.embed import embed_dataset
from curate.encode import load_model, resolve_model
from curate.retrieval.mine import MineOptions, mine
from curate.detect import run_detector

SETTINGS = dict(num_negatives=3, relative_margin=0.05)
model = load_model(resolve_model(None).source)
model.encode(["warm up"] * 64)
ws = Workspace(os.path.join(tmp, "w.duckdb"))
t = time.perf_counter(); ingest(ws, src, "triplets", "m"); t_ingest = time.perf_counter() - t

def ours():
    t = time.perf_counter()
    e = embed_dataset(ws, "m")
    t_embed = time.perf_counter() - t
    r = mine(ws, "m", MineOptions(**SETTINGS))
    t_mine = time.perf_counter() - t - t_embed
    d = run_detector(ws, "m", "false-negatives", {"split": None}, force=True)
    return time.perf_counter() - t, {"embed": t_embed, "mine": t_mine, "detect": time.perf_counter() - t - t_embed - t_mine}, r

def theirs(cache):
    ds = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    t = time.perf_counter()
    out = mine_hard_negatives(ds, model, use_faiss=True, cache_folder=cache, output_format="labeled-pair",
                              verbose=False, **SETTINGS)
    return time.perf_counter() - t, out

cold_ours, split_cold, res = ours()
cache = os.path.join(tmp, "st-cache")
cold_theirs, out = theirs(cache)
warm_ours, split_warm, _ = ours()
warm_theirs, _ = theirs(cache)
qt = dict(ws.con.execute("SELECT id, text FROM texts WHERE dataset = 'm' AND kind = 'query'").fetchall())
pt = dict(ws.con.execute("SELECT id, text FROM texts WHERE dataset = 'm' AND kind = 'passage'").fetchall())
mine_ours = {(qt[q], pt[p]) for q, p, _ in res.pairs}
mine_theirs = {(a, p) for a, p, l in zip(out["anchor"], out["positive"], out["label"]) if l == 0}
print(json.dumps({"cold_ours": cold_ours, "cold_theirs": cold_theirs, "warm_ours": warm_ours,
                  "warm_theirs": warm_theirs, "split_cold": split_cold, "split_warm": split_warm,
                  "ingest": t_ingest, "ours": len(mine_ours), "theirs": len(mine_theirs),
                  "overlap": len(mine_ours & mine_theirs) / max(1, len(mine_theirs))}))
"""


# The drop-in options on the first n pairs of the same generator: prompts, and a cross-encoder rescoring every
# candidate (a local one: MiniLM's encoder with a seeded, untrained head; its scores are not meaningful, its cost
# and the agreement of the two miners are).
CHILD_OPTIONS = CHILD.split("SETTINGS = ")[0] + r"""
import torch
from sentence_transformers import CrossEncoder
torch.manual_seed(0)
ce_path = os.path.join(tmp, "ce")
CrossEncoder(resolve_model(None).source, num_labels=1, device="cpu").save(ce_path)
ce = CrossEncoder(ce_path, device="cpu")
model = load_model(resolve_model(None).source)
ws = Workspace(os.path.join(tmp, "w.duckdb"))
ingest(ws, src, "triplets", "m")
embed_dataset(ws, "m")
qt = dict(ws.con.execute("SELECT id, text FROM texts WHERE dataset = 'm' AND kind = 'query'").fetchall())
pt = dict(ws.con.execute("SELECT id, text FROM texts WHERE dataset = 'm' AND kind = 'passage'").fetchall())
ds = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
out = {}
# An untrained head scores every pair alike, so a margin on its scores would drop every candidate: the
# cross-encoder case ranks the 10 closest candidates by its scores, with no margin.
for name, shared, ours_kw, theirs_kw in [
        ("prompts", {"relative_margin": 0.05}, {"query_prompt": "query: ", "corpus_prompt": "passage: "},
         {"query_prompt": "query: ", "corpus_prompt": "passage: "}),
        ("cross-encoder", {"range_max": 10}, {"cross_encoder": ce_path}, {"cross_encoder": ce})]:
    t = time.perf_counter()
    r = mine(ws, "m", MineOptions(num_negatives=3, **shared, **ours_kw))
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    o = mine_hard_negatives(ds, model, output_format="labeled-pair", verbose=False, num_negatives=3,
                            **shared, **theirs_kw)
    t_theirs = time.perf_counter() - t
    a = {(qt[q], pt[p]) for q, p, _ in r.pairs}
    b = {(x, y) for x, y, l in zip(o["anchor"], o["positive"], o["label"]) if l == 0}
    out[name] = {"ours": t_ours, "theirs": t_theirs, "overlap": len(a & b) / max(1, len(b)), "n_ours": len(a),
                 "n_theirs": len(b), "kept": len({(q, p) for q, p, *_ in r.dropped})}
print(json.dumps(out))
"""
OPTIONS_PAIRS = 1_000


def run(sizes: list[int]) -> list[dict]:
    """One fresh process per size."""
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            _, peak, out = run_child(CHILD, str(n), str(Path(tmp)))
        r = json.loads(out.strip().splitlines()[-1])
        size = f"{n:,} (query, positive) pairs"
        full = n >= 50_000
        cold, warm = r["cold_ours"] / r["cold_theirs"], r["warm_ours"] / r["warm_theirs"]
        fmt = lambda d: ", ".join(f"{k} {v:.1f}s" for k, v in d.items())  # noqa: E731
        rows += [
            {"measure": "curate embed + mine + false-negatives, cold (s)", "value": round(r["cold_ours"], 1),
             "size": size},
            {"measure": "sentence-transformers mine_hard_negatives (faiss), cold (s)",
             "value": round(r["cold_theirs"], 1), "size": size},
            {"measure": "time ratio curate / sentence-transformers, cold", "value": round(cold, 3),
             "target": "<= 1.0", "met": cold <= 1.0 if full else None, "size": size},
            {"measure": "curate split, cold / warm", "value": f"{fmt(r['split_cold'])} / {fmt(r['split_warm'])}",
             "size": size},
            {"measure": "warm (s): curate (store cache) / sentence-transformers (cache_folder)",
             "value": f"{r['warm_ours']:.1f} / {r['warm_theirs']:.1f}", "size": size},
            {"measure": "re-run ratio: curate warm / sentence-transformers re-run (it re-embeds by default)",
             "value": round(r["warm_ours"] / r["cold_theirs"], 3), "target": "much below 1",
             "met": r["warm_ours"] / r["cold_theirs"] < 0.2 if full else None, "size": size},
            {"measure": "re-run ratio: curate warm / sentence-transformers with cache_folder", "value": round(warm, 3),
             "size": size},
            {"measure": "overlap: share of their mined negatives curate also mined", "value": round(r["overlap"], 4),
             "size": size},
            {"measure": "negatives mined: curate / sentence-transformers", "value": f"{r['ours']} / {r['theirs']}",
             "size": size},
            {"measure": "ingest of the pairs (not in the ratio) (s)", "value": round(r["ingest"], 1), "size": size},
            {"measure": "peak RSS of the process (MiB)", "value": int(peak), "size": size},
        ]
    return rows


def run_options() -> list[dict]:
    """Prompts and cross-encoder rescoring against sentence-transformers' miner with the same options."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        _, _, out = run_child(CHILD_OPTIONS, str(OPTIONS_PAIRS), str(Path(tmp)))
    r = json.loads(out.strip().splitlines()[-1])
    for name, m in r.items():
        size = f"{OPTIONS_PAIRS:,} (query, positive) pairs, " + (
            "relative_margin 0.05" if name == "prompts" else "range_max 10, no margin")
        rows += [
            {"measure": f"{name}: overlap with sentence-transformers (their negatives curate also mined)",
             "value": round(m["overlap"], 4), "size": size},
            {"measure": f"{name}: negatives mined curate / sentence-transformers; time (s) curate / theirs",
             "value": f"{m['n_ours']} / {m['n_theirs']}; {m['ours']:.1f} / {m['theirs']:.1f}", "size": size},
            {"measure": f"{name}: candidates the margin dropped, kept by curate for review (theirs: dropped silently)",
             "value": m["kept"], "size": size},
        ]
    return rows
