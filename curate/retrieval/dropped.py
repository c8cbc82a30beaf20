"""Mined candidates that a margin or max_score kept from being negatives, kept for review.

sentence-transformers' miner drops a candidate that scores too close to the query's positive (or above
max_score) without a trace; such a passage is the likeliest false negative of all. curate keeps each one as an
unjudged pair (label 'unjudged': no export writes it as a negative or a positive until a reviewer labels it) and
records a run of kind 'mine' with one finding per pair, suggesting 'positive', so it reaches the review queue
with its evidence. A dropped candidate that is already a labelled pair gets the finding on that pair.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.detect.base import COLUMNS
from curate.detect.runs import Q_INSERT_RUN, findings_table
from curate.ingest.retrieval import UNJUDGED, pair_id
from curate.retrieval.pairs import texts_by_id
from curate.store import Workspace
from curate.version import __version__

DROPPED = "mined-dropped"  # the source of the pairs kept for review (mined ones are 'mined')
KIND = "mine"  # the run kind of the kept candidates' findings: in the review queue, never an ensemble member
VARIANT = "dropped"
RULES = {"absolute_margin": "within the absolute margin of", "relative_margin": "within the relative margin of",
         "max_score": "above max_score, near"}


def closeness(score: float, ref: float) -> float:
    """A finding score in [0, 1] from how close a candidate comes to its positive: 0.5 level with it, higher
    above it, lower below (10% of the positive's score is a large step)."""
    return float(0.5 + 0.5 * np.tanh(10.0 * (score - ref) / max(abs(ref), 1e-6)))


def keep_for_review(ws: Workspace, name: str, dropped: list[tuple[str, str, float, float, str]],
                    split_of: dict[str, str], opt: Any) -> tuple[int, str]:
    """Store the dropped candidates as unjudged pairs (new ones only) and one finding each in a new run; returns
    (pairs added, run id)."""
    best: dict[str, tuple[str, str, float, float, str]] = {}
    for qid, pid, score, ref, rule in dropped:  # one candidate can fall to several rules: the first one names it
        best.setdefault(pair_id(qid, pid), (qid, pid, score, ref, rule))
    query_text = texts_by_id(ws, name, "query")
    passage_text = texts_by_id(ws, name, "passage")
    passage_hash = dict(ws.con.execute("SELECT id, text_hash FROM texts WHERE dataset = ? AND kind = 'passage'",
                                       [name]).fetchall())
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    run_id = f"{KIND}-{started:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    with ws.transaction():
        existing = {r[0] for r in ws.con.execute("SELECT id FROM examples WHERE dataset = ?", [name]).fetchall()}
        start = ws.one("SELECT coalesce(max(ord), -1) + 1 FROM examples WHERE dataset = ?", [name])[0]
        rows: dict[str, list] = {k: [] for k in ("dataset", "id", "split", "text", "label", "meta", "text_hash", "ord")}
        findings = []
        for ex_id, (qid, pid, score, ref, rule) in best.items():
            evidence = {"score": round(score, 6), "positive_score": round(ref, 6), "rule": rule,
                        "scorer": opt.scorer or "embedding", "margin": round(ref - score, 6)}
            if ex_id not in existing:
                meta = {"query_id": qid, "passage_id": pid, "query": query_text.get(qid), "source": DROPPED,
                        **evidence}
                for key, value in (("dataset", name), ("id", ex_id), ("split", split_of[qid]),
                                   ("text", passage_text[pid]), ("label", UNJUDGED), ("meta", json.dumps(meta)),
                                   ("text_hash", passage_hash[pid]), ("ord", start + len(rows["id"]))):
                    rows[key].append(value)
                existing.add(ex_id)
            where = "above" if score >= ref else RULES[rule]
            findings.append((ex_id, closeness(score, ref), "positive",
                             f"dropped by {rule}: scores {score:.3f}, {where} its positive's {ref:.3f}; "
                             "sentence-transformers' miner drops it silently, but it may well be relevant",
                             evidence, True))
        if rows["id"]:
            ws.append_arrow("examples", pa.table(rows))
        frame = pd.DataFrame(findings, columns=COLUMNS)
        counts = {"scored": len(frame), "flagged": len(frame), "suggested": len(frame), "added_pairs": len(rows["id"])}
        ws.con.execute(Q_INSERT_RUN, [run_id, KIND, name, json.dumps(opt.model_dump()), started,
                                      datetime.now(timezone.utc).replace(tzinfo=None), __version__,
                                      json.dumps(counts), None, VARIANT])
        ws.append_arrow("findings", findings_table(run_id, frame))
    return len(rows["id"]), run_id
