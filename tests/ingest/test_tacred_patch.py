"""TACRED patch files mark a clean subset with verified labels; they never overwrite labels."""

from __future__ import annotations

import json

import pytest

from curate.errors import CurateError, InputError, NotFound
from curate.ingest import ingest
from tests.conftest import SAMPLE, snapshot


@pytest.fixture
def sample(ws):
    ingest(ws, SAMPLE / "relation", "tacred", "rel")
    return ws


def test_patch_marks_clean_subset_without_overwriting(sample):
    ws = sample
    patch = json.loads((SAMPLE / "relation" / "train_patch.json").read_text())
    labels_before = ws.con.execute("SELECT id, label FROM examples WHERE dataset='rel' ORDER BY id").fetchall()
    result = ingest(ws, SAMPLE / "relation" / "train_patch.json", "tacred-patch", "rel")
    assert result.counts["clean_labels"] == len(patch)
    assert ws.con.execute("SELECT id, label FROM examples WHERE dataset='rel' ORDER BY id").fetchall() == labels_before
    stored = dict(ws.con.execute("SELECT example_id, label FROM clean_labels WHERE dataset='rel'").fetchall())
    assert stored == patch
    # The patch corrects planted errors it covers: there the clean label differs from the noisy one.
    gold = {json.loads(line)["id"]: json.loads(line) for line in open(SAMPLE / "relation" / "gold.jsonl")}
    covered = [i for i in patch if i in gold]
    assert covered and all(stored[i] == gold[i]["true_label"] for i in covered)


def test_list_form_and_reload_needs_replace(sample, tmp_path):
    ws = sample
    p = tmp_path / "dev_patch.json"
    p.write_text(json.dumps([{"id": "dev-00001", "relation": "no_relation"}]))
    ingest(ws, p, "tacred-patch", "rel")
    with pytest.raises(CurateError, match="already has clean labels"):
        ingest(ws, p, "tacred-patch", "rel")
    ingest(ws, p, "tacred-patch", "rel", replace=True)
    assert ws.stats("rel")["clean_labels"] == 1


def test_unknown_id_is_refused_and_nothing_written(sample, tmp_path):
    ws = sample
    before = snapshot(ws)
    p = tmp_path / "patch.json"
    p.write_text(json.dumps({"train-00001": "per:title", "nope-1": "per:title"}))
    with pytest.raises(InputError, match=r"record 2, field 'id': id 'nope-1' is not an example"):
        ingest(ws, p, "tacred-patch", "rel")
    assert snapshot(ws) == before


def test_patch_needs_dataset(ws, tmp_path):
    p = tmp_path / "patch.json"
    p.write_text(json.dumps({"a": "b"}))
    with pytest.raises(NotFound):
        ingest(ws, p, "tacred-patch", "missing")


def test_duplicate_patch_id_names_both_places(sample, tmp_path):
    p = tmp_path / "patch.json"
    p.write_text(json.dumps([{"id": "train-00001", "relation": "per:title"},
                             {"id": "train-00001", "relation": "per:age"}]))
    with pytest.raises(InputError, match=r"record 2, field 'id': duplicate id 'train-00001' \(first seen at record 1\)"):
        ingest(sample, p, "tacred-patch", "rel")


def test_bad_dict_entry_names_its_key(sample, tmp_path):
    p = tmp_path / "patch.json"
    p.write_text(json.dumps({"train-00001": "per:title", "train-00002": 7}))
    with pytest.raises(InputError, match=r"record 2, field 'train-00002': expected a relation name for id "
                                         r"'train-00002', got 7"):
        ingest(sample, p, "tacred-patch", "rel")
