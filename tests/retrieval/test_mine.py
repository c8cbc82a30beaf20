"""Hard-negative mining on the sample retrieval slice, checked against its own rules and against
sentence-transformers' mine_hard_negatives with the same model and settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.errors import CurateError
from curate.retrieval.mine import MineOptions, mine
from curate.retrieval.pairs import TextVectors, load_pairs


def _mined(ws):
    return ws.con.execute("SELECT id, split, label, meta FROM examples WHERE dataset = 'ret' "
                          "AND json_extract_string(meta, '$.source') = 'mined'").fetchall()


def test_mines_negatives_that_obey_the_window_and_margins(ret_ws):
    before = load_pairs(ret_ws, "ret")
    res = mine(ret_ws, "ret", MineOptions(num_negatives=4, relative_margin=0.05, range_min=1))
    assert res.queries == len(before.positives) and res.queries_without_positives == 0
    rows = _mined(ret_ws)
    assert len(rows) == res.mined > 0 and res.mined + res.already_present <= 4 * res.queries
    q = TextVectors(ret_ws, "ret", "query")
    p = TextVectors(ret_ws, "ret", "passage")
    per_query: dict[str, int] = {}
    for ex_id, split, label, meta in rows:
        m = json.loads(meta)
        assert label == "negative" and split == "train" and ex_id == f"{m['query_id']}::{m['passage_id']}"
        assert m["passage_id"] not in before.positives[m["query_id"]]
        score = float(q.of([m["query_id"]])[0] @ p.of([m["passage_id"]])[0])
        assert score == pytest.approx(m["score"], abs=1e-4)
        ref = m["positive_score"]
        assert score <= ref - abs(ref) * 0.05 + 1e-5
        per_query[m["query_id"]] = per_query.get(m["query_id"], 0) + 1
    assert max(per_query.values()) <= 4
    # range_min=1 skips each query's single closest surviving candidate.
    unskipped = mine(ret_ws, "ret", MineOptions(num_negatives=4, relative_margin=0.05))
    first = {qid: pid for qid, pid, _ in unskipped.pairs[::4]}
    again = mine(ret_ws, "ret", MineOptions(num_negatives=4, relative_margin=0.05, range_min=1))
    assert not any(first.get(qid) == pid for qid, pid, _ in again.pairs)


def test_rerun_replaces_earlier_mined_pairs_but_keeps_reviewed_ones(ret_ws):
    from curate.decisions import Decision, record

    first = mine(ret_ws, "ret", MineOptions(num_negatives=2))
    kept = _mined(ret_ws)[0][0]
    record(ret_ws, "ret", [Decision(kept, "relabel", "positive")], reviewer="t", source="test")
    again = mine(ret_ws, "ret", MineOptions(num_negatives=2))
    assert again.replaced == first.mined - 1
    ids = [r[0] for r in _mined(ret_ws)]
    assert len(ids) == len(set(ids)) and kept in ids


def test_same_negatives_as_sentence_transformers(ret_ws):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from curate.encode import resolve_model
    from curate.retrieval.pairs import texts_by_id

    pairs = load_pairs(ret_ws, "ret")
    qt, pt = texts_by_id(ret_ws, "ret", "query"), texts_by_id(ret_ws, "ret", "passage")
    rows = [(qid, pids[0]) for qid, pids in pairs.positives.items()]
    model = SentenceTransformer(resolve_model(None).source, device="cpu")
    ds = Dataset.from_dict({"anchor": [qt[q] for q, _ in rows], "positive": [pt[p] for _, p in rows]})
    theirs = mine_hard_negatives(ds, model, corpus=sorted(pt.values()), num_negatives=3, relative_margin=0.05,
                                 output_format="labeled-pair", verbose=False)
    theirs = {(a, n) for a, n, lab in zip(theirs["anchor"], theirs["positive"], theirs["label"]) if lab == 0}
    res = mine(ret_ws, "ret", MineOptions(num_negatives=3, relative_margin=0.05))
    ours = {(qt[q], pt[p]) for q, p, _ in res.pairs}
    overlap = len(ours & theirs) / max(1, len(theirs))
    assert len(ours) == len(res.pairs) and overlap >= 0.95, overlap


def test_bad_settings_and_wrong_dataset_are_clear(ret_ws, tmp_path):
    from curate.ingest import ingest

    with pytest.raises(ValueError, match="cannot keep 3 negatives"):
        MineOptions(num_negatives=3, range_min=5, range_max=6)
    src = tmp_path / "c.jsonl"
    src.write_text('{"id": "a", "text": "fine", "label": "x"}\n{"id": "b", "text": "bad", "label": "y"}\n')
    ingest(ret_ws, src, "jsonl", "cls")
    with pytest.raises(CurateError, match="classification dataset"):
        mine(ret_ws, "cls")
    with pytest.raises(CurateError, match="no query .* in split dev"):
        mine(ret_ws, "ret", MineOptions(split="dev"))


def test_cli_mine_reports_counts(ret_ws, tmp_path):
    from typer.testing import CliRunner

    from curate.cli import app

    db = ret_ws.path
    ret_ws.close()
    runner = CliRunner()
    res = runner.invoke(app, ["--db", db, "mine", "ret", "-n", "2", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["mined"] + summary["already_present"] <= 2 * summary["queries"] and summary["mined"] > 0
    bad = runner.invoke(app, ["--db", db, "mine", "ret", "--sampling", "sideways"])
    assert bad.exit_code == 2 and "sampling" in bad.output
    assert np.isfinite(summary["timings"]["knn"])
