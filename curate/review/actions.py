"""Review actions as library calls: decide on one example, or apply one action to a whole filter (bulk)."""

from __future__ import annotations

from typing import Any, Literal

from curate.decisions import Decision, label_set, new_batch_id, record
from curate.errors import CurateError
from curate.review.queue import QueueFilter, build_queue
from curate.store import Workspace

SUGGESTED = "@suggested"  # bulk relabel target meaning "each example's own suggested label"
BulkAction = Literal["keep", "relabel", "remove"]

_UNSEEN = object()


def decide(
    ws: Workspace,
    dataset: str,
    example_id: str,
    action: str,
    *,
    new_label: str | None = None,
    note: str | None = None,
    reviewer: str | None,
    source: str = "ui",
    expected_seq: Any = _UNSEEN,
    allow_new_label: bool = False,
) -> int:
    """Record one decision and return its seq; expected_seq (the latest seq the reviewer saw, None for none)
    makes a decision by someone else since then a Conflict instead of a silent overwrite."""
    expected = None if expected_seq is _UNSEEN else {example_id: expected_seq}
    record(ws, dataset, [Decision(example_id, action, new_label, note or None)], reviewer=reviewer, source=source,
           expected=expected, allow_new_label=allow_new_label)
    return int(ws.one("SELECT max(seq) FROM decisions WHERE dataset = ? AND example_id = ?", [dataset, example_id])[0])


def _plan(ws: Workspace, flt: QueueFilter, action: BulkAction, label: str | None) -> tuple[list[Decision], dict]:
    """The decisions a bulk action would append for a filter, and what it leaves out and why."""
    if action not in ("keep", "relabel", "remove"):
        raise CurateError(f"unknown bulk action '{action}'; expected keep, relabel or remove")
    if action == "relabel" and not label:
        raise CurateError(f"bulk relabel needs a label, or '{SUGGESTED}' for each example's suggested label")
    items = build_queue(ws, flt.model_copy(update={"learn": False})).items  # order does not matter here
    skipped = {"no_suggestion": 0, "already_that_label": 0}
    sentences = sentence_ids(ws, flt.dataset, items["id"].tolist()) if action == "relabel" else set()
    out = []
    for eid, current, suggested in zip(items["id"], items["label"], items["suggested"]):
        target = None
        if action == "relabel":
            if eid in sentences and label != SUGGESTED:  # one label cannot be a sentence's tags
                skipped["sentence_units"] = skipped.get("sentence_units", 0) + 1
                continue
            target = suggested if label == SUGGESTED else label
            if target is None or (isinstance(target, float)):  # NaN from pandas: no suggestion
                skipped["no_suggestion"] += 1
                continue
            if target == current:
                skipped["already_that_label"] += 1
                continue
        out.append(Decision(eid, "retag" if eid in sentences else action, target))
    return out, skipped


def sentence_ids(ws: Workspace, dataset: str, ids: list[str]) -> set[str]:
    """Which of these ids are sentence units (curate.sentences), not examples."""
    if not ids:
        return set()
    return {r[0] for r in ws.con.execute("SELECT id FROM texts WHERE dataset = ? AND kind = 'sentence' AND id IN "
                                         "(SELECT unnest(?::VARCHAR[]))", [dataset, ids]).fetchall()}


def bulk_preview(ws: Workspace, flt: QueueFilter, action: BulkAction, label: str | None = None, *,
                 sample: int = 5) -> dict[str, Any]:
    """How many examples a bulk action would change, what it skips, a few of them, and any new labels."""
    plan, skipped = _plan(ws, flt, action, label)
    known = set(label_set(ws, flt.dataset))
    new = sorted({d.new_label for d in plan if d.action == "relabel" and d.new_label not in known})
    ids = [d.example_id for d in plan[:sample]]
    texts = dict(ws.con.execute("SELECT id, text FROM examples WHERE dataset = ? AND id IN (SELECT unnest(?::VARCHAR[])) "
                                "UNION ALL SELECT id, text FROM texts WHERE dataset = ? AND kind = 'sentence' AND id IN "
                                "(SELECT unnest(?::VARCHAR[]))", [flt.dataset, ids, flt.dataset, ids]).fetchall()) \
        if ids else {}
    return {"count": len(plan), "skipped": skipped, "new_labels": new, "filter": flt.describe(),
            "examples": [{"id": d.example_id, "action": d.action, "new_label": d.new_label,
                          "text": texts.get(d.example_id, "")} for d in plan[:sample]]}


def bulk_apply(ws: Workspace, flt: QueueFilter, action: BulkAction, label: str | None = None, *,
               reviewer: str | None, note: str | None = None, allow_new_label: bool = False,
               expected_count: int | None = None) -> dict[str, Any]:
    """Apply one action to everything the filter matches, as one decision per example sharing a batch id
    (undo it with decisions.undo_batch). expected_count guards against the queue having changed since the
    preview the reviewer confirmed."""
    with ws.transaction():
        plan, skipped = _plan(ws, flt, action, label)
        if expected_count is not None and expected_count != len(plan):
            raise CurateError(f"the filter now matches {len(plan)} examples, not the {expected_count} previewed; "
                              "preview again")
        batch = new_batch_id()
        plan = [Decision(d.example_id, d.action, d.new_label, note) for d in plan]
        n = record(ws, flt.dataset, plan, reviewer=reviewer, source=f"bulk {flt.key()}", batch=batch,
                   allow_new_label=allow_new_label)
    return {"batch": batch, "applied": n, "skipped": skipped}
