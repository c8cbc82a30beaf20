"""Extrinsic Strategy: trusts a clean subset (a split, patch labels, reviewed examples or an id list)."""

from __future__ import annotations

import json

import pytest

from curate.decisions import Decision, record
from curate.detect import run_detector
from curate.errors import CurateError
from curate.ingest import ingest
from tests.detect.conftest import flagged_quality


def test_clean_dev_finds_noisy_negatives(rel_ws, gold_path):
    run = run_detector(rel_ws, "rel", "tacred-es", {"clean": "dev"})
    m = flagged_quality(rel_ws, run.run_id, gold_path)
    assert m["auprc"] > 0.2 and m["auprc"] > 7 * m["random_auprc"]  # measured ~0.31 on this slice
    assert m["relabel_accuracy"] > 0.9
    evidence = json.loads(rel_ws.con.execute(
        "SELECT evidence FROM findings WHERE run_id = ? AND flagged LIMIT 1", [run.run_id]).fetchall()[0][0])
    dev_ids = {r[0] for r in rel_ws.con.execute("SELECT id FROM examples WHERE split = 'dev'").fetchall()}
    assert {n["id"] for n in evidence["neighbours"]} <= dev_ids


def test_positives_too(rel_ws, gold_path):
    run = run_detector(rel_ws, "rel", "tacred-es", {"include_positives": True})
    assert run.counts["scored"] == 2500
    m = flagged_quality(rel_ws, run.run_id, gold_path)
    assert m["recall_at_k_by_kind"].get("wrong_relation", 0) > 0


def test_patch_labels_are_trusted_and_known_errors_flagged(rel_ws, tmp_path):
    gold = [json.loads(line) for line in open("sample_data/relation/gold.jsonl")]
    ids = {r[0] for r in rel_ws.con.execute("SELECT id FROM examples WHERE split IN ('train', 'dev')").fetchall()}
    patch = {g["id"]: g["true_label"] for g in gold if g["id"] in ids}
    dev = rel_ws.con.execute("SELECT id, label FROM examples WHERE split = 'dev' LIMIT 300").fetchall()
    patch.update(dict(dev))
    p = tmp_path / "patch.json"
    p.write_text(json.dumps(patch))
    ingest(rel_ws, p, "tacred-patch", "rel")
    run = run_detector(rel_ws, "rel", "tacred-es", {"clean": "patch"})
    rows = dict(rel_ws.con.execute(
        "SELECT example_id, suggested_label FROM findings WHERE run_id = ? AND score = 1.0 AND flagged",
        [run.run_id]).fetchall())
    noisy_negatives = {g["id"] for g in gold if g["id"] in ids and g["noisy_label"] == "no_relation"}
    assert noisy_negatives <= set(rows)
    assert all(rows[i] == patch[i] for i in noisy_negatives)


def test_reviewed_subset_and_errors(rel_ws, tmp_path):
    with pytest.raises(CurateError, match="clean subset 'reviewed' is empty"):
        run_detector(rel_ws, "rel", "tacred-es", {"clean": "reviewed"})
    negatives = [r[0] for r in rel_ws.con.execute(
        "SELECT id FROM examples WHERE split='dev' AND label='no_relation' LIMIT 5").fetchall()]
    record(rel_ws, "rel", [Decision(i, "keep") for i in negatives], reviewer="ann", source="ui")
    with pytest.raises(CurateError, match="has no positive examples"):
        run_detector(rel_ws, "rel", "tacred-es", {"clean": "reviewed"})
    with pytest.raises(CurateError, match="no split nope"):
        run_detector(rel_ws, "rel", "tacred-es", {"clean": "nope"})
    ids = tmp_path / "ids.txt"
    ids.write_text("dev-00000\nnot-an-id\n")
    with pytest.raises(CurateError, match="ids.txt, line 2: unknown example id 'not-an-id'"):
        run_detector(rel_ws, "rel", "tacred-es", {"clean": f"file:{ids}"})
