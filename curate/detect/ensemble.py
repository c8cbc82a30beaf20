"""Ensemble: one ranking from several detector runs, by agreement-weighted rank averaging or by weights fitted on
reviewed decisions.

Two choices make the default better than plain rank averaging (the measurements are in docs/detectors.md and
benchmarks/README.md): an example is averaged over the runs that scored it (IS scores only negatives; a positive
gets no vote from it rather than a vote of 0), and each run weighs by the square of its agreement with the other
runs at the top of the ranking, so a run that is near random on this data (it disagrees with everyone) counts
little. Which runs join by default is each detector's answer (Detector.left_out, through
curate.detect.runs.latest_runs); each variant of a detector (classifier=linear, classifier=finetune,
predictions=FILE, an LLM judge) is a member of its own.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context
from curate.detect.runs import latest_runs, run_trust
from curate.detect.scores import rank_normalise
from curate.decisions import LATEST_DECISIONS, decision_state
from curate.errors import CurateError
from curate.feedback import learn_from_decisions

# Agreement is read in each run's top 5% (the top 10% and rank correlations were tried: docs/detectors.md).
AGREEMENT_TOP = 0.05
Q_REMOVED = "SELECT example_id FROM ({latest}) WHERE action = 'remove'"
Q_FINDINGS = "SELECT example_id, score, suggested_label, flagged FROM findings WHERE run_id = ?"


class Params(DetectorParams):
    """ensemble parameters."""

    split: str | None = None
    runs: list[str] = Field(default_factory=list, description="run ids to combine (default: the latest run of each "
                            "detector and model variant, e.g. confident-learning with model=linear and with "
                            "model=finetune)")
    detectors: list[str] = Field(default_factory=list, description="combine the latest run of each model variant of "
                                 "these detectors")
    weights: Literal["agreement", "rank-average", "fitted"] = Field(
        "agreement", description="'agreement': runs weighted by the squared overlap of their top 5% with the "
        "others' top 5%; "
        "'rank-average': equal weights; 'fitted': the agreement ranking, re-ordered from reviewed decisions "
        "(relabel/remove = error, keep = clean) once they predict errors better than it (curate.feedback)")
    min_votes: int = Field(2, ge=1, description="flag examples flagged by at least this many runs")
    missing: Literal["skip", "zero"] = Field(
        "skip", description="an example a run did not score: 'skip' leaves that run out of its mean; 'zero' counts "
        "it as the run's lowest score (docs/detectors.md: better where most errors hide under the negative label, "
        "as on SemEval; worse on the other planted-noise sets)")


@register
class Ensemble(Detector):
    name = "ensemble"
    description = "combines detector runs into one ranking (rank average, or weights fitted from reviewed decisions)"
    Params = Params
    tasks = ("classification", "relation", "span", "retrieval")
    needs = ("runs",)
    combines_runs = True

    @classmethod
    def left_out(cls, params: dict) -> str | None:
        """An ensemble never joins another."""
        return "an ensemble itself"

    def state(self, ws, dataset: str, params: Params) -> dict:
        """weights=fitted learns from the decision log: a keep changes no label, but it changes the ranking."""
        if params.weights != "fitted":
            return {}
        return {"decisions": decision_state(ws, dataset)}

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        run_ids = resolve_runs(ctx, params)
        rows = np.flatnonzero(ctx.split_mask(params.split))
        ids = [ctx.ids[r] for r in rows]
        table = run_scores(ctx, run_ids)
        fitted = params.weights == "fitted"
        # weights=fitted also learns from removed examples: they have left the dataset, but they are what
        # reviewers confirmed. They are ranked with the rest (after ids) and never scored.
        gone = [r[0] for r in ctx.ws.con.execute(Q_REMOVED.format(latest=LATEST_DECISIONS), [ctx.dataset]).fetchall()
                if any(r[0] in col for col, _, _ in table)] if fitted else []
        every = ids + gone
        raw = np.array([[col.get(i, 0.0) for i in every] for col, _, _ in table])
        scored = np.array([[i in col for i in every] for col, _, _ in table], dtype=bool)
        ranks = np.array([rank_normalise(r) for r in raw])
        scores = ranks.T
        votes = np.array([sum(bool(flags.get(i)) for _, _, flags in table) for i in ids], dtype=int)
        trust = np.array([run_trust(ctx.ws, r) for r in run_ids]) if params.weights != "rank-average" else None
        if fitted:
            # The agreement ranking, re-ordered where reviewers' decisions say so (curate.feedback).
            combined, weights = combine(ranks, scored, trust=trust)
            learned = learn_from_decisions(ctx.ws, ctx.dataset, every, combined, run_ids, ranks)
            combined = (learned.score if learned.used else combined)[:len(ids)]
            self.report = {"learned_from": learned.decisions, "reranked": learned.used, "learning": learned.note}
        else:
            if params.missing == "zero":  # ranks within each run, an unscored example at 0: the old treatment
                ranks = np.zeros_like(ranks)
                for i in range(len(raw)):
                    if scored[i].any():
                        ranks[i, scored[i]] = rank_normalise(raw[i, scored[i]])
                scores = ranks.T
            votes_on = scored if params.missing == "skip" else np.ones_like(scored)
            # With skip, ranks are taken over all the rows with unscored examples at the bottom, so a run
            # that scores a subset (IS: the negatives) ranks them above the rest: measured better than
            # ranking within the subset (docs/detectors.md).
            combined, weights = combine(ranks, votes_on, agreement=params.weights == "agreement", trust=trust)
        suggested = []
        for i in ids:
            tally: Counter = Counter()
            for col, sugg, _ in table:
                if sugg.get(i) is not None:
                    tally[sugg[i]] += col.get(i, 0.0)
            suggested.append(tally.most_common(1)[0][0] if tally else None)
        reasons = [f"flagged by {v} of {len(run_ids)} runs" for v in votes]
        evidence = [{"runs": {rid: round(float(x), 4) for rid, x, on in zip(run_ids, scores[j], scored[:, j]) if on}}
                    for j in range(len(ids))]
        if weights is not None:
            for ev in evidence:
                ev["weights"] = {rid: round(float(w), 3) for rid, w in zip(run_ids, weights)}
        return frame(ctx, rows, combined, suggested, reasons, evidence, votes >= params.min_votes)


def run_scores(ctx: Context, run_ids: list[str]) -> list[tuple[dict, dict, dict]]:
    """Per run: score, suggestion and flag by example id (every example the run scored)."""
    out = []
    for run_id in run_ids:
        found = ctx.ws.con.execute(Q_FINDINGS, [run_id]).fetchall()
        out.append(({f[0]: float(f[1]) for f in found}, {f[0]: f[2] for f in found}, {f[0]: f[3] for f in found}))
    return out


def combine(ranks: np.ndarray, scored: np.ndarray, *, agreement: bool = True,
            trust: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One score per example from a runs x examples matrix of rank-normalised scores: the weighted mean over
    the runs that scored it, each run's weight times its trust (Detector.trust) when given. Returns (combined,
    run weights)."""
    weights = agreement_weights(ranks, scored) if agreement else np.ones(len(ranks))
    if trust is not None and (weights * trust).sum() > 0:
        weights = weights * trust
    w = weights[:, None] * scored
    total = w.sum(axis=0)
    combined = np.divide((w * ranks).sum(axis=0), total, out=np.zeros(ranks.shape[1]), where=total > 0)
    return combined, weights


def agreement_weights(ranks: np.ndarray, scored: np.ndarray, top: float = AGREEMENT_TOP) -> np.ndarray:
    """Per run, the squared overlap of its top `top` share (at least 10 examples) with the top of the other runs'
    mean rank, over the examples it scored: no labels needed. Equal weights when no run agrees with the others.

    Agreement is taken at the top because that is what a reviewer sees: a rank correlation over every example
    is dominated by the order of the clean bulk, where a weak run (knn-vote on SemEval) agrees well enough."""
    w = np.zeros(len(ranks))
    for i in range(len(ranks)):
        idx = np.flatnonzero(scored[i])
        if len(ranks) < 2 or len(idx) < 3:
            continue
        others = np.delete(ranks, i, axis=0).mean(axis=0)
        m = min(len(idx), max(10, int(round(top * len(idx)))))
        mine = idx[np.argsort(-ranks[i][idx], kind="stable")[:m]]
        theirs = idx[np.argsort(-others[idx], kind="stable")[:m]]
        w[i] = (len(np.intersect1d(mine, theirs)) / m) ** 2
    return w if w.sum() > 0 else np.ones(len(ranks))


def resolve_runs(ctx: Context, params: Params) -> list[str]:
    """Run ids to combine: given ones, else the latest run of each named (or every non-ensemble) detector."""
    if params.runs:
        known = {r[0] for r in ctx.ws.con.execute("SELECT run_id FROM runs WHERE dataset = ?", [ctx.dataset]).fetchall()}
        missing = [r for r in params.runs if r not in known]
        if missing:
            raise CurateError(f"no run {missing[0]} for dataset '{ctx.dataset}'")
        return list(params.runs)
    out = [r.run_id for r in latest_runs(ctx.ws, ctx.dataset, "ensemble", params.detectors)]
    if len(out) < 2:
        why = "".join(f"; left out by default: {r.label}, {r.left_out} (name it in -p detectors=... to include it)"
                      for r in latest_runs(ctx.ws, ctx.dataset, "eval") if r.left_out and not r.combines)
        raise CurateError(f"the ensemble needs at least two detector runs; run more detectors first{why}")
    return out
