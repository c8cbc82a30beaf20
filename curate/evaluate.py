"""Measuring detectors: ranking quality against gold errors, and the downstream retrain check (TACRED micro-F1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from curate.detect.context import Context
from curate.detect.base import REGISTRY
from curate.detect.ensemble import combine
from curate.detect.runs import run_trust
from curate.detect.scores import rank_normalise
from curate.errors import CurateError, InputError
from curate.ingest.base import iter_jsonl
from curate.store import Workspace


def load_gold(path: str | Path, known_ids: set[str], id_field: str = "id") -> dict[str, dict[str, Any]]:
    """Gold errors from JSONL ({id, true_label, kind?}); unknown ids are an error naming the line."""
    gold: dict[str, dict[str, Any]] = {}
    for where, rec in iter_jsonl(Path(path), "gold file", require=(id_field, "true_label")):
        if str(rec[id_field]) not in known_ids:
            raise where.error(f"unknown example id '{rec[id_field]}'", id_field)
        gold[str(rec[id_field])] = rec
    if not gold:
        raise InputError("gold file lists no errors", path=path)
    return gold


def ranking_metrics(
    scores: np.ndarray, is_error: np.ndarray, suggested: np.ndarray, true_labels: np.ndarray,
    flagged: np.ndarray | None = None, kinds: np.ndarray | None = None,
) -> dict[str, Any]:
    """Precision/recall at k (k = number of true errors), AUPRC, relabel accuracy, flagged-set precision/recall."""
    from sklearn.metrics import average_precision_score

    n_err = int(is_error.sum())
    order = np.argsort(-scores, kind="stable")
    top = order[:n_err]
    hits = int(is_error[top].sum())
    top_err = top[is_error[top]]
    top_err = top_err[np.array([s is not None for s in suggested[top_err]], dtype=bool)] if len(top_err) else top_err
    out: dict[str, Any] = {
        "errors": n_err, "examples": len(scores),
        "precision_at_k": round(hits / n_err, 4) if n_err else None,
        "recall_at_k": round(hits / n_err, 4) if n_err else None,
        "auprc": round(float(average_precision_score(is_error, scores)), 4) if n_err else None,
        "random_auprc": round(n_err / len(scores), 4) if len(scores) else None,
        # Over the true errors in the top k that carry a suggestion.
        "relabel_accuracy": round(float(np.mean(suggested[top_err] == true_labels[top_err])), 4) if len(top_err) else None,
    }
    if flagged is not None:
        nf = int(flagged.sum())
        tp = int((flagged & is_error).sum())
        out.update(flagged=nf, flagged_precision=round(tp / nf, 4) if nf else None,
                   flagged_recall=round(tp / n_err, 4) if n_err else None)
    if kinds is not None:
        found = set(top[is_error[top]].tolist())
        out["recall_at_k_by_kind"] = {
            str(kind): round(sum(i in found for i in np.flatnonzero(kinds == kind)) / int((kinds == kind).sum()), 4)
            for kind in sorted(set(kinds[is_error].tolist()))}
    return out


def evaluate(ws: Workspace, dataset: str, gold_path: str | Path, runs: list[str],
             id_field: str = "id") -> list[dict[str, Any]]:
    """Per run (and their ensemble, combined as the ensemble detector does), how well its ranking finds the
    gold errors.

    The universe is every example of the split(s) the gold errors lie in; unscored examples count as score 0.
    """
    ids = [r[0] for r in ws.con.execute(
        "SELECT id FROM examples WHERE dataset = ? ORDER BY split, ord", [dataset]).fetchall()]
    if not ids:
        raise CurateError(f"dataset '{dataset}' has no examples")
    gold = load_gold(gold_path, set(ids), id_field)
    split_of = dict(ws.con.execute("SELECT id, split FROM examples WHERE dataset = ?", [dataset]).fetchall())
    splits = {split_of[i] for i in gold}
    universe = [i for i in ids if split_of[i] in splits]
    pos = {e: j for j, e in enumerate(universe)}
    is_error = np.array([e in gold for e in universe])
    true_labels = np.array([gold[e]["true_label"] if e in gold else None for e in universe], dtype=object)
    kinds = np.array([gold[e].get("kind", "error") if e in gold else None for e in universe], dtype=object)
    results, normalised = [], []
    for run_id in runs:
        row = ws.one("SELECT kind, params FROM runs WHERE run_id = ? AND dataset = ?", [run_id, dataset])
        if row is None:
            raise CurateError(f"no run '{run_id}' on dataset '{dataset}'")
        scores = np.zeros(len(universe))
        scored = np.zeros(len(universe), dtype=bool)
        suggested = np.full(len(universe), None, dtype=object)
        flagged = np.zeros(len(universe), dtype=bool)
        for ex_id, s, sugg, flag in ws.con.execute(
                "SELECT example_id, score, suggested_label, flagged FROM findings WHERE run_id = ?", [run_id]).fetchall():
            j = pos.get(ex_id)
            if j is not None:
                scores[j], suggested[j], flagged[j], scored[j] = s, sugg, bool(flag), True
        metrics = ranking_metrics(scores, is_error, suggested, true_labels, flagged, kinds)
        results.append({"run": run_id, "detector": row[0], **metrics})
        cls = REGISTRY.get(row[0])
        member = cls is None or cls.left_out(json.loads(row[1]) if row[1] else {}) is None
        normalised.append((rank_normalise(scores), suggested, scored, member, run_trust(ws, run_id)))
    members = [n for n in normalised if n[3]]  # as the ensemble detector's default set
    if len(members) > 1:
        # The same combination as the ensemble detector's default (agreement-weighted, scored runs only).
        combined, _ = combine(np.array([n[0] for n in members]), np.array([n[2] for n in members]),
                              trust=np.array([n[4] for n in members]))
        best = np.argmax([n[0] for n in members], axis=0)
        suggested = np.array([members[b][1][j] for j, b in enumerate(best)], dtype=object)
        results.append({"run": "ensemble", "detector": "ensemble",
                        **ranking_metrics(combined, is_error, suggested, true_labels, None, kinds)})
    return results


def tacred_f1(gold: np.ndarray, pred: np.ndarray, negative: str | None) -> dict[str, float]:
    """Micro precision/recall/F1 over positive relations (a negative prediction is never a hit)."""
    if negative is None:
        acc = float(np.mean(gold == pred)) if len(gold) else 0.0
        return {"precision": acc, "recall": acc, "f1": acc}
    guessed = pred != negative
    actual = gold != negative
    correct = guessed & actual & (gold == pred)
    p = correct.sum() / guessed.sum() if guessed.sum() else 0.0
    r = correct.sum() / actual.sum() if actual.sum() else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f1), 4)}


def downstream(
    ws: Workspace, dataset: str, runs: list[str], *, train_split: str = "train", test_split: str = "test",
    model: str | None = None, seed: int = 0, c: float = 1.0,
) -> list[dict[str, Any]]:
    """Train one fixed classifier on the original train split and on each cleaned variant (E: flagged removed,
    R: flagged relabelled to the suggestion), evaluate on the clean test split, report micro-F1 and its change."""
    from sklearn.linear_model import LogisticRegression

    ctx = Context(ws, dataset, model=model, seed=seed)
    train = ctx.split_mask(train_split)
    test = ctx.split_mask(test_split)
    x_test, y_test = ctx.matrix[test], ctx.labels[test]

    def fit_eval(mask: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        clf = LogisticRegression(C=c, max_iter=2000)
        clf.fit(ctx.matrix[mask], labels[mask].astype(str))
        return tacred_f1(y_test.astype(str), clf.predict(x_test), ctx.negative_label)

    base = fit_eval(train, ctx.labels)
    rows = [{"variant": "original", "run": None, "train_examples": int(train.sum()), "changed": 0, **base,
             "delta_f1": 0.0}]
    for run_id in runs:
        row = ws.one("SELECT kind, params, variant FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise CurateError(f"no run '{run_id}'")
        params = json.loads(row[1] or "{}")
        e_name, r_name = variant_names(row[0], params)
        if row[2]:  # told apart from the same detector's plain run
            e_name, r_name = f"{e_name} ({row[2]})", f"{r_name} ({row[2]})"
        flagged = {e: s for e, s in ws.con.execute(
            "SELECT example_id, suggested_label FROM findings WHERE run_id = ? AND flagged", [run_id]).fetchall()}
        hit = np.array([e in flagged for e in ctx.ids]) & train
        keep = train & ~hit
        rows.append(_variant(e_name, run_id, keep, ctx.labels, int(hit.sum()), fit_eval, base))
        # Control: remove as many random examples with the same labels, to tell cleaning from a mere prior shift.
        rng = np.random.default_rng(seed)
        control = train.copy()
        for label in set(ctx.labels[hit].tolist()):
            pool = np.flatnonzero(train & (ctx.labels == label))
            control[rng.choice(pool, size=int((ctx.labels[hit] == label).sum()), replace=False)] = False
        rows.append(_variant(f"{e_name}-random", run_id, control, ctx.labels, int(hit.sum()), fit_eval, base))
        relabelled = ctx.labels.copy()
        no_suggestion = np.zeros_like(hit)
        for r in np.flatnonzero(hit):
            s = flagged[ctx.ids[r]]
            if s is None:
                no_suggestion[r] = True  # nothing to relabel to: drop it, as E does
            else:
                relabelled[r] = s
        rows.append(_variant(r_name, run_id, train & ~no_suggestion, relabelled, int(hit.sum()), fit_eval, base))
    return rows


def variant_names(detector: str, params: dict[str, Any]) -> tuple[str, str]:
    """The paper's names for the cleaned variants of a run: IS-E/IS-R, EN/RN, ENP/RNP; else DETECTOR-E/-R."""
    if detector == "tacred-is":
        return "IS-E", "IS-R"
    if detector == "tacred-es":
        return ("ENP", "RNP") if params.get("include_positives") else ("EN", "RN")
    return f"{detector}-E", f"{detector}-R"


def _variant(name, run_id, mask, labels, changed, fit_eval, base) -> dict[str, Any]:
    scores = fit_eval(mask, labels)
    return {"variant": name, "run": run_id, "train_examples": int(mask.sum()), "changed": changed, **scores,
            "delta_f1": round(scores["f1"] - base["f1"], 4)}
