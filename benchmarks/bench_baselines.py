"""curate's detectors next to what a user would hand-build in the same run, on planted noise in real sentences.

The hand-built baselines learn from plain sentence embeddings of each example's text (for spans the text with
the span marked, as a classification ingest of the same data would see it): cleanlab's find_label_issues and
label quality scores on 5-fold out-of-fold logistic-regression probabilities, cleanlab's Datalab label check
on the same, and plain kNN disagreement (share of the 10 nearest neighbours with another label). SemEval is run
at 5/10/20/30% of relations turned into Other (plus 3% swapped), so the figures show how each method degrades
with the noise rate."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np

from benchmarks.bench_quality import CACHE, DATASETS as QUALITY, ROOT, SEMEVAL_TEST

SEMEVAL_TRAIN = ROOT.parent / "shared" / "data" / "semeval2010_task8" / "TRAIN_FILE.TXT"
RATES = (0.05, 0.10, 0.20, 0.30)
# confident-learning with the linear model on every set (its classifier=auto default fine-tunes the smaller ones: the
# fine-tuned figures are in the quality table), so the rows compare like with like across sizes.
# The ensemble combines exactly these runs (named, as the workspace keeps earlier benchmarks' runs of each set);
# a last row gives what a user gets from `curate detect` with no options, then `-d ensemble`.
CURATE = [("tacred-is", {}), ("knn-vote", {}), ("confident-learning", {"classifier": "linear"})]
DEFAULTS = "ensemble (curate detect defaults)"


def semeval_variant(out: Path, rate: float, seed: int = 7) -> tuple[Path, Path]:
    """SemEval train with `rate` of relations turned into Other and 3% swapped; (train file, gold file)."""
    blocks = [b for b in SEMEVAL_TRAIN.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n\n") if b.strip()]
    labels = sorted({b.split("\n")[1].strip() for b in blocks} - {"Other"})
    rng = random.Random(seed)
    gold, lines = [], []
    for b in blocks:
        head, label, *rest = b.split("\n")
        new, r = label, rng.random()
        if label != "Other" and r < rate:
            new = "Other"
        elif label != "Other" and r < rate + 0.03:
            new = rng.choice([x for x in labels if x != label])
        if new != label:
            gold.append({"id": head.split("\t")[0], "noisy_label": new, "true_label": label,
                         "kind": "false_negative" if new == "Other" else "wrong_relation"})
        lines.append("\n".join([head, new, *rest]))
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("\n\n".join(lines) + "\n\n", encoding="utf-8")
    (out / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    return out / "train.txt", out / "gold.jsonl"


def baseline_text(task: str, text: str, meta: dict) -> str:
    """What a user embeds for a hand-built baseline: the sentence, or for spans the sentence with the span marked."""
    if task == "span":
        from curate.spans import marked_span_text

        return marked_span_text(meta)[0]
    return text


def baselines(ws, name: str, universe: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(score, suggested label, flagged) over the universe for each hand-built baseline."""
    from cleanlab import Datalab
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from curate.embed import vectors_for_texts

    task = ws.dataset(name).task
    rows = {r[0]: r[1:] for r in ws.con.execute(
        "SELECT id, text, label, meta FROM examples WHERE dataset = ?", [name]).fetchall()}
    texts = [baseline_text(task, rows[i][0], json.loads(rows[i][2]) if rows[i][2] else {}) for i in universe]
    x = vectors_for_texts(ws, texts)
    labels = np.array([rows[i][1] for i in universe], dtype=object)
    classes = sorted(set(labels.tolist()))
    y = np.array([classes.index(lab) for lab in labels])
    proba = cross_val_predict(LogisticRegression(max_iter=1000), x, y, cv=5, method="predict_proba")
    out = {}
    quality = get_label_quality_scores(y, proba)
    issues = find_label_issues(y, proba)
    pred = np.array([classes[j] for j in proba.argmax(axis=1)], dtype=object)
    out["cleanlab find_label_issues (sentence embeddings)"] = (1 - quality, pred, issues)
    lab = Datalab({"label": y.tolist()}, label_name="label", verbosity=0)
    lab.find_issues(pred_probs=proba, issue_types={"label": {}})
    got = lab.get_issues("label")
    out["cleanlab Datalab label issues"] = (1 - got["label_score"].to_numpy(), pred, got["is_label_issue"].to_numpy())
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argsort(-sims, axis=1)[:, :10]
    disagree = (labels[nn] != labels[:, None]).mean(axis=1)
    vote = np.array([max(set(labels[n].tolist()), key=labels[n].tolist().count) for n in nn], dtype=object)
    out["plain kNN disagreement (k=10)"] = (disagree, vote, disagree > 0.5)
    return out


def measure(ws, name: str, gold_path: Path, runs: dict[str, str], defaults: list[str]) -> list[dict]:
    """Rows for curate's runs, the ensemble of its default set's runs (defaults) and the baselines on one dataset."""
    from curate.evaluate import evaluate, load_gold, ranking_metrics

    rows = []
    found = evaluate(ws, name, gold_path, list(runs.values()))
    for m in found:
        if m["run"] == "ensemble":
            continue  # the ensemble detector's own run is measured instead
        label = next(k for k, v in runs.items() if v == m["run"])
        rows.append(_row(name, f"curate {label}", m))
    ensemble = next(m for m in evaluate(ws, name, gold_path, defaults) if m["run"] == "ensemble")
    rows.append(_row(name, f"curate {DEFAULTS}", ensemble))
    ids = [r[0] for r in ws.con.execute("SELECT id, split FROM examples WHERE dataset = ? ORDER BY split, ord",
                                        [name]).fetchall()]
    gold = load_gold(gold_path, set(ids), "id")
    split_of = dict(ws.con.execute("SELECT id, split FROM examples WHERE dataset = ?", [name]).fetchall())
    universe = [i for i in ids if split_of[i] in {split_of[g] for g in gold}]
    is_error = np.array([i in gold for i in universe])
    true = np.array([gold[i]["true_label"] if i in gold else None for i in universe], dtype=object)
    for label, (score, sugg, flagged) in baselines(ws, name, universe).items():
        rows.append(_row(name, label, ranking_metrics(score, is_error, sugg, true, np.asarray(flagged, bool))))
    return rows


def _row(name: str, method: str, m: dict) -> dict:
    share = round(m["flagged"] / m["examples"], 4) if m.get("flagged") is not None else ""
    return {"dataset": name, "method": method, "errors": m["errors"], "examples": m["examples"], "AUPRC": m["auprc"],
            "random AUPRC": m["random_auprc"], "P@k": m["precision_at_k"], "relabel acc": m["relabel_accuracy"],
            "flagged share": share, "flag precision": m.get("flagged_precision", "")}


def run() -> list[dict]:
    """Every dataset: curate's default detectors and ensemble, then the baselines, in one workspace."""
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from curate.detect import Context, default_detectors, run_detector
    from curate.embed import embed_dataset
    from curate.ingest import ingest
    from curate.store import Workspace

    specs = {k: (QUALITY[k]["ingest"], QUALITY[k]["gold"]) for k in ("relation-sample", "topics", "wnut17-noisy")}
    rows: list[dict] = []
    CACHE.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, Workspace(CACHE) as ws:
        if SEMEVAL_TRAIN.exists():
            for rate in RATES:
                train, gold = semeval_variant(Path(tmp) / f"semeval{rate}", rate)
                specs[f"semeval-{int(rate * 100)}%"] = ([(train, "semeval", {}, "train"),
                                                        (SEMEVAL_TEST, "semeval", {}, "test")], gold)
        for name, (inputs, gold) in specs.items():
            name = f"baselines-{name}"
            for i, (path, fmt, opts, split) in enumerate(inputs):
                ingest(ws, path, fmt, name, split=split, replace=i == 0, append=i > 0, options=opts)
            embed_dataset(ws, name)  # texts already embedded for the quality benchmark come from the cache
            ctx = Context(ws, name)
            runs = {}
            for det, params in CURATE:
                if det == "tacred-is" and ctx.negative_label is None:
                    continue
                runs[det] = run_detector(ws, name, det, params, ctx=ctx, force=True).run_id
            runs["ensemble"] = run_detector(ws, name, "ensemble", {"runs": list(runs.values())}, ctx=ctx,
                                            force=True).run_id
            # classifier=auto resolved on this machine; identical runs above are reused.
            defaults = [run_detector(ws, name, det, params, ctx=ctx).run_id for det, params in default_detectors(ctx)]
            rows += measure(ws, name, Path(gold), runs, defaults)
    return rows
