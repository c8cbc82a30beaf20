"""CI gates: each compares one figure of the run (a detector's flagged share, leaks, an export's changes) to a limit."""

from __future__ import annotations

import json
import operator
from typing import Any

from curate.detect.near_duplicates import EVAL_SPLITS
from curate.errors import CurateError
from curate.recipe.schema import DetectorGate, ExportGate, Gate, LeakGate, parse_condition
from curate.store import Workspace

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
        "!=": operator.ne}


def leak_count(ws: Workspace, run_id: str) -> int:
    """Examples with a copy in another split where one of the two is an evaluation split."""
    split_of = dict(ws.con.execute(
        "SELECT e.id, e.split FROM examples e JOIN runs r ON r.dataset = e.dataset WHERE r.run_id = ?",
        [run_id]).fetchall())
    n = 0
    for ex_id, evidence in ws.con.execute(
            "SELECT example_id, evidence FROM findings WHERE run_id = ? AND flagged AND evidence IS NOT NULL",
            [run_id]).fetchall():
        own = split_of.get(ex_id)
        copies = (json.loads(evidence) or {}).get("copies", [])
        n += any(c.get("split") != own and {own, c.get("split")} & EVAL_SPLITS for c in copies)
    return n


def evaluate_gate(ws: Workspace, gate: Gate, runs: list[dict[str, Any]], exports: list[dict[str, Any]]) -> dict[str, Any]:
    """One gate's figure, its limit and whether it failed."""
    cond = gate.fail_if
    if isinstance(cond, DetectorGate):
        run = _pick(runs, cond.detector, cond.dataset)
        metric, text = cond.metric
        counts = run["counts"]
        if metric == "flagged_share":
            value = counts["flagged"] / counts["scored"] if counts["scored"] else 0.0
        elif metric == "flagged":
            value = float(counts["flagged"])
        else:
            value = float(ws.one("SELECT coalesce(avg(score), 0) FROM findings WHERE run_id = ?", [run["run_id"]])[0])
        subject = f"{cond.detector} on {run['dataset']}"
    elif isinstance(cond, LeakGate):
        run = _pick(runs, cond.detector, cond.dataset)
        metric, text = cond.metric
        value = float(leak_count(ws, run["run_id"]))
        subject = f"train/eval copies in {run['dataset']}"
    else:
        assert isinstance(cond, ExportGate)
        exp = next((e for e in exports if e["name"] == cond.export), None)
        if exp is None:
            raise CurateError(f"gate on export '{cond.export}': no export of that name in this recipe")
        metric, text = cond.metric
        total = exp["examples"] or 1
        value = {"removed_share": exp["removed"], "relabelled_share": exp["relabelled"],
                 "changed_share": exp["removed"] + exp["relabelled"]}[metric] / total
        subject = f"export {cond.export}"
    op, limit = parse_condition(text)
    failed = _OPS[op](value, limit)
    return {"name": gate.name or f"{subject}: {metric} {text}", "subject": subject, "metric": metric,
            "condition": f"fail if {metric} {op} {limit:g}", "value": round(value, 4), "limit": limit,
            "failed": bool(failed)}


def _pick(runs: list[dict[str, Any]], detector: str, dataset: str | None) -> dict[str, Any]:
    found = [r for r in runs if r["detector"] == detector and (dataset is None or r["dataset"] == dataset)]
    if not found:
        where = f" on '{dataset}'" if dataset else ""
        raise CurateError(f"a gate needs a '{detector}' run{where}; add it to the recipe's detect steps")
    return found[-1]
