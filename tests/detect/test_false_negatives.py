"""false-negatives on the sample retrieval slice: quality floor, margin rules as stated, wrong task refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.detect import run_detector
from curate.evaluate import evaluate


def test_finds_planted_false_negatives_well_above_chance(ret_ws, retrieval_db):
    run = run_detector(ret_ws, "ret", "false-negatives")
    m = evaluate(ret_ws, "ret", retrieval_db[1], [run.run_id])[0]
    # Measured on this slice: AUPRC ~0.6 against ~0.02 by chance (combined margin + restated-positive signal).
    assert m["errors"] >= 10
    assert m["auprc"] > 10 * m["random_auprc"] and m["auprc"] >= 0.4


def test_margin_rule_and_evidence_agree(ret_ws):
    run = run_detector(ret_ws, "ret", "false-negatives", {"relative_margin": 0.05, "positive_similarity": 1.0})
    rows = ret_ws.con.execute("SELECT evidence, flagged, suggested_label FROM findings WHERE run_id = ?",
                              [run.run_id]).fetchall()
    flagged = 0
    for ev, is_flagged, suggested in rows:
        e = json.loads(ev)
        ref = e["positive_score"]
        above = e["negative_score"] > ref - abs(ref) * 0.05 + 1e-4
        below = e["negative_score"] < ref - abs(ref) * 0.05 - 1e-4
        assert not (above and not is_flagged) and not (below and is_flagged)
        assert (suggested == "positive") == is_flagged
        flagged += is_flagged
    assert 0 < flagged < len(rows)
    assert run.counts["flagged_by_margin"] == flagged and run.counts["negatives_without_positive"] == 0


def test_score_choices_rank_differently(ret_ws):
    by = {}
    for kind in ("margin", "positive_similarity", "combined"):
        run = run_detector(ret_ws, "ret", "false-negatives", {"score": kind})
        by[kind] = np.array([r[0] for r in ret_ws.con.execute(
            "SELECT score FROM findings WHERE run_id = ? ORDER BY example_id", [run.run_id]).fetchall()])
    assert not np.allclose(by["margin"], by["positive_similarity"])
    np.testing.assert_allclose(by["combined"], 0.25 * by["margin"] + 0.75 * by["positive_similarity"], atol=1e-9)
    even = run_detector(ret_ws, "ret", "false-negatives", {"margin_weight": 0.5})
    got = np.array([r[0] for r in ret_ws.con.execute(
        "SELECT score FROM findings WHERE run_id = ? ORDER BY example_id", [even.run_id]).fetchall()])
    np.testing.assert_allclose(got, (by["margin"] + by["positive_similarity"]) / 2, atol=1e-9)


@pytest.mark.slow
def test_cross_encoder_rescoring_from_a_local_path(ret_ws, tmp_path):
    from sentence_transformers import CrossEncoder

    from curate.encode import resolve_model

    # A cross-encoder built from the packaged MiniLM weights (fresh scoring head): real model code, offline.
    ce = CrossEncoder(resolve_model(None).source, num_labels=1, device="cpu")
    ce.save(str(tmp_path / "ce"))
    run = run_detector(ret_ws, "ret", "false-negatives", {"cross_encoder": str(tmp_path / "ce")})
    ev = json.loads(ret_ws.one("SELECT evidence FROM findings WHERE run_id = ? AND evidence IS NOT NULL LIMIT 1",
                               [run.run_id])[0])
    assert ev["scorer"] == "cross-encoder"
    with pytest.raises(Exception, match="no model at"):
        run_detector(ret_ws, "ret", "false-negatives", {"cross_encoder": str(tmp_path / "missing")})
