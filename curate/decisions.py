"""Decisions: an append-only log of keep / relabel / remove / undo; the current label is a view over it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from curate.errors import CurateError
from curate.store import Workspace

ACTIONS = ("keep", "relabel", "remove")


@dataclass(frozen=True)
class Decision:
    """One reviewer, bulk-rule or policy action on one example."""

    example_id: str
    action: str
    new_label: str | None = None
    note: str | None = None


def record(
    ws: Workspace, dataset: str, decisions: Iterable[Decision], *, reviewer: str | None, source: str
) -> int:
    """Append decisions in one transaction (all or none); returns how many were written."""
    rows = list(decisions)
    for d in rows:
        if d.action not in ACTIONS:
            raise CurateError(f"unknown action '{d.action}'; expected one of {', '.join(ACTIONS)}")
        if d.action == "relabel" and not d.new_label:
            raise CurateError(f"relabel of '{d.example_id}' needs a new label")
    if not rows:
        return 0
    ids = [d.example_id for d in rows]
    with ws.transaction():
        ws.con.register("_ids", pa.table({"id": ids}))
        try:
            unknown = ws.con.execute(
                "SELECT i.id FROM _ids i LEFT JOIN examples e ON e.dataset = ? AND e.id = i.id WHERE e.id IS NULL",
                [dataset],
            ).fetchall()
        finally:
            ws.con.unregister("_ids")
        if unknown:
            raise CurateError(f"dataset '{dataset}' has no example '{unknown[0][0]}'")
        ws.append_arrow("decisions", pa.table({
            "dataset": [dataset] * len(rows), "example_id": ids, "action": [d.action for d in rows],
            "new_label": [d.new_label if d.action == "relabel" else None for d in rows],
            "reviewer": [reviewer] * len(rows), "source": [source] * len(rows), "note": [d.note for d in rows],
        }))
    return len(rows)


def undo(ws: Workspace, dataset: str, example_id: str, *, reviewer: str | None, source: str = "undo") -> str:
    """Restore the state before the latest decision by appending a new decision; returns the restored action."""
    hist = history(ws, dataset, example_id)
    if not hist:
        raise CurateError(f"example '{example_id}' has no decision to undo")
    prior = hist[-2] if len(hist) > 1 else None
    if prior is None:
        d = Decision(example_id, "keep", note="undo")
    else:
        d = Decision(example_id, prior["action"], prior["new_label"], note="undo")
    record(ws, dataset, [d], reviewer=reviewer, source=source)
    return d.action


def history(ws: Workspace, dataset: str, example_id: str) -> list[dict]:
    """Every decision on an example, oldest first."""
    cur = ws.con.execute(
        'SELECT seq, action, new_label, reviewer, source, "at", note FROM decisions '
        "WHERE dataset = ? AND example_id = ? ORDER BY seq",
        [dataset, example_id],
    )
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
