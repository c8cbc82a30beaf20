"""TACRED JSON ingest: good input round-trips into rows; every kind of bad input is refused cleanly."""

from __future__ import annotations

import json

import pytest

from curate.errors import CurateError, InputError
from curate.ingest import ingest
from tests.conftest import SAMPLE, snapshot


def rec(i: int, **over) -> dict:
    base = {"id": f"e{i}", "token": ["Bill", "Gates", "founded", "Microsoft", "in", "1975", "."],
            "subj_start": 0, "subj_end": 1, "obj_start": 3, "obj_end": 3,
            "subj_type": "PERSON", "obj_type": "ORGANIZATION", "relation": "org:founded_by", "docid": "D1"}
    base.update(over)
    return base


def write(tmp_path, records, name="train.json"):
    p = tmp_path / name
    p.write_text(json.dumps(records))
    return p


def test_ingest_keeps_tokens_spans_and_extra_fields(ws, tmp_path):
    p = write(tmp_path, [rec(1), rec(2, relation="no_relation", obj_start=5, obj_end=5, obj_type="DATE")])
    result = ingest(ws, p, "tacred", "t", split="train")
    assert result.counts["examples"] == 2
    rows = ws.examples_frame("t")
    assert list(rows["id"]) == ["e1", "e2"]
    assert rows["text"][0] == "Bill Gates founded Microsoft in 1975 ."
    meta = json.loads(rows["meta"][1])
    assert (meta["obj_start"], meta["obj_end"], meta["obj_type"]) == (5, 5, "DATE")
    assert meta["extra"] == {"docid": "D1"}
    assert ws.dataset("t").negative_label == "no_relation"
    # Same sentence, other pair: the content hash (what gets embedded) must differ.
    assert rows["text_hash"][0] != rows["text_hash"][1]


def test_folder_of_splits_and_stats(ws):
    ingest(ws, SAMPLE / "relation", "tacred", "sample")
    s = ws.stats("sample")
    assert s["splits"] == {"dev": 1500, "test": 1500, "train": 5000}
    assert 0.74 <= s["negatives"]["share"] <= 0.82


BAD = [
    ("malformed", b'[{"id": "e1",, }]', "line 1", "invalid JSON"),
    ("not an array", b'{"id": "e1"}', "", "expected a JSON array"),
    ("empty file", b"", "", "file is empty"),
    ("empty array", b"[]", "", "holds no examples"),
    ("non utf8", b'[{"id": "caf\xe9"}]', "line 1", "not valid UTF-8"),
]


@pytest.mark.parametrize("case,data,where,message", BAD, ids=[b[0] for b in BAD])
def test_bad_files(ws, tmp_path, case, data, where, message):
    ingest(ws, write(tmp_path, [rec(9)], "keep.json"), "tacred", "keep")
    before = snapshot(ws)
    p = tmp_path / "bad.json"
    p.write_bytes(data)
    with pytest.raises(InputError) as exc:
        ingest(ws, p, "tacred", "bad")
    assert message in str(exc.value) and where in str(exc.value) and "bad.json" in str(exc.value)
    assert snapshot(ws) == before


BAD_RECORDS = [
    ("missing field", {"relation": None}, "field 'relation'", "missing"),
    ("empty relation", {"relation": ""}, "field 'relation'", "is empty"),
    ("mistyped token", {"token": "Bill Gates"}, "field 'token'", "list of tokens"),
    ("mistyped index", {"subj_start": "zero"}, "field 'subj_start'", "integer"),
    ("span out of range", {"obj_start": 7, "obj_end": 9}, "field 'obj_start'", "out of range"),
    ("reversed span", {"subj_start": 1, "subj_end": 0}, "field 'subj_end'", "starts after it ends"),
    ("overlapping spans", {"obj_start": 1, "obj_end": 3}, "field 'obj_start'", "overlaps"),
    ("duplicate id", {"id": "e1"}, "field 'id'", "duplicate id 'e1' (first seen at record 1)"),
]


@pytest.mark.parametrize("case,change,field,message", BAD_RECORDS, ids=[b[0] for b in BAD_RECORDS])
def test_bad_records_name_record_and_field(ws, tmp_path, case, change, field, message):
    before = snapshot(ws)
    second = rec(2, **change)
    if change.get("relation", 1) is None:
        del second["relation"]
    with pytest.raises(InputError) as exc:
        ingest(ws, write(tmp_path, [rec(1), second]), "tacred", "t")
    text = str(exc.value)
    assert "record 2" in text and field in text and message in text
    assert snapshot(ws) == before
    assert not ws.has_dataset("t")


def test_existing_dataset_needs_replace_or_append(ws, tmp_path):
    p = write(tmp_path, [rec(1)])
    ingest(ws, p, "tacred", "t", split="train")
    with pytest.raises(CurateError, match="already exists.*--replace"):
        ingest(ws, p, "tacred", "t", split="train")
    ingest(ws, write(tmp_path, [rec(1, relation="no_relation")], "other.json"), "tacred", "t", replace=True)
    assert list(ws.examples_frame("t")["label"]) == ["no_relation"]
    ingest(ws, write(tmp_path, [rec(2)], "dev.json"), "tacred", "t", split="dev", append=True)
    assert ws.stats("t")["splits"] == {"dev": 1, "train": 1}
    before = snapshot(ws)
    with pytest.raises(InputError, match="id 'e2'.*already exists"):
        ingest(ws, write(tmp_path, [rec(2)], "test.json"), "tacred", "t", split="test", append=True)
    assert snapshot(ws) == before


def test_unknown_option_is_refused(ws, tmp_path):
    with pytest.raises(CurateError, match="text_field: not an option of this format"):
        ingest(ws, write(tmp_path, [rec(1)]), "tacred", "t", options={"text_field": "x"})
