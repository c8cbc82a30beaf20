"""The example in focus and its neighbours in queue order, light enough to send to the browser at once.

The review page draws these "cards" in the browser, so a key press shows the next example before the server
has answered; the server records the action and sends the next window. A card holds what a reviewer needs
to decide: text, spans, current and suggested label, status, each detector's score, reason and evidence, and the
examples that evidence points at (neighbours, copies) with their labels and text. The evidence of the examples
ahead is read while the reviewer reads the one in focus, so it is drawn with the next example at a key press.
"""

from __future__ import annotations

import json
from typing import Any

from curate.review.example import findings_of, referenced_examples, referenced_ids, retrieval_context, suggestion
from curate.review.queue import Queue, statuses
from curate.sentences import Sentence, load_sentences, tags_text
from curate.store import Workspace

# No join with datasets here: it made DuckDB scan the examples instead of probing the few ids (4 ms -> 60 ms
# at 1M examples).
Q_CARD_EXAMPLES = """
    SELECT id, split, text, label, meta FROM examples WHERE dataset = ? AND id IN (SELECT unnest(?::VARCHAR[]))
"""


def sentence_row(sent: Sentence) -> tuple:
    """A sentence unit as the (id, split, text, original label, meta) row a card is made of: its label is its
    tags (the original: the spans' tags before any retag)."""
    meta = {"token": sent.tokens, "tags": sent.tags, "removed": sent.removed}
    return (sent.id, sent.split, " ".join(sent.tokens), tags_text(sent.original_tags), json.dumps(meta))


def window(queue: Queue, focus: str | None, *, ahead: int = 6, behind: int = 1) -> list[str]:
    """The ids a card window holds: behind + the focus + ahead in queue order (the focus alone when it is
    not in the queue, e.g. a neighbour opened from the evidence)."""
    pos = queue.position(focus)
    if pos is None:
        return [focus] if focus else []
    return queue.ids[max(pos - behind, 0): pos + ahead + 1]


def cards(ws: Workspace, queue: Queue, focus: str | None, *, ahead: int = 6, behind: int = 1) -> list[dict[str, Any]]:
    """One card per example of the window around focus, in queue order, with its live label and status."""
    ids = window(queue, focus, ahead=ahead, behind=behind)
    if not ids:
        return []
    dataset = queue.filter.dataset
    rows = {r[0]: r for r in ws.con.execute(Q_CARD_EXAMPLES, [dataset, ids]).fetchall()}
    task = ws.dataset(dataset).task
    now = statuses(ws, dataset, ids)
    found = findings_of(ws, dataset, ids)
    referenced = referenced_examples(ws, dataset, found)
    missing = [i for i in ids if i not in rows]
    sentences = load_sentences(ws, dataset, missing) if missing and task == "span" else {}
    for sid, sent in sentences.items():
        rows[sid] = sentence_row(sent)
    out = []
    for eid in ids:
        if eid not in rows:
            continue  # deleted since the queue was built
        _, split, text, original, meta_json = rows[eid]
        meta = json.loads(meta_json) if meta_json else {}
        state = now[eid]
        label = state["new_label"] if state["status"] == "relabelled" else original
        if eid in sentences:
            label = tags_text(sentences[eid].tags)
        mine = found.get(eid, [])
        card = {"id": eid, "position": queue.position(eid), "total": len(queue), "split": split,
                "task": "sentence" if eid in sentences else task,
                "text": text, "meta": meta, "label": label, "original_label": original,
                "status": state["status"], "seq": state["seq"], "suggested": suggestion(mine),
                "detectors": [{k: f[k] for k in ("detector", "score", "flagged", "reason", "evidence")} for f in mine],
                "referenced": {n["id"]: referenced[n["id"]] for f in mine for n in referenced_ids(f["evidence"])
                               if n["id"] in referenced}}
        if task == "retrieval":
            card["retrieval"] = retrieval_context(ws, dataset, meta, mine)
        out.append(card)
    return out
