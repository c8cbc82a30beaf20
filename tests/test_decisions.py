"""Decisions are appended, never overwritten; the current label is a view; undo is a new decision."""

from __future__ import annotations

import json

import pytest

from curate.decisions import Decision, history, record, undo
from curate.errors import CurateError
from curate.ingest import ingest


@pytest.fixture
def small(ws, tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"id": f"x{i}", "text": f"text {i}", "label": "a"}) + "\n" for i in range(4)))
    ingest(ws, p, "jsonl", "d")
    return ws


def current(ws):
    return {r[0]: r[1:] for r in ws.con.execute(
        "SELECT id, label, removed, original_label FROM current_examples WHERE dataset = 'd'").fetchall()}


def test_relabel_remove_and_undo(small):
    ws = small
    record(ws, "d", [Decision("x0", "relabel", "b"), Decision("x1", "remove")], reviewer="ann", source="ui")
    cur = current(ws)
    assert cur["x0"] == ("b", False, "a") and cur["x1"] == ("a", True, "a") and cur["x2"] == ("a", False, "a")
    record(ws, "d", [Decision("x0", "relabel", "c")], reviewer="bob", source="ui")
    assert current(ws)["x0"][0] == "c"
    assert undo(ws, "d", "x0", reviewer="bob") == "relabel"
    assert current(ws)["x0"][0] == "b"
    assert undo(ws, "d", "x1", reviewer="ann") == "reset"  # its first decision: back to unreviewed
    assert current(ws)["x1"] == ("a", False, "a")
    assert ws.one("SELECT last_action FROM current_examples WHERE id = 'x1'")[0] is None
    hist = history(ws, "d", "x0")
    assert [h["action"] for h in hist] == ["relabel", "relabel", "relabel"]
    assert [h["reviewer"] for h in hist] == ["ann", "bob", "bob"] and hist[-1]["note"] == "undo"
    # The examples table itself is never touched.
    assert {r[0] for r in ws.con.execute("SELECT label FROM examples WHERE dataset='d'").fetchall()} == {"a"}


def test_bad_decisions_write_nothing(small):
    ws = small
    with pytest.raises(CurateError, match="no example 'nope'"):
        record(ws, "d", [Decision("x0", "keep"), Decision("nope", "keep")], reviewer="ann", source="ui")
    with pytest.raises(CurateError, match="needs a new label"):
        record(ws, "d", [Decision("x0", "relabel")], reviewer="ann", source="ui")
    with pytest.raises(CurateError, match="unknown action"):
        record(ws, "d", [Decision("x0", "delete")], reviewer="ann", source="ui")
    assert ws.con.execute("SELECT count(*) FROM decisions").fetchall()[0][0] == 0
    with pytest.raises(CurateError, match="no decision to undo"):
        undo(ws, "d", "x0", reviewer="ann")
