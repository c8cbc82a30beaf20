"""Simulated review: a reviewer follows the default ensemble's queue in batches of 25 and decides from gold; per
round, the errors found per 100 decisions and the AUPRC of the unreviewed rest, with the queue re-ranked from the
decisions (curate.feedback) and without. Also for a reviewer who is wrong 10% of the time (three seeds)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks.bench_baselines import semeval_variant
from benchmarks.bench_quality import CACHE, DATASETS

BATCH, ROUNDS = 25, 8  # up to 200 decisions
RATES = (5, 20, 30)  # SemEval with these shares of relations planted as noise too (10%: semeval-noisy)
WRONG_SEEDS = (0, 1, 2)


def semeval_at(rate: int) -> dict:
    """SemEval train with noise planted as the baselines benchmark plants it, at rate % of the relations."""
    train, gold = semeval_variant(CACHE.parent / f"semeval{rate}", rate / 100)
    return {"ingest": [(train, "semeval", {}, "train"), DATASETS["semeval-noisy"]["ingest"][1]], "gold": gold}


def members(ws, name: str, spec: dict) -> dict:
    """The default detectors' runs on a set, as the ensemble combines them, with the gold errors."""
    from curate.detect import Context, default_detectors, run_detector
    from curate.detect.base import REGISTRY
    from curate.detect.ensemble import combine, run_scores
    from curate.detect.runs import run_trust
    from curate.detect.scores import rank_normalise
    from curate.embed import embed_dataset
    from curate.evaluate import load_gold
    from curate.ingest import ingest

    for i, (path, fmt, opts, split) in enumerate(spec["ingest"]):
        ingest(ws, path, fmt, name, split=split, replace=i == 0, append=i > 0, options=opts)
    embed_dataset(ws, name)
    ctx = Context(ws, name)
    runs = [run_detector(ws, name, d, p, ctx=ctx) for d, p in default_detectors(ctx)]
    run_ids = [r.run_id for r in runs if REGISTRY[r.detector].left_out(r.params) is None]
    rows = np.flatnonzero(ctx.split_mask("train"))
    ids = [ctx.ids[r] for r in rows]
    table = run_scores(ctx, run_ids)
    raw = np.array([[col.get(i, 0.0) for i in ids] for col, _, _ in table])
    scored = np.array([[i in col for i in ids] for col, _, _ in table], dtype=bool)
    ranks = np.array([rank_normalise(r) for r in raw])
    base, _ = combine(ranks, scored, trust=np.array([run_trust(ws, r) for r in run_ids]))
    gold = load_gold(spec["gold"], set(ctx.ids), spec.get("gold_id_field", "id"))
    return {"ranks": ranks, "base": base, "labels": np.array([str(x) for x in ctx.labels[rows]], dtype=object),
            "errors": np.array([i in gold for i in ids]), "names": [r.detector for r in runs if r.run_id in run_ids]}


def simulate(d: dict, learn: bool, wrong: float = 0.0, seed: int = 0) -> list[tuple[int, float, float]]:
    """Per round: (decisions, errors found per 100 decisions, AUPRC of the unreviewed rest)."""
    from sklearn.metrics import average_precision_score

    from curate.feedback import relearn

    rng = np.random.default_rng(seed)
    err, order = d["errors"], d["base"].copy()
    reviewed = np.zeros(len(err), dtype=bool)
    decided: list[int] = []
    said: list[bool] = []
    out = []
    for _ in range(ROUNDS):
        open_ = np.flatnonzero(~reviewed)
        pick = open_[np.argsort(-order[open_], kind="stable")[:BATCH]]
        reviewed[pick] = True
        decided += pick.tolist()
        flip = rng.random(len(pick)) < wrong
        said += (err[pick] ^ flip).tolist()
        rest = ~reviewed
        out.append((len(decided), 100 * err[decided].sum() / len(decided),
                    float(average_precision_score(err[rest], order[rest])) if err[rest].any() else float("nan")))
        if learn:
            got = relearn(d["ranks"], d["base"], d["labels"], np.array(decided), np.array(said), names=d["names"])
            order = got.score if got.used else d["base"]
    return out


def bound(d: dict) -> float:
    """Errors found per 100 in 200 decisions by the same features and window with a model fitted on every gold
    error in advance: what learning from decisions could at most add here."""
    from scipy.stats import rankdata
    from sklearn.linear_model import LogisticRegression

    from curate.feedback import WINDOW, _features

    n = len(d["base"])
    q = (rankdata(d["base"]) - 0.5) / n
    x, _ = _features(d["ranks"], d["labels"], np.arange(n), d["names"])
    x = np.column_stack([np.log(q / (1 - q)), x])
    known = LogisticRegression(max_iter=3000).fit(x, d["errors"]).decision_function(x)
    reviewed = np.zeros(n, dtype=bool)
    for _ in range(ROUNDS):
        open_ = np.flatnonzero(~reviewed)
        window = open_[np.argsort(-d["base"][open_], kind="stable")[:WINDOW]]
        reviewed[window[np.argsort(-known[window], kind="stable")[:BATCH]]] = True
    return round(100 * float(d["errors"][reviewed].mean()), 1)


def run() -> list[dict]:
    """One row per set and reviewer: found per 100 and rest AUPRC at 50/100/200 decisions, learning off and on."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from curate.store import Workspace

    sets = {k: v for k, v in DATASETS.items() if all(Path(p).exists() for p, *_ in v["ingest"])}
    sets.update({f"semeval-{r}%": semeval_at(r) for r in RATES})
    rows = []
    with Workspace(CACHE) as ws:
        for name, spec in sets.items():
            d = members(ws, name, spec)
            for who, wrong, seeds in (("right", 0.0, (0,)), ("wrong 10%", 0.1, WRONG_SEEDS)):
                off = np.mean([simulate(d, False, wrong, s) for s in seeds], axis=0)
                on = np.mean([simulate(d, True, wrong, s) for s in seeds], axis=0)
                n_err = int(d["errors"].sum())
                row = {"set": name, "reviewer": who, "errors": n_err, "examples": len(d["errors"])}
                for k in (1, 3, 7):  # rounds ending at 50, 100, 200 decisions
                    row[f"found/100 @{int(off[k][0])} off"] = round(off[k][1], 1)
                    row[f"found/100 @{int(off[k][0])} on"] = round(on[k][1], 1)
                row["ceiling/100 @200"] = round(100 * min(n_err, 200) / 200, 1)
                row["gold-fitted bound/100 @200"] = bound(d) if who == "right" else None
                row["rest AUPRC @200 off"] = round(off[-1][2], 3)
                row["rest AUPRC @200 on"] = round(on[-1][2], 3)
                row["worst round: found/100 on - off"] = round(float((on[:, 1] - off[:, 1]).min()), 1)
                row["gain @200"] = f"{100 * (on[-1][1] / off[-1][1] - 1):+.1f}%"
                rows.append(row)
                print(row, flush=True)
    return rows


if __name__ == "__main__":
    from benchmarks.common import render_table, save

    save("feedback", run(), table=True)
    render_table()
