"""Decisions from review: conflicts are caught, new labels confirmed, bulk actions applied and undone as one step."""

from __future__ import annotations

import pytest

from curate.decisions import Conflict, NewLabel, history, undo_batch, undo_last
from curate.errors import CurateError
from curate.review import SUGGESTED, QueueFilter, build_queue, bulk_apply, bulk_preview, decide, load_example


def current(ws, eid):
    return ws.one("SELECT label, removed, last_action FROM current_examples WHERE dataset = 'rel' AND id = ?", [eid])


def test_decision_by_someone_else_since_loading_is_a_conflict(rws):
    eid = build_queue(rws, QueueFilter(dataset="rel")).ids[0]
    seen = load_example(rws, "rel", eid).last_seq
    assert seen is None
    decide(rws, "rel", eid, "keep", reviewer="bob", expected_seq=seen)
    with pytest.raises(Conflict, match="keep by bob"):
        decide(rws, "rel", eid, "remove", reviewer="ann", expected_seq=seen)
    assert current(rws, eid)[1] is False  # nothing written by the refused call
    fresh = load_example(rws, "rel", eid).last_seq
    decide(rws, "rel", eid, "remove", reviewer="ann", expected_seq=fresh)
    assert current(rws, eid)[1] is True


def test_new_label_needs_confirmation(rws):
    eid = build_queue(rws, QueueFilter(dataset="rel")).ids[0]
    with pytest.raises(NewLabel, match="'per:favourite_food' is not a label of 'rel'"):
        decide(rws, "rel", eid, "relabel", new_label="per:favourite_food", reviewer="ann")
    assert history(rws, "rel", eid) == []
    decide(rws, "rel", eid, "relabel", new_label="per:favourite_food", reviewer="ann", allow_new_label=True)
    assert current(rws, eid)[0] == "per:favourite_food"
    decide(rws, "rel", eid, "relabel", new_label="per:title", reviewer="ann")  # a known label needs nothing


def test_bulk_relabel_to_suggested_then_undo_as_one_step(rws):
    flt = QueueFilter(dataset="rel", detectors=["knn-vote"], min_score=0.5, status="unreviewed")
    items = build_queue(rws, flt).items
    kept = items["id"].iloc[0]
    decide(rws, "rel", kept, "keep", reviewer="bob")  # reviewed before: the unreviewed filter leaves it alone
    preview = bulk_preview(rws, flt, "relabel", SUGGESTED)
    want = [(i, s) for i, s, lab in zip(items["id"], items["suggested"], items["label"])
            if i != kept and isinstance(s, str) and s != lab]
    assert preview["count"] == len(want) > 0 and len(preview["examples"]) == min(5, len(want))
    res = bulk_apply(rws, flt, "relabel", SUGGESTED, reviewer="ann", expected_count=preview["count"])
    assert res["applied"] == len(want)
    rows = rws.con.execute("SELECT example_id, new_label, source, batch FROM decisions WHERE batch = ?",
                           [res["batch"]]).fetchall()
    assert {(r[0], r[1]) for r in rows} == set(want)
    assert all(r[2].startswith("bulk ") and '"detectors":["knn-vote"]' in r[2] for r in rows)
    assert current(rws, kept)[2] == "keep"
    # one example changed again after the bulk: undoing the batch leaves it and restores the rest
    changed = want[0][0]
    decide(rws, "rel", changed, "remove", reviewer="bob")
    out = undo_batch(rws, res["batch"], reviewer="ann")
    assert out == {"reverted": len(want) - 1, "changed_since": 1}
    assert current(rws, changed)[1] is True
    for eid, _ in want[1:]:
        label, removed, last = current(rws, eid)
        assert last is None and not removed  # back to unreviewed with the ingested label
    with pytest.raises(CurateError, match="matches 0 examples, not the 3"):
        bulk_apply(rws, flt.model_copy(update={"min_score": 1.0, "max_score": 1.0, "text": "zzzz"}), "remove",
                   reviewer="ann", expected_count=3)


def test_undo_last_walks_back_one_step_at_a_time(rws):
    a, b = build_queue(rws, QueueFilter(dataset="rel")).ids[:2]
    decide(rws, "rel", a, "relabel", new_label="per:title", reviewer="ann")
    decide(rws, "rel", a, "remove", reviewer="ann")
    decide(rws, "rel", b, "keep", reviewer="ann")
    decide(rws, "rel", b, "remove", reviewer="bob")  # not ann's: her undo never touches it
    flt = QueueFilter(dataset="rel", runs=[], detectors=["confident-learning"])
    batch = bulk_apply(rws, flt.model_copy(update={"status": "unreviewed"}), "keep", reviewer="ann")["batch"]
    assert undo_last(rws, "rel", reviewer="ann")["batch"] == batch
    with pytest.raises(Conflict, match="remove by bob"):
        undo_last(rws, "rel", reviewer="ann")  # her keep on b was overwritten by bob since
    assert current(rws, b)[1] is True
    rws.con.execute("DELETE FROM decisions WHERE example_id = ? AND reviewer = 'bob'", [b])
    assert undo_last(rws, "rel", reviewer="ann") == {"example_id": b, "restored": "reset"}
    assert undo_last(rws, "rel", reviewer="ann") == {"example_id": a, "restored": "relabel"}
    assert current(rws, a) == ("per:title", False, "relabel")
    assert undo_last(rws, "rel", reviewer="ann") == {"example_id": a, "restored": "reset"}
    assert current(rws, a)[2] is None
    assert undo_last(rws, "rel", reviewer="ann") is None
    assert [h["source"] for h in history(rws, "rel", a)] == ["ui", "ui", "undo", "undo"]
