"""Token-level NER issues on WNUT 2017 train with token-level noise planted (sample_data/wnut17_tokens: wrong
types, boundaries moved by one word, entities dropped to O, half of them in lower case, and spurious entities).

Per error kind, the AUPRC of a sentence ranking: sentences with an error of that kind against the sentences with
no planted error (other kinds left out). Rankings: token-issues (cleanlab's sentence quality, 'min' of token
self-confidence, on out-of-fold tag probabilities of the linear model, and of the fine-tuned tagger with
-p classifier=finetune), cleanlab's 'softmin' sentence score on the linear model's
probabilities, and each default span detector's run read at sentence level (its highest span score in the
sentence; 0 where it scored no span there). Plus the precision and recall of token-issues' flags."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.bench_quality import CACHE

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "sample_data" / "wnut17_tokens"
KINDS = ("type", "boundary", "missed", "missed_lower", "spurious")


def auprc(scores: dict[str, float], positives: set[str], clean: set[str]) -> float | None:
    """AUPRC of scores over positives + clean sentences (None without positives)."""
    from sklearn.metrics import average_precision_score

    ids = sorted(positives | clean)
    if not positives:
        return None
    y = np.array([i in positives for i in ids])
    s = np.array([scores.get(i, 0.0) for i in ids])
    return round(float(average_precision_score(y, s)), 4)


def run() -> list[dict]:
    """One row per ranking, with AUPRC per error kind and over all errors."""
    from cleanlab.token_classification.rank import get_label_quality_scores

    from curate.detect import Context, default_detectors, run_detector
    from curate.detect.token_issues import Params, TokenIssues
    from curate.embed import embed_dataset
    from curate.ingest import ingest
    from curate.store import Workspace

    gold = [json.loads(line) for line in (DATA / "gold.jsonl").read_text().splitlines() if line.strip()]
    by_kind: dict[str, set[str]] = defaultdict(set)
    for g in gold:
        by_kind[g["kind"]].add(g["id"])
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    ws = Workspace(CACHE.parent / "tokens.duckdb")
    ingest(ws, DATA / "train.conll", "conll", "wnut-tokens", split="train", replace=True)
    embed_dataset(ws, "wnut-tokens")
    ctx = Context(ws, "wnut-tokens")
    rankings: dict[str, dict[str, float]] = {}
    extra: dict[str, dict] = {}
    errors = set().union(*by_kind.values())
    for classifier in ("linear", "finetune"):
        # No reuse of stored fine-tuned folds either: the time is a cold run's.
        ws.con.execute("DELETE FROM tuned_folds WHERE dataset = 'wnut-tokens'")
        t = time.perf_counter()
        res = run_detector(ws, "wnut-tokens", "token-issues", {"classifier": classifier}, ctx=ctx, force=True)
        seconds = round(time.perf_counter() - t, 1)
        rows = ws.con.execute("SELECT example_id, score, flagged FROM findings WHERE run_id = ?",
                              [res.run_id]).fetchall()
        name = "token-issues" + (" (finetune)" if classifier == "finetune" else "")
        rankings[name] = {r[0]: float(r[1]) for r in rows}
        flagged = {r[0] for r in rows if r[2]}
        extra[name] = {"flagged": len(flagged), "precision": round(len(flagged & errors) / max(len(flagged), 1), 3),
                       "recall": round(len(flagged & errors) / len(errors), 3), "seconds": seconds}
    sents, _, labels, probs = TokenIssues().tag_probabilities(ctx, Params())
    soft, _ = get_label_quality_scores(labels, probs, sentence_score_method="softmin")
    rankings["cleanlab softmin (same probabilities)"] = {s.id: 1.0 - float(q) for s, q in zip(sents, soft)}
    for det, params in default_detectors(ctx):
        r = run_detector(ws, "wnut-tokens", det, params, ctx=ctx)
        best: dict[str, float] = {}
        for eid, score in ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?",
                                         [r.run_id]).fetchall():
            sid = eid.rsplit(":", 1)[0]
            best[sid] = max(best.get(sid, 0.0), float(score))
        name = det + (f" ({r.variant})" if r.variant else "")
        rankings[f"{name}, max over spans"] = best
    clean = {s.id for s in sents} - errors
    out = []
    for name, scores in rankings.items():
        row = {"ranking": name, **{k: auprc(scores, by_kind[k], clean) for k in KINDS},
               "all": auprc(scores, errors, clean), **extra.get(name, {})}
        out.append(row)
    prevalence = {k: round(len(by_kind[k]) / (len(by_kind[k]) + len(clean)), 4) for k in KINDS}
    out.append({"ranking": "random (prevalence)", **prevalence, "all": round(len(errors) / len(sents), 4)})
    return out
