"""Decisions: an append-only log of keep / relabel / remove (and retag, on the sentences of span data); undo
appends the state it restores.

The current label is a view over the latest decision (store.current_examples). Nothing is overwritten, so
every change keeps who made it, when and from where (the UI, a bulk rule, a recipe policy, an undo).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from curate.errors import CurateError
from curate.sentences import check_retags
from curate.store import Workspace

ACTIONS = ("keep", "relabel", "remove", "retag")
RESET = "reset"  # back to the ingested label, unreviewed: what undoing an example's first decision appends
# Review status of an example by its latest action (None: never decided).
STATUS_OF = {None: "unreviewed", RESET: "unreviewed", "keep": "kept", "relabel": "relabelled", "remove": "removed",
             "retag": "relabelled"}

# The latest decision of every decided example of a dataset (one parameter: the dataset). The log is small
# next to the examples, so queries aggregate it first and join the result.
LATEST_DECISIONS = """
    SELECT example_id, arg_max(action, seq) AS action, arg_max_null(new_label, seq) AS new_label, max(seq) AS seq
    FROM decisions WHERE dataset = ? GROUP BY example_id
"""

Q_LATEST = """
    SELECT example_id, arg_max(seq, seq), arg_max(action, seq), arg_max_null(new_label, seq), arg_max_null(reviewer, seq),
           arg_max_null(source, seq), arg_max("at", seq)
    FROM decisions WHERE dataset = ? AND example_id IN (SELECT id FROM _ids) GROUP BY example_id
"""
Q_LABELS = """
    SELECT label FROM examples WHERE dataset = ? AND label IS NOT NULL
    UNION SELECT new_label FROM decisions WHERE dataset = ? AND action = 'relabel'
"""
Q_DECISION_STATE = "SELECT count(*), coalesce(max(seq), 0) FROM decisions WHERE dataset = ?"
Q_HISTORY = """
    SELECT seq, action, new_label, reviewer, source, "at", note, batch, undoes FROM decisions
    WHERE dataset = ? AND example_id = ? ORDER BY seq
"""


class Conflict(CurateError):
    """Someone else decided the example after it was loaded; the caller must confirm before overwriting."""

    def __init__(self, example_id: str, latest: dict) -> None:
        self.example_id = example_id
        self.latest = latest
        who = latest.get("reviewer") or "someone"
        what = latest["action"] + (f" -> {latest['new_label']}" if latest.get("new_label") else "")
        super().__init__(f"'{example_id}' was decided since you loaded it: {what} by {who} "
                         f"({latest.get('source')}, {str(latest.get('at'))[:19]})")


class NewLabel(CurateError):
    """A relabel to a label the dataset has never used; it needs explicit confirmation."""


def decision_state(ws: Workspace, dataset: str) -> list[int]:
    """How many decisions a dataset's log holds and the latest seq: changes with every decision, keeps included
    (for fingerprints of what reads the log)."""
    return [int(v) for v in ws.one(Q_DECISION_STATE, [dataset])]


@dataclass(frozen=True)
class Decision:
    """One reviewer, bulk-rule or policy action on one example."""

    example_id: str
    action: str
    new_label: str | None = None
    note: str | None = None
    undoes: int | None = None  # seq of the decision this one reverts (undo only)


def label_set(ws: Workspace, dataset: str) -> list[str]:
    """Every label the dataset uses: ingested ones and those reviewers already introduced."""
    return sorted(r[0] for r in ws.con.execute(Q_LABELS, [dataset, dataset]).fetchall() if r[0] is not None)


def latest(ws: Workspace, dataset: str, ids: Iterable[str]) -> dict[str, dict]:
    """The latest decision on each of the given examples (examples never decided are absent)."""
    ids = list(ids)
    if not ids:
        return {}
    ws.con.register("_ids", pa.table({"id": ids}))
    try:
        rows = ws.con.execute(Q_LATEST, [dataset]).fetchall()
    finally:
        ws.con.unregister("_ids")
    keys = ("seq", "action", "new_label", "reviewer", "source", "at")
    return {r[0]: dict(zip(keys, r[1:])) for r in rows}


def record(
    ws: Workspace,
    dataset: str,
    decisions: Iterable[Decision],
    *,
    reviewer: str | None,
    source: str,
    batch: str | None = None,
    expected: dict[str, int | None] | None = None,
    allow_new_label: bool = True,
) -> int:
    """Append decisions in one transaction (all or none); returns how many were written.

    expected maps example ids to the latest decision seq the caller saw (None: none); if another decision
    landed since, Conflict is raised and nothing is written. With allow_new_label=False a relabel to a label
    outside the dataset's label set raises NewLabel."""
    rows = list(decisions)
    for d in rows:
        if d.action not in (*ACTIONS, RESET):
            raise CurateError(f"unknown action '{d.action}'; expected one of {', '.join(ACTIONS)}")
        if d.action in ("relabel", "retag") and not (d.new_label and d.new_label.strip()):
            raise CurateError(f"{d.action} of '{d.example_id}' needs a new {'label' if d.action == 'relabel' else 'tags'}")
    if not rows:
        return 0
    ids = [d.example_id for d in rows]
    with ws.transaction():
        ws.con.register("_ids", pa.table({"id": ids}))
        try:
            unknown = ws.con.execute(
                "SELECT i.id FROM _ids i ANTI JOIN examples e ON e.dataset = ? AND e.id = i.id", [dataset]
            ).fetchall()
            sentences = {r[0] for r in ws.con.execute(
                "SELECT i.id FROM _ids i SEMI JOIN texts t ON t.dataset = ? AND t.kind = 'sentence' AND t.id = i.id",
                [dataset]).fetchall()} if unknown else set()
        finally:
            ws.con.unregister("_ids")
        missing = [r[0] for r in unknown if r[0] not in sentences]
        if missing:
            raise CurateError(f"dataset '{dataset}' has no example '{missing[0]}'")
        # A sentence is relabelled by giving it new tags: a relabel of a sentence is its retag.
        rows = [Decision(d.example_id, "retag", d.new_label, d.note, d.undoes)
                if d.example_id in sentences and d.action == "relabel" else d for d in rows]
        wrong = next((d for d in rows if d.action == "retag" and d.example_id not in sentences), None)
        if wrong is not None:
            raise CurateError(f"'{wrong.example_id}' is an example, not a sentence: relabel it instead of retagging")
        fixed = check_retags(ws, dataset, {d.example_id: d.new_label for d in rows if d.action == "retag"})
        rows = [Decision(d.example_id, d.action, fixed[d.example_id], d.note, d.undoes) if d.action == "retag" else d
                for d in rows]
        if expected:
            now = latest(ws, dataset, expected)
            for eid, seen in expected.items():
                cur = now.get(eid)
                if (cur["seq"] if cur else None) != seen:
                    raise Conflict(eid, cur or {"action": "undone", "source": "undo"})
        if not allow_new_label:
            known = set(label_set(ws, dataset))
            new = sorted({d.new_label for d in rows if d.action == "relabel" and d.new_label not in known})
            if new:
                raise NewLabel(f"'{new[0]}' is not a label of '{dataset}'; confirm it as a new label or pick "
                               f"one of: {', '.join(sorted(known)[:12])}{' ...' if len(known) > 12 else ''}")
        ws.append_arrow("decisions", pa.table({
            "dataset": [dataset] * len(rows), "example_id": ids, "action": [d.action for d in rows],
            "new_label": [d.new_label if d.action in ("relabel", "retag") else None for d in rows],
            "reviewer": [reviewer] * len(rows), "source": [source] * len(rows), "note": [d.note for d in rows],
            "batch": pa.array([batch] * len(rows), pa.string()),
            "undoes": pa.array([d.undoes for d in rows], pa.int64()),
        }))
    return len(rows)


def new_batch_id() -> str:
    """An id that groups the decisions of one bulk action, so they can be undone as one step."""
    return uuid.uuid4().hex[:12]


def _restoring(ws: Workspace, dataset: str, example_id: str, seq: int, note: str) -> Decision:
    """The decision that puts an example back to its state before decision seq."""
    prior = ws.one(
        "SELECT action, new_label FROM decisions WHERE dataset = ? AND example_id = ? AND seq < ? "
        "ORDER BY seq DESC LIMIT 1", [dataset, example_id, seq])
    if prior is None:
        return Decision(example_id, RESET, note=note, undoes=seq)
    return Decision(example_id, prior[0], prior[1], note=note, undoes=seq)


def undo(ws: Workspace, dataset: str, example_id: str, *, reviewer: str | None, source: str = "undo") -> str:
    """Revert an example's latest decision by appending the state before it; returns the restored action."""
    hist = history(ws, dataset, example_id)
    if not hist:
        raise CurateError(f"example '{example_id}' has no decision to undo")
    d = _restoring(ws, dataset, example_id, hist[-1]["seq"], "undo")
    record(ws, dataset, [d], reviewer=reviewer, source=source, expected={example_id: hist[-1]["seq"]})
    return d.action


def undo_batch(ws: Workspace, batch: str, *, reviewer: str | None) -> dict[str, int]:
    """Revert one bulk action as one step; examples decided again since are left as they are and counted."""
    rows = ws.con.execute("SELECT dataset, example_id, seq FROM decisions WHERE batch = ? ORDER BY seq",
                          [batch]).fetchall()
    if not rows:
        raise CurateError(f"no decisions belong to batch '{batch}'")
    dataset = rows[0][0]
    with ws.transaction():
        now = latest(ws, dataset, [r[1] for r in rows])
        todo = [_restoring(ws, dataset, eid, seq, f"undo batch {batch}") for _, eid, seq in rows
                if now.get(eid, {}).get("seq") == seq]
        record(ws, dataset, todo, reviewer=reviewer, source="undo", batch=f"undo:{batch}")
    return {"reverted": len(todo), "changed_since": len(rows) - len(todo)}


def undo_last(ws: Workspace, dataset: str, *, reviewer: str | None) -> dict | None:
    """Revert this reviewer's latest step on a dataset that is not yet undone (one decision, or a whole bulk
    batch); None when there is nothing to undo."""
    row = ws.one(
        "SELECT d.seq, d.example_id, d.batch FROM decisions d WHERE d.dataset = ? AND d.reviewer IS NOT DISTINCT "
        "FROM ? AND d.source != 'undo' AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.seq) "
        "AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.batch = 'undo:' || d.batch) "
        "ORDER BY d.seq DESC LIMIT 1", [dataset, reviewer])
    if row is None:
        return None
    seq, example_id, batch = row
    if batch:
        return {"batch": batch, **undo_batch(ws, batch, reviewer=reviewer)}
    # The step is still in force when everything after it on the example only undid later steps.
    after = ws.con.execute("SELECT seq, undoes FROM decisions WHERE dataset = ? AND example_id = ? AND seq > ? "
                           "ORDER BY seq", [dataset, example_id, seq]).fetchall()
    undone = {u for _, u in after if u is not None}
    in_force = all((u is not None and u > seq) or s in undone for s, u in after)
    d = _restoring(ws, dataset, example_id, seq, "undo")
    record(ws, dataset, [d], reviewer=reviewer, source="undo",
           expected={example_id: after[-1][0] if after and in_force else seq})
    return {"example_id": example_id, "restored": d.action}


def history(ws: Workspace, dataset: str, example_id: str) -> list[dict]:
    """Every decision on an example, oldest first."""
    cur = ws.con.execute(Q_HISTORY, [dataset, example_id])
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
