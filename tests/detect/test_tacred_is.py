"""Intrinsic Strategy on planted noisy negatives: far better than chance, relabels with the true relation."""

from __future__ import annotations

import json

import pytest

from curate.detect import run_detector
from curate.errors import CurateError, InputError
from tests.detect.conftest import flagged_quality


def test_finds_planted_noisy_negatives(rel_ws, gold_path):
    run = run_detector(rel_ws, "rel", "tacred-is")
    m = flagged_quality(rel_ws, run.run_id, gold_path)
    # Measured on this slice: AUPRC ~0.5 against a random 0.03; the floor leaves room for noise, not for breakage.
    assert m["auprc"] > 0.35 and m["auprc"] > 8 * m["random_auprc"]
    assert m["recall_at_k_by_kind"]["false_negative"] > 0.45
    assert m["relabel_accuracy"] > 0.9
    assert m["flagged_precision"] > 0.75


def test_flags_carry_evidence(rel_ws):
    run = run_detector(rel_ws, "rel", "tacred-is")
    row = rel_ws.con.execute(
        "SELECT suggested_label, evidence FROM findings WHERE run_id = ? AND flagged LIMIT 1", [run.run_id]).fetchall()
    suggested, evidence = row[0][0], json.loads(row[0][1])
    assert suggested != "no_relation" and evidence["vote"]["label"] == suggested
    assert len(evidence["neighbours"]) == 10
    assert all(n["label"] != "no_relation" for n in evidence["neighbours"])  # it trusts the positives only


def test_user_predictions_file(rel_ws, tmp_path):
    ids = [r[0] for r in rel_ws.con.execute(
        "SELECT id FROM examples WHERE dataset='rel' AND split='train' AND label='no_relation' LIMIT 3").fetchall()]
    preds = tmp_path / "pred.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "label": "per:title"}) + "\n" for i in ids))
    run = run_detector(rel_ws, "rel", "tacred-is", {"predictions": str(preds), "space": "embedding"})
    candidates = rel_ws.con.execute(
        "SELECT example_id FROM findings WHERE run_id = ? AND score > 0", [run.run_id]).fetchall()
    assert {c[0] for c in candidates} <= set(ids)


@pytest.mark.parametrize("line,message", [
    ('{"id": "nope", "label": "per:title"}', "line 1, field 'id': unknown example id 'nope'"),
    ('{"id": "train-00000", "label": "made:up"}', "field 'label': label 'made:up' is not a label"),
    ("{not json", "line 1: invalid JSON"),
])
def test_bad_predictions_file(rel_ws, tmp_path, line, message):
    p = tmp_path / "pred.jsonl"
    p.write_text(line + "\n")
    before = rel_ws.con.execute("SELECT count(*) FROM runs").fetchall()
    with pytest.raises(InputError, match=message):
        run_detector(rel_ws, "rel", "tacred-is", {"predictions": str(p)})
    assert rel_ws.con.execute("SELECT count(*) FROM runs").fetchall() == before


def test_unknown_parameter(rel_ws):
    with pytest.raises(CurateError, match="detector 'tacred-is': kk: unknown parameter"):
        run_detector(rel_ws, "rel", "tacred-is", {"kk": 3})
