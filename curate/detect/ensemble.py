"""Ensemble: one ranking from several detector runs, by rank averaging or by weights fitted on reviewed decisions."""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context
from curate.detect.scores import rank_normalise
from curate.errors import CurateError

Q_LATEST_RUN = """
    SELECT run_id FROM runs WHERE dataset = ? AND kind = ? AND status = 'done'
    ORDER BY finished_at DESC LIMIT 1
"""
Q_FINDINGS = "SELECT example_id, score, suggested_label, flagged FROM findings WHERE run_id = ?"


class Params(DetectorParams):
    """ensemble parameters."""

    split: str | None = None
    runs: list[str] = Field(default_factory=list, description="run ids to combine (default: latest run of each detector)")
    detectors: list[str] = Field(default_factory=list, description="combine the latest run of these detectors")
    weights: Literal["rank-average", "fitted"] = Field("rank-average", description="'fitted': logistic regression "
                                                       "on reviewed decisions (relabel/remove = error, keep = clean)")
    min_votes: int = Field(2, ge=1, description="flag examples flagged by at least this many runs")


@register
class Ensemble(Detector):
    name = "ensemble"
    description = "combines detector runs into one ranking (rank average, or weights fitted from reviewed decisions)"
    Params = Params
    tasks = ("classification", "relation", "retrieval")
    needs = ("runs",)

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        run_ids = resolve_runs(ctx, params)
        rows = np.flatnonzero(ctx.split_mask(params.split))
        ids = [ctx.ids[r] for r in rows]
        table = run_scores(ctx, run_ids)
        scores = np.column_stack([[col.get(i, 0.0) for i in ids] for col, _, _ in table])
        votes = np.array([sum(bool(flags.get(i)) for _, _, flags in table) for i in ids], dtype=int)
        if params.weights == "fitted":
            w = fitted_weights(ctx, table)
            combined = 1.0 / (1.0 + np.exp(-(scores @ w[1:] + w[0])))
        else:
            combined = scores.mean(axis=1)
        suggested = []
        for i in ids:
            tally: Counter = Counter()
            for col, sugg, _ in table:
                if sugg.get(i) is not None:
                    tally[sugg[i]] += col.get(i, 0.0)
            suggested.append(tally.most_common(1)[0][0] if tally else None)
        reasons = [f"flagged by {v} of {len(run_ids)} runs" for v in votes]
        evidence = [{"runs": {rid: round(float(x), 4) for rid, x in zip(run_ids, scores[j])}} for j in range(len(ids))]
        return frame(ctx, rows, combined, suggested, reasons, evidence, votes >= params.min_votes)


def run_scores(ctx: Context, run_ids: list[str]) -> list[tuple[dict, dict, dict]]:
    """Per run: rank-normalised score, suggestion and flag by example id (every example the run scored)."""
    out = []
    for run_id in run_ids:
        found = ctx.ws.con.execute(Q_FINDINGS, [run_id]).fetchall()
        ranks = rank_normalise(np.array([f[1] for f in found], dtype=float))
        out.append(({f[0]: float(r) for f, r in zip(found, ranks)}, {f[0]: f[2] for f in found},
                    {f[0]: f[3] for f in found}))
    return out


def resolve_runs(ctx: Context, params: Params) -> list[str]:
    """Run ids to combine: given ones, else the latest run of each named (or every non-ensemble) detector."""
    if params.runs:
        known = {r[0] for r in ctx.ws.con.execute("SELECT run_id FROM runs WHERE dataset = ?", [ctx.dataset]).fetchall()}
        missing = [r for r in params.runs if r not in known]
        if missing:
            raise CurateError(f"no run {missing[0]} for dataset '{ctx.dataset}'")
        return list(params.runs)
    kinds = params.detectors or [r[0] for r in ctx.ws.con.execute(
        "SELECT DISTINCT kind FROM runs WHERE dataset = ? AND kind != 'ensemble' AND status = 'done' ORDER BY kind",
        [ctx.dataset]).fetchall()]
    out = []
    for kind in kinds:
        row = ctx.ws.one(Q_LATEST_RUN, [ctx.dataset, kind])
        if row is None:
            raise CurateError(f"no run of detector '{kind}' on '{ctx.dataset}'; run: curate detect {ctx.dataset} "
                              f"--detector {kind}")
        out.append(row[0])
    if len(out) < 2:
        raise CurateError("the ensemble needs at least two detector runs; run more detectors first")
    return out


def fitted_weights(ctx: Context, table: list[tuple[dict, dict, dict]]) -> np.ndarray:
    """Logistic-regression weights (intercept first) fitted on reviewed decisions: relabel/remove = error."""
    from sklearn.linear_model import LogisticRegression

    reviewed = ctx.ws.con.execute(
        "SELECT id, last_action FROM current_examples WHERE dataset = ? AND last_action IS NOT NULL",
        [ctx.dataset]).fetchall()
    x = [[col.get(i, 0.0) for col, _, _ in table] for i, _ in reviewed]
    y = [action in ("relabel", "remove") for _, action in reviewed]
    if len(set(y)) < 2 or len(y) < 10:
        raise CurateError(f"fitted weights need at least 10 reviewed examples with both kept and corrected ones "
                          f"(have {len(y)}); use weights=rank-average until then")
    clf = LogisticRegression(max_iter=1000).fit(np.asarray(x), np.asarray(y))
    return np.concatenate([clf.intercept_, clf.coef_[0]])
