"""Cleaning variants: which examples an export keeps, and with which label.

Every variant is a Policy: optionally the reviewers' decisions, then automatic rules that apply a detector run's
findings (remove, relabel, or relabel where there is a suggestion and remove otherwise), then optional weights for
retrieval negatives. The named variants are the papers' (TACRED IS-E/IS-R, EN/RN, ENP/RNP; ARHN R/F/RF) and match
what `curate eval --downstream` reports.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.decisions import LATEST_DECISIONS
from curate.ingest.retrieval import UNJUDGED
from curate.sentences import load_sentences
from curate.errors import CurateError
from curate.export.base import ExportData
from curate.ingest.retrieval import NEGATIVE, POSITIVE
from curate.store import Workspace

Action = Literal["remove", "relabel", "relabel_or_remove"]
MIN_CALIBRATION = 30  # reviewed negatives (with at least 5 of each outcome) before decisions calibrate the weights


class AutoRule(BaseModel):
    """Apply one detector run's flagged findings automatically."""

    model_config = ConfigDict(extra="forbid")

    detector: str | None = Field(None, description="use the newest run of this detector (or name a run)")
    run: str | None = Field(None, description="a run id")
    action: Action = Field("relabel_or_remove", description="remove; relabel to the suggestion; or relabel where "
                           "there is a suggestion and remove otherwise")
    min_score: float | None = Field(None, ge=0, le=1, description="apply findings scoring at least this, flagged "
                                    "or not (default: the run's flagged findings)")
    include_positives: bool | None = Field(None, description="with detector tacred-es: pick the newest run with "
                                           "(true) or without (false) positives")

    @model_validator(mode="after")
    def _one_source(self) -> AutoRule:
        if (self.detector is None) == (self.run is None):
            raise ValueError("give either 'detector' or 'run'")
        return self


class Policy(BaseModel):
    """How a variant is made: decisions, then automatic rules in order, then optional negative weights."""

    model_config = ConfigDict(extra="forbid")

    reviewed: bool = Field(True, description="apply the reviewers' decisions first (they win over automatic rules)")
    auto: list[AutoRule] = Field(default_factory=list, description="automatic rules, applied in order")
    protect_splits: list[str] = Field(["test"], description="splits automatic rules never touch")
    weights: bool | list[str] = Field(False, description="retrieval: weight each negative by the chance that it "
                                      "really is one, from the newest run of every detector that estimates it (true) "
                                      "or of the named ones (docs/export.md)")


def _auto(detector: str, action: Action, **kw: Any) -> Policy:
    return Policy(reviewed=False, auto=[AutoRule(detector=detector, action=action, **kw)])


NAMED: dict[str, Policy] = {
    "original": Policy(reviewed=False),
    "reviewed": Policy(reviewed=True),
    "weighted": Policy(reviewed=True, weights=True),
    "IS-E": _auto("tacred-is", "remove"),
    "IS-R": _auto("tacred-is", "relabel_or_remove"),
    "EN": _auto("tacred-es", "remove", include_positives=False),
    "RN": _auto("tacred-es", "relabel_or_remove", include_positives=False),
    "ENP": _auto("tacred-es", "remove", include_positives=True),
    "RNP": _auto("tacred-es", "relabel_or_remove", include_positives=True),
    # ARHN: R relabels negatives ranked above the positive, F filters every flagged one, RF does both.
    "R": _auto("arhn", "relabel"),
    "F": _auto("arhn", "remove"),
    "RF": _auto("arhn", "relabel_or_remove"),
}


def variant_policy(variant: str, run: str | None = None) -> Policy:
    """The policy behind a variant name; DETECTOR-E / DETECTOR-R work for any detector; run pins the run."""
    if variant in NAMED:
        policy = NAMED[variant].model_copy(deep=True)
    elif variant.endswith(("-E", "-R")):
        policy = _auto(variant[:-2], "remove" if variant.endswith("-E") else "relabel_or_remove")
    else:
        raise CurateError(f"unknown variant '{variant}'; known: {', '.join(NAMED)}, or DETECTOR-E / DETECTOR-R")
    if run is not None:
        if not policy.auto:
            raise CurateError(f"variant '{variant}' uses no run; --run goes with automatic variants such as IS-E")
        policy.auto = [r.model_copy(update={"run": run, "detector": None, "include_positives": None})
                       for r in policy.auto]
    return policy


Q_FRAME = f"""
    SELECT e.id, e.split, e.text, e.label AS original_label, e.meta, d.action, d.new_label
    FROM examples e LEFT JOIN ({LATEST_DECISIONS}) d ON d.example_id = e.id
    WHERE e.dataset = ? ORDER BY e.split, e.ord
"""
Q_RUN = "SELECT run_id, kind, params, dataset, counts FROM runs WHERE run_id = ?"
Q_RUNS_OF = """
    SELECT run_id, params FROM runs WHERE dataset = ? AND kind = ? AND status = 'done'
    ORDER BY finished_at DESC, run_id DESC
"""
Q_FINDINGS = "SELECT example_id, score, suggested_label, flagged, evidence FROM findings WHERE run_id = ?"


def resolve_run(ws: Workspace, dataset: str, rule: AutoRule) -> dict[str, Any]:
    """The run a rule applies: the one named, or the newest matching run of its detector."""
    if rule.run is not None:
        row = ws.one(Q_RUN, [rule.run])
        if row is None or row[3] != dataset:
            raise CurateError(f"no run '{rule.run}' on dataset '{dataset}'")
        return {"run_id": row[0], "detector": row[1], "params": json.loads(row[2] or "{}")}
    for run_id, params in ws.con.execute(Q_RUNS_OF, [dataset, rule.detector]).fetchall():
        p = json.loads(params or "{}")
        if rule.include_positives is None or bool(p.get("include_positives")) == rule.include_positives:
            return {"run_id": run_id, "detector": rule.detector, "params": p}
    positives = "" if rule.include_positives is None else f"include_positives={str(rule.include_positives).lower()}"
    raise CurateError(f"no run of detector '{rule.detector}'{' with ' + positives if positives else ''} on "
                      f"'{dataset}'; run: curate detect {dataset} -d {rule.detector}"
                      f"{' -p ' + positives if positives else ''}")


def build_variant(ws: Workspace, dataset: str, policy: Policy) -> tuple[ExportData, dict[str, Any]]:
    """The variant's examples, and what went into it (runs and decisions used) for the manifest."""
    info = ws.dataset(dataset)
    df = ws.con.execute(Q_FRAME, [dataset, dataset]).df()
    df["meta"] = [json.loads(m) if isinstance(m, str) else {} for m in df["meta"]]
    n = len(df)
    label = df["original_label"].to_numpy(dtype=object).copy()
    removed = np.zeros(n, dtype=bool)
    changed_by = np.full(n, None, dtype=object)
    decided = np.zeros(n, dtype=bool)
    used: dict[str, Any] = {"policy": policy.model_dump(), "runs": [], "decisions": 0}
    if policy.reviewed:
        action = df["action"].to_numpy(dtype=object)
        decided = pd.notna(action) & (action != "reset")
        rel = action == "relabel"
        label[rel] = df["new_label"].to_numpy(dtype=object)[rel]
        removed |= action == "remove"
        changed_by[decided] = "review"
        used["decisions"] = int(decided.sum())
        used["last_decision"] = ws.one("SELECT max(seq) FROM decisions WHERE dataset = ?", [dataset])[0]
    sentence_tags: dict[str, list[str] | None] = {}
    sentences = load_sentences(ws, dataset) if info.task == "span" else {}
    reviewed_sentences: set[str] = set()  # no automatic rule rewrites what a reviewer decided in a sentence
    whole: set[str] = set()  # sentences a reviewer decided as a whole: no rule changes their spans either
    if policy.reviewed and sentences:
        reviewed_sentences = {m.get("sentence") for m, d in zip(df["meta"], decided) if d}
        for sid, sent in sentences.items():
            if sent.action in ("retag", "remove"):  # retagged or removed as a whole
                sentence_tags[sid] = None if sent.action == "remove" else sent.tags
            if sent.action not in (None, "reset"):
                reviewed_sentences.add(sid)
                whole.add(sid)
                used["decisions"] += 1
    row_of = {e: i for i, e in enumerate(df["id"].tolist())}
    protected = df["split"].isin(policy.protect_splits).to_numpy()
    for rule in policy.auto:
        run = resolve_run(ws, dataset, rule)
        applied = 0
        for ex_id, score, suggested, flagged, _ in ws.con.execute(Q_FINDINGS, [run["run_id"]]).fetchall():
            i = row_of.get(ex_id)
            hit = flagged if rule.min_score is None else score >= rule.min_score
            sent = sentences.get(ex_id) if i is None else None
            if sent is not None:  # a sentence finding (token-issues): its suggested tags, or the sentence dropped
                if hit and ex_id not in sentence_tags and ex_id not in reviewed_sentences and \
                        sent.split not in policy.protect_splits and (suggested is not None or rule.action != "relabel"):
                    sentence_tags[ex_id] = (None if rule.action == "remove" or suggested is None
                                            else suggested.split())
                    applied += 1
                continue
            if i is None or not hit or protected[i] or decided[i] or changed_by[i] is not None or (
                    whole and df["meta"].iat[i].get("sentence") in whole):
                continue  # a reviewer's decision, or an earlier rule, wins
            if rule.action == "remove" or (rule.action == "relabel_or_remove" and suggested is None):
                removed[i] = True
            elif suggested is not None:
                label[i] = suggested
            else:
                continue
            changed_by[i] = run["run_id"]
            applied += 1
        used["runs"].append({**run, "action": rule.action, "min_score": rule.min_score, "applied": applied})
    weight = np.full(n, np.nan)
    if policy.weights:
        weight = _weights(ws, info, row_of, label, decided, policy.weights, used)
    original = df["original_label"].to_numpy(dtype=object)
    change = np.where(removed, "removed", np.where(label != original, "relabelled", None))
    frame = pd.DataFrame({
        "id": df["id"], "split": df["split"], "text": df["text"], "label": label, "original_label": original,
        "meta": df["meta"], "removed": removed, "change": change, "changed_by": changed_by, "weight": weight,
    })
    judged = label != UNJUDGED
    if not judged.all():  # mined candidates kept for review and not labelled yet: no export writes them
        frame = frame[judged].reset_index(drop=True)
        used["unjudged_left_out"] = int((~judged).sum())
    labels = sorted({*(x for x in original if x is not None and x != UNJUDGED),
                     *(x for x in label if x is not None and x != UNJUDGED)})
    data = ExportData(info, frame, labels, sentence_tags=sentence_tags)
    if info.task in ("retrieval", "span"):  # span exports write every sentence, with or without entities
        data.texts = _texts(ws, dataset)
    return data, used


def weighing_detectors() -> list[str]:
    """Detectors whose runs estimate the chance that a negative really is one (Detector.negative_weights)."""
    from curate.detect.base import REGISTRY, Detector

    return sorted(n for n, cls in REGISTRY.items() if cls.negative_weights.__func__ is not
                  Detector.negative_weights.__func__)


def _weights(ws: Workspace, info: Any, row_of: dict[str, int], label: np.ndarray,
             decided: np.ndarray, chosen: bool | list[str], used: dict[str, Any]) -> np.ndarray:
    """Per unreviewed negative, the chance it really is one (the lowest estimate of the chosen detectors' newest
    runs), calibrated on reviewed negatives when there are enough; positives and reviewed negatives weigh 1."""
    from curate.detect.base import REGISTRY

    if info.task != "retrieval":
        raise CurateError(f"weights are for retrieval negatives; '{info.name}' is a {info.task} dataset")
    able = weighing_detectors()
    names = able if chosen is True else list(chosen)
    for det in names:
        if det not in able:
            raise CurateError(f"'{det}' cannot weigh negatives: its scores are not the chance that a negative is one; "
                              f"detectors that can: {', '.join(able)}")
    p_negative = np.ones(len(row_of))
    found = False
    for det in names:
        row = ws.one("SELECT run_id, counts FROM runs WHERE dataset = ? AND kind = ? AND status = 'done' "
                     "ORDER BY finished_at DESC, run_id DESC LIMIT 1", [info.name, det])
        if row is None:
            continue
        findings = ws.con.execute("SELECT example_id, score, evidence FROM findings WHERE run_id = ?", [row[0]]).df()
        findings["evidence"] = [json.loads(e) if isinstance(e, str) else None for e in findings["evidence"]]
        estimate = REGISTRY[det].negative_weights(findings, json.loads(row[1] or "{}"))
        if estimate is None:
            raise CurateError(f"run {row[0]} of {det} records no estimate to weigh by (it predates them); run it "
                              f"again: curate detect {info.name} -d {det} --force")
        found = True
        used["runs"].append({"run_id": row[0], "detector": det, "action": "weight"})
        at = np.array([row_of.get(e, -1) for e in findings["example_id"]], dtype=np.int64)
        ok = at >= 0
        np.minimum.at(p_negative, at[ok], np.clip(estimate[ok], 0.0, 1.0))
    if not found:
        raise CurateError(f"no run of {' or '.join(names)} on '{info.name}' to weigh negatives by; "
                          f"run: curate detect {info.name} -d {names[0] if names else 'relevance-model'}")
    negative = label == NEGATIVE
    p_negative = _calibrate(ws, info.name, row_of, p_negative, negative, used)
    weight = np.where(negative & ~decided, p_negative, 1.0)
    weight[label == POSITIVE] = 1.0
    return np.round(weight, 4)


def _calibrate(ws: Workspace, dataset: str, row_of: dict[str, int], p: np.ndarray, negative: np.ndarray,
               used: dict[str, Any]) -> np.ndarray:
    """Platt-scale the estimates on reviewed negatives (kept = a real negative; relabelled or removed = not), once
    there are MIN_CALIBRATION of them with both outcomes. Reviewers see the top of the queue, a selection by the
    estimate itself; a model of the outcome given the estimate stays consistent under such a selection."""
    from sklearn.linear_model import LogisticRegression

    rows = ws.con.execute(
        "SELECT e.id, d.action, d.new_label FROM examples e JOIN (" + LATEST_DECISIONS + ") d ON d.example_id = e.id "
        "WHERE e.dataset = ? AND e.label = ? AND d.action != 'reset'", [dataset, dataset, NEGATIVE]).fetchall()
    at = np.array([row_of[i] for i, _, _ in rows if i in row_of], dtype=np.int64)
    y = np.array([a == "keep" or (a == "relabel" and new == NEGATIVE) for i, a, new in rows if i in row_of])
    if len(at) < MIN_CALIBRATION or min(int(y.sum()), int((~y).sum())) < 5:
        return p
    logit = lambda q: np.log(np.clip(q, 1e-6, 1 - 1e-6) / np.clip(1 - q, 1e-6, 1))  # noqa: E731
    clf = LogisticRegression(C=1e4).fit(logit(p[at])[:, None], y)
    used["calibration"] = {"decisions": int(len(at)), "slope": round(float(clf.coef_[0, 0]), 4),
                           "intercept": round(float(clf.intercept_[0]), 4)}
    out = p.copy()
    out[negative] = clf.predict_proba(logit(p[negative])[:, None])[:, 1]
    return out


def _texts(ws: Workspace, dataset: str) -> dict[str, dict[str, tuple[str, dict[str, Any]]]]:
    out: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {"query": {}, "passage": {}}
    for kind, tid, text, meta in ws.con.execute(
            "SELECT kind, id, text, meta FROM texts WHERE dataset = ?", [dataset]).fetchall():
        out.setdefault(kind, {})[tid] = (text, json.loads(meta) if meta else {})
    return out
