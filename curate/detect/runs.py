"""Running a detector: validate params, reuse an identical earlier run, store the run and its findings."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from curate.version import __version__
from curate.detect.base import COLUMNS, REGISTRY, Detector, DetectorParams, ModelParams
from curate.detect.context import Context
from curate.engine.options import EngineOptions
from curate.errors import CurateError
from curate.registry import instantiate
from curate.sentences import fill_tags
from curate.store import RUN_LABEL, Workspace

log = logging.getLogger(__name__)

Q_STATE = """
    SELECT count(*), coalesce(sum(hash(id, label, text_hash, removed)), 0) FROM current_examples WHERE dataset = ?
"""
Q_CLEAN_STATE = "SELECT count(*), coalesce(sum(hash(example_id, label)), 0) FROM clean_labels WHERE dataset = ?"
# The dataset is matched too: the same content ingested under two names has equal fingerprints, and a run (with its
# findings) belongs to one dataset.
Q_REUSE = """
    SELECT run_id FROM runs WHERE fingerprint = ? AND dataset = ? AND status = 'done' ORDER BY finished_at DESC LIMIT 1
"""
Q_INSERT_RUN = """
    INSERT INTO runs (run_id, kind, dataset, params, started_at, finished_at, status, version, counts, fingerprint,
                      variant)
    VALUES (?, ?, ?, ?, ?, ?, 'done', ?, ?, ?, ?)
"""
Q_LATEST_VARIANTS = f"""
    SELECT kind, variant, arg_max(run_id, (finished_at, run_id)), arg_max({RUN_LABEL}, (finished_at, run_id)),
           arg_max(params, (finished_at, run_id))
    FROM runs WHERE dataset = ? AND status = 'done' GROUP BY kind, variant ORDER BY kind, variant
"""


@dataclass
class RunResult:
    """What a detector run produced (or which earlier identical run was reused)."""

    run_id: str
    detector: str
    dataset: str
    params: dict[str, Any]
    counts: dict[str, Any]
    reused: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    variant: str = ""  # the signal behind the run, as its detector names it ('' for the plain one)


def run_label(detector: str, params: dict[str, Any]) -> str:
    """A detector with the parameters it was given, e.g. 'confident-learning (model=linear)'."""
    return detector + (" (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")


def make_params(detector: str, params: dict[str, Any] | None) -> tuple[Detector, DetectorParams]:
    """The detector and its validated params; unknown detectors or params raise CurateError."""
    return instantiate(REGISTRY, detector, "detector", "Params", params, "unknown parameter")


def fingerprint(ws: Workspace, dataset: str, detector: Detector, params: DetectorParams, model_key: str) -> str:
    """Everything that changes a run's output: detector and version, params, model, data state, files read."""
    state = ws.one(Q_STATE, [dataset])
    parts: dict[str, Any] = {"detector": detector.name, "version": detector.version, "params": params.model_dump(),
                             "model": model_key, "state": list(state)}
    if "clean_subset" in detector.needs:
        parts["clean"] = list(ws.one(Q_CLEAN_STATE, [dataset]))
    parts.update(detector.state(ws, dataset, params))
    if "runs" in detector.needs:  # the runs it may read; other ensembles' runs are not among them
        parts["runs"] = [r[0] for r in ws.con.execute(
            "SELECT run_id, kind FROM runs WHERE dataset = ? ORDER BY run_id", [dataset]).fetchall()
            if not (REGISTRY.get(r[1]) is not None and REGISTRY[r[1]].combines_runs)]
    for key, value in params.model_dump().items():
        if isinstance(value, str) and (key == "predictions" or value.startswith("file:")):
            p = Path(value.removeprefix("file:"))
            if p.exists():
                parts[f"file:{key}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def resolve_auto(p: DetectorParams, n_examples: int, ctx: Context | None = None,
                 det: Detector | None = None) -> tuple[str | None, dict | None]:
    """Make a model detector's classifier=auto concrete; returns the note saying which and why (None: nothing to
    decide) and the validation fold's figures when one decided. With a context, a validation fold of the given
    labels decides (ModelParams.resolve_classifier); without (a dry run), the note says it will. The one place
    auto is decided, for a run and for its dry-run plan alike."""
    if not isinstance(p, ModelParams):
        return None, None
    seen: dict = {}

    def trial() -> dict:
        assert ctx is not None
        mask, labels = det.model_rows(ctx, p) if det is not None else (ctx.split_mask(p.split), None)
        seen.update(ctx.validation_fit(mask, labels, **p.trial_args()))
        return seen

    note = p.resolve_classifier(n_examples, trial if ctx is not None else None)
    return note, (seen or None)


def estimate_run(ws: Workspace, dataset: str, detector: str, params: dict[str, Any] | None = None, *,
                 ctx: Context | None = None) -> dict[str, Any]:
    """What a run would send and cost, for detectors that call paid services; nothing is sent or stored."""
    det, p = make_params(detector, params)
    ctx = ctx or Context(ws, dataset)
    if not hasattr(det, "estimate"):
        plan = {"requests": 0, "note": "runs locally; nothing to pay for"}
        note, _ = resolve_auto(p, len(ctx.ids))
        if note:
            plan["classifier"] = note  # which classifier would run, and why
        return plan
    return det.estimate(ctx, p)


def run_detector(
    ws: Workspace,
    dataset: str,
    detector: str,
    params: dict[str, Any] | None = None,
    *,
    model: str | None = None,
    force: bool = False,
    ctx: Context | None = None,
    engine: EngineOptions | None = None,
) -> RunResult:
    """Run one detector on a dataset and store the run and findings; an identical earlier run is reused."""
    det, p = make_params(detector, params)
    ctx = ctx or Context(ws, dataset, model=model, engine=engine)
    if ctx.task not in det.tasks:
        raise CurateError(f"detector '{detector}' works on {' or '.join(det.tasks)} datasets; "
                          f"'{dataset}' is a {ctx.task} dataset")
    # classifier=auto is made concrete first, so the fingerprint, the stored params and the ensemble's variants
    # name the classifier that ran (and an auto run re-uses an identical explicit one).
    auto, validation = resolve_auto(p, len(ctx.ids), ctx, det)
    fp = fingerprint(ws, dataset, det, p, ctx.model_key)
    if not force:
        prior = ws.one(Q_REUSE, [fp, dataset])
        if prior is not None:
            row = ws.one("SELECT counts, variant FROM runs WHERE run_id = ?", [prior[0]])
            counts = json.loads(row[0])
            if auto:  # why this run was chosen now, though the run itself was made earlier
                counts.update(classifier_auto=auto, **({"classifier_validation": validation} if validation else {}))
            return RunResult(prior[0], detector, dataset, p.model_dump(), counts, reused=True, variant=row[1] or "")
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    t = time.perf_counter()
    before = dict(ctx.timings)
    findings = det.run(ctx, p)
    if det.units == "examples":
        check_findings(findings, detector, ctx, det.scope(ctx, p))
        scope = ctx.split_mask(p.split)
        noise, base = ctx.noise_rate(scope), int(scope.sum())
    else:  # sentence units: the ids and the cap's base are the sentences in scope
        units = det.scope_units(ctx, p)
        check_findings(findings, detector, ctx, None, units=set(units))
        noise, base = None, len(units)
    findings, capped = cap_flags(findings, p.max_flagged_share, noise, base=base)
    total = time.perf_counter() - t
    run_id = f"{detector}-{started:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"  # unique even within one second
    counts = {"scored": len(findings), "flagged": int(findings["flagged"].sum()),
              "suggested": int(findings["suggested_label"].notna().sum()), **capped, **getattr(det, "report", {})}
    if auto:
        counts["classifier_auto"] = auto
    if validation:
        counts["classifier_validation"] = validation
    stored = {**p.model_dump(), "embedding_model": ctx.model_key}
    variant = det.variant(stored)
    t_write = time.perf_counter()
    with ws.transaction():
        ws.con.execute(Q_INSERT_RUN, [
            run_id, detector, dataset, json.dumps(stored), started, datetime.now(timezone.utc).replace(tzinfo=None),
            __version__, json.dumps(counts), fp, variant])
        ws.append_arrow("findings", findings_table(run_id, findings))
    timings = {k: round(v - before.get(k, 0.0), 3) for k, v in ctx.timings.items()}
    timings["write"] = round(time.perf_counter() - t_write, 3)
    timings["total"] = round(total + timings["write"], 3)
    log.info("run %s: %s", run_id, counts)
    return RunResult(run_id, detector, dataset, p.model_dump(), counts, timings=timings, variant=variant)


MIN_FLAG_CAP = 50  # a sitting's worth: small data is never capped below this


def cap_flags(df: pd.DataFrame, max_share: float | None, noise_rate: float | None,
              base: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Keep the flag set reviewable: at most max_share of the split (base examples; default the scored ones,
    never fewer than MIN_FLAG_CAP) stay flagged, the highest scores first. Scores are untouched, so rankings and
    AUPRC do not change.

    cleanlab's noise-rate estimate is reported but does not raise the cap: it is inflated by the model's own
    errors wherever that model is weak (README.md gives the figures on the planted-noise sets)."""
    info: dict[str, Any] = {}
    if noise_rate is not None:
        info["estimated_noise_rate"] = round(noise_rate, 4)
    flagged = int(df["flagged"].sum())
    if max_share is None or not len(df):
        return df, info
    limit = max(MIN_FLAG_CAP, int(np.ceil(max_share * (base or len(df)))))
    if flagged <= limit:
        return df, info
    order = df.index[df["flagged"].to_numpy()][np.argsort(-df.loc[df["flagged"], "score"].to_numpy(), kind="stable")]
    df = df.copy()
    df.loc[order[limit:], "flagged"] = False
    info.update(flagged_before_cap=flagged, flag_cap=limit)
    return df, info


def check_findings(df: pd.DataFrame, detector: str, ctx: Context, scope: np.ndarray | None, *,
                   units: set[str] | None = None) -> None:
    """The contract every detector's output meets (a broken detector fails loudly, not silently); units: the
    allowed ids of a detector that scores units other than examples."""
    if list(df.columns) != COLUMNS:
        raise AssertionError(f"{detector}: findings columns {list(df.columns)} != {COLUMNS}")
    if df["example_id"].duplicated().any():
        raise AssertionError(f"{detector}: an example appears twice in its findings")
    if units is not None:
        if not set(df["example_id"]) <= units:
            raise AssertionError(f"{detector}: it scored units outside its scope (Detector.scope_units)")
    else:
        rows = np.array([ctx.row_of.get(e, -1) for e in df["example_id"]], dtype=np.int64)
        if len(rows) and ((rows < 0).any() or not scope[rows].all()):
            raise AssertionError(f"{detector}: it scored examples outside its scope (Detector.scope)")
    scores = df["score"].to_numpy(dtype=float)
    if len(scores) and (np.isnan(scores).any() or scores.min() < 0 or scores.max() > 1):
        raise AssertionError(f"{detector}: scores must lie in [0, 1]")


def findings_table(run_id: str, df: pd.DataFrame) -> pa.Table:
    """Findings as an Arrow table for the findings table."""
    encode = json.JSONEncoder(default=str).encode  # json.dumps(default=...) builds a new encoder per call
    return pa.table({
        "run_id": [run_id] * len(df),
        "example_id": df["example_id"].astype(str).tolist(),
        "score": df["score"].astype(float).tolist(),
        "suggested_label": [None if s is None or (isinstance(s, float) and np.isnan(s)) else str(s)
                            for s in df["suggested_label"]],
        "reason": df["reason"].astype(str).tolist(),
        "evidence": [None if e is None else encode(e) for e in df["evidence"]],
        "flagged": df["flagged"].astype(bool).tolist(),
    })


@dataclass(frozen=True)
class LatestRun:
    """The newest finished run of one detector and variant, and why it is not a default ensemble member (if not)."""

    detector: str
    variant: str
    run_id: str
    label: str
    params: dict[str, Any]
    left_out: str | None
    combines: bool = False  # it ranks other runs (an ensemble)


def latest_runs(ws: Workspace, dataset: str, use: Literal["ensemble", "queue", "eval"] = "eval",
                detectors: list[str] | tuple[str, ...] = ()) -> list[LatestRun]:
    """The runs that count by default: the newest run of each detector and variant (a fine-tuned or LLM-judged run
    is another signal, not an older run), of the named detectors if given. For use='ensemble' only the default
    members (Detector.left_out, unless the detector is named); for 'queue' not the runs that combine other runs
    (the queue combines them itself); for 'eval' all of them."""
    found = []
    for kind, variant, run_id, label, params in ws.con.execute(Q_LATEST_VARIANTS, [dataset]).fetchall():
        if detectors and kind not in detectors:
            continue
        cls = REGISTRY.get(kind)  # a run of a detector no longer installed is still data
        p = json.loads(params) if params else {}
        if use != "queue" and kind not in detectors and (
                (cls is not None and cls.units != "examples") or (cls is None and kind == "mine")):
            # sentence findings, and the candidates a mining run kept for review: not example scores of a
            # method, so neither an ensemble member nor in eval by default (the queue shows them)
            continue
        left_out = None if cls is None or kind in detectors else cls.left_out(p)
        combines = cls is not None and cls.combines_runs
        if use == "queue" and combines and kind not in detectors:
            continue
        found.append(LatestRun(kind, variant or "", run_id, label, p, left_out, combines))
    missing = [d for d in detectors if not any(r.detector == d for r in found)]
    if missing:
        raise CurateError(f"no run of detector '{missing[0]}' on '{dataset}'; run: curate detect {dataset} "
                          f"--detector {missing[0]}")
    return [r for r in found if r.left_out is None] if use == "ensemble" else found


def run_trust(ws: Workspace, run_id: str) -> float:
    """The ensemble's trust in a run (Detector.trust of its detector, from the run's params and counts)."""
    row = ws.one("SELECT kind, params, counts FROM runs WHERE run_id = ?", [run_id])
    cls = REGISTRY.get(row[0]) if row else None
    if cls is None:
        return 1.0
    _, params, counts = row
    return float(np.clip(cls.trust(json.loads(params) if params else {}, json.loads(counts) if counts else {}), 0, 1))


def latest_run(ws: Workspace, dataset: str, detector: str | None = None) -> str:
    """The newest finished run on a dataset (of one detector if given)."""
    sql = "SELECT run_id FROM runs WHERE dataset = ? AND status = 'done'"
    args: list[Any] = [dataset]
    if detector:
        sql += " AND kind = ?"
        args.append(detector)
    row = ws.one(sql + " ORDER BY finished_at DESC, run_id DESC LIMIT 1", args)
    if row is None:
        what = f"detector '{detector}'" if detector else "any detector"
        raise CurateError(f"no run of {what} on '{dataset}'; run: curate detect {dataset} --detector D")
    return row[0]


def list_findings(ws: Workspace, run_id: str, *, top: int | None = 20, flagged_only: bool = False) -> pd.DataFrame:
    """A run's findings joined with the example text and current label, most suspect first."""
    sql = """
        SELECT f.example_id, f.score, f.flagged, c.label, f.suggested_label, f.reason, c.split, c.text, f.evidence
        FROM findings f JOIN runs r ON r.run_id = f.run_id
        JOIN (SELECT dataset, id, label, split, text FROM current_examples
              UNION ALL  -- the sentence units of span data (token-issues): no label of their own
              SELECT dataset, id, NULL, json_extract_string(meta, '$.split'), text FROM texts WHERE kind = 'sentence'
        ) c ON c.dataset = r.dataset AND c.id = f.example_id
        WHERE f.run_id = ?
    """
    if flagged_only:
        sql += " AND f.flagged"
    sql += " ORDER BY f.score DESC, f.example_id"
    if top:
        sql += f" LIMIT {int(top)}"
    df = ws.con.execute(sql, [run_id]).df()
    if len(df) and df["label"].isna().any():  # sentence units: their tags as they stand
        dataset = ws.one("SELECT dataset FROM runs WHERE run_id = ?", [run_id])[0]
        df["label"] = fill_tags(ws, dataset, df["example_id"].tolist(), df["label"].tolist())
    return df


def runs_of(ws: Workspace, dataset: str) -> pd.DataFrame:
    """Every run on a dataset, newest first."""
    return ws.con.execute(
        "SELECT run_id, kind, status, finished_at, counts, params FROM runs WHERE dataset = ? "
        "ORDER BY finished_at DESC", [dataset]).df()
