"""One example in focus: its text drawn for its task, every finding on it with the evidence, and its history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from curate.decisions import STATUS_OF, history, latest
from curate.errors import CurateError
from curate.sentences import load_sentences, tags_text
from curate.store import RUN_LABEL, Workspace

Q_EXAMPLE = """
    SELECT e.id, e.split, e.text, e.label, e.meta, d.task, d.negative_label FROM examples e
    JOIN datasets d ON d.name = e.dataset WHERE e.dataset = ? AND e.id = ?
"""
# Per example, the latest run of each detector and model variant that scored it (its newest judgement per method).
Q_FINDINGS = f"""
    SELECT f.example_id, {RUN_LABEL}, f.run_id, f.score, f.flagged, f.suggested_label, f.reason, {{evidence}}
    FROM findings f JOIN runs r ON r.run_id = f.run_id
    WHERE r.dataset = ? AND f.example_id IN (SELECT unnest(?::VARCHAR[])) AND r.status = 'done'
    QUALIFY row_number() OVER (PARTITION BY f.example_id, r.kind, r.variant
                               ORDER BY r.finished_at DESC, r.run_id DESC) = 1
    ORDER BY f.example_id, f.flagged DESC, f.score DESC
"""
Q_REFERENCED = """
    SELECT id, split, text, label FROM examples
    WHERE dataset = ? AND id IN (SELECT unnest(?::VARCHAR[]))  -- a hash semi-join, not a list scan per row
"""
Q_TEXTS = "SELECT kind, id, text FROM texts WHERE dataset = ? AND id IN (SELECT unnest(?::VARCHAR[]))"
Q_POSITIVES = """
    SELECT json_extract_string(meta, '$.passage_id') FROM examples
    WHERE dataset = ? AND json_extract_string(meta, '$.query_id') = ? AND label = 'positive' LIMIT 5
"""


@dataclass
class ExampleView:
    """Everything the review page draws for one example."""

    dataset: str
    task: str
    id: str
    split: str
    text: str
    original_label: str | None
    label: str | None
    status: str
    last_seq: int | None
    meta: dict[str, Any]
    negative_label: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    referenced: dict[str, dict[str, Any]] = field(default_factory=dict)  # neighbour/copy id -> split, text, label
    retrieval: dict[str, Any] | None = None  # query, passage, known positives, ARHN snippet
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def suggested(self) -> str | None:
        """The label to accept: a flagging detector's suggestion first (findings are ordered best first)."""
        return suggestion(self.findings)


def suggestion(findings: list[dict[str, Any]]) -> str | None:
    """The label a reviewer accepts with one key: the best flagging detector's suggestion, else any one's."""
    ordered = [f for f in findings if f["flagged"]] + [f for f in findings if not f["flagged"]]
    return next((f["suggested"] for f in ordered if f["suggested"]), None)


def findings_of(ws: Workspace, dataset: str, ids: list[str], *, evidence: bool = True) -> dict[str, list[dict]]:
    """Each example's findings, the latest run per detector and variant, flagged and best scored first."""
    sql = Q_FINDINGS.format(evidence="f.evidence" if evidence else "NULL")
    out: dict[str, list[dict]] = {}
    for eid, kind, run_id, score, flagged, sugg, reason, ev in ws.con.execute(sql, [dataset, ids]).fetchall():
        out.setdefault(eid, []).append({"detector": kind, "run": run_id, "score": float(score),
                                        "flagged": bool(flagged), "suggested": sugg, "reason": reason,
                                        "evidence": json.loads(ev) if ev else None})
    return out


def load_example(ws: Workspace, dataset: str, example_id: str) -> ExampleView:
    """Load one example with its findings (latest run per detector and variant), referenced neighbours and history."""
    row = ws.one(Q_EXAMPLE, [dataset, example_id])
    if row is None:
        sent = load_sentences(ws, dataset, [example_id]).get(example_id)
        if sent is None:
            raise CurateError(f"dataset '{dataset}' has no example '{example_id}'")
        info = ws.dataset(dataset)
        meta = {"token": sent.tokens, "tags": sent.tags, "removed": sent.removed}
        row = (sent.id, sent.split, " ".join(sent.tokens), tags_text(sent.original_tags), json.dumps(meta), "sentence",
               info.negative_label)
    eid, split, text, original, meta_json, task, negative = row
    meta = json.loads(meta_json) if meta_json else {}
    hist = history(ws, dataset, eid)
    last = hist[-1] if hist else None
    label = original
    if task == "sentence":
        label = tags_text(meta["tags"])
    elif last and last["action"] == "relabel":
        label = last["new_label"]
    status = STATUS_OF[last["action"] if last else None]
    found = findings_of(ws, dataset, [eid]).get(eid, [])
    view = ExampleView(dataset, task, eid, split, text, original, label, status, last["seq"] if last else None, meta,
                       negative, found, history=hist)
    view.referenced = referenced_examples(ws, dataset, {eid: found})
    if task == "retrieval":
        view.retrieval = retrieval_context(ws, dataset, meta, found)
    return view


def referenced_examples(ws: Workspace, dataset: str, found: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """The examples the evidence of these findings (by example id) points at, with their split, text, current label
    and whether they were removed: one lookup for all of them."""
    wanted = sorted({n["id"] for fs in found.values() for f in fs for n in referenced_ids(f["evidence"])})
    if not wanted:
        return {}
    now = latest(ws, dataset, wanted)
    out = {}
    for rid, rsplit, rtext, rlabel in ws.con.execute(Q_REFERENCED, [dataset, wanted]).fetchall():
        d = now.get(rid)
        out[rid] = {"split": rsplit, "text": rtext, "label": d["new_label"] if d and d["action"] == "relabel" else rlabel,
                    "removed": bool(d and d["action"] == "remove")}
    return out


def referenced_ids(evidence: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The other examples an evidence record points at (neighbours, copies), with their labels/similarities."""
    if not evidence:
        return []
    return [n for key in ("neighbours", "copies") for n in evidence.get(key) or [] if isinstance(n, dict) and "id" in n]


def retrieval_context(ws: Workspace, dataset: str, meta: dict[str, Any], found: list[dict]) -> dict[str, Any]:
    """Query, passage and the query's known positives of a (query, passage) pair, plus any ARHN snippet."""
    qid, pid = meta.get("query_id"), meta.get("passage_id")
    positives = [r[0] for r in ws.con.execute(Q_POSITIVES, [dataset, qid]).fetchall() if r[0] != pid]
    texts = {(k, i): t for k, i, t in ws.con.execute(Q_TEXTS, [dataset, [qid, pid, *positives]]).fetchall()}
    snippet = next((f["evidence"].get("snippet") for f in found
                    if f["detector"] == "arhn" and f["evidence"] and f["evidence"].get("snippet")), None)
    return {"query_id": qid, "query": texts.get(("query", qid), ""), "passage_id": pid,
            "passage": texts.get(("passage", pid), ""), "snippet": snippet,
            "positives": [{"id": p, "text": texts.get(("passage", p), "")} for p in positives]}
