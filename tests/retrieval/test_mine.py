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


def _their_negatives(ret_ws, **kwargs) -> set[tuple[str, str]]:
    """sentence-transformers' mine_hard_negatives on the slice's (query, first positive) pairs and every passage."""
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
    theirs = mine_hard_negatives(ds, model, corpus=sorted(pt.values()), output_format="labeled-pair", verbose=False,
                                 **kwargs)
    return {(a, n) for a, n, lab in zip(theirs["anchor"], theirs["positive"], theirs["label"]) if lab == 0}


def _ours(ret_ws, res) -> set[tuple[str, str]]:
    from curate.retrieval.pairs import texts_by_id

    qt, pt = texts_by_id(ret_ws, "ret", "query"), texts_by_id(ret_ws, "ret", "passage")
    return {(qt[q], pt[p]) for q, p, _ in res.pairs}


def test_prompts_give_the_same_negatives_as_sentence_transformers(ret_ws):
    prompts = {"query_prompt": "query: ", "corpus_prompt": "passage: "}
    theirs = _their_negatives(ret_ws, num_negatives=3, range_max=12, **prompts)
    res = mine(ret_ws, "ret", MineOptions(num_negatives=3, range_max=12, **prompts))
    ours = _ours(ret_ws, res)
    assert len(ours & theirs) / len(theirs) >= 0.95
    plain = _ours(ret_ws, mine(ret_ws, "ret", MineOptions(num_negatives=3, range_max=12)))
    assert plain != ours  # the prompts reach the vectors (and their cache key: the prompted text's hash)
    meta = json.loads(_mined(ret_ws)[0][3])
    assert "scorer" not in meta


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory):
    """A local CrossEncoder folder: MiniLM's encoder with a freshly initialised (seeded) relevance head."""
    import torch
    from sentence_transformers import CrossEncoder

    from curate.encode import resolve_model

    path = tmp_path_factory.mktemp("ce") / "ce"
    torch.manual_seed(0)
    CrossEncoder(resolve_model(None).source, num_labels=1, device="cpu").save(str(path))
    return path


def test_cross_encoder_rescoring_matches_sentence_transformers(ret_ws, cross_encoder):
    from sentence_transformers import CrossEncoder

    from curate.retrieval.pairs import texts_by_id

    ce = CrossEncoder(str(cross_encoder), device="cpu")
    theirs = _their_negatives(ret_ws, cross_encoder=ce, num_negatives=2, range_max=8)
    res = mine(ret_ws, "ret", MineOptions(num_negatives=2, range_max=8, cross_encoder=str(cross_encoder)))
    ours = _ours(ret_ws, res)
    assert res.scorer == f"cross-encoder:{cross_encoder}"
    assert len(ours & theirs) / len(theirs) >= 0.95
    # The stored scores are the cross-encoder's, the embedding model's kept beside them.
    qt, pt = texts_by_id(ret_ws, "ret", "query"), texts_by_id(ret_ws, "ret", "passage")
    meta = json.loads(_mined(ret_ws)[0][3])
    want = float(ce.predict([(qt[meta["query_id"]], pt[meta["passage_id"]])])[0])
    assert meta["score"] == pytest.approx(want, abs=1e-4) and meta["scorer"] == res.scorer
    q, p = TextVectors(ret_ws, "ret", "query"), TextVectors(ret_ws, "ret", "passage")
    assert meta["embedding_score"] == pytest.approx(float(q.of([meta["query_id"]])[0] @ p.of([meta["passage_id"]])[0]),
                                                    abs=1e-4)


def test_teacher_scores_set_the_margins(ret_ws, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    from curate.encode import resolve_model
    from curate.retrieval.pairs import texts_by_id

    import torch

    torch.manual_seed(1)
    base = SentenceTransformer(resolve_model(None).source, device="cpu")
    teacher = SentenceTransformer(modules=[*base, Dense(384, 384)], device="cpu")  # another embedding model
    teacher.save(str(tmp_path / "teacher"))
    res = mine(ret_ws, "ret", MineOptions(num_negatives=2, range_max=10, relative_margin=0.02,
                                          teacher=str(tmp_path / "teacher")))
    assert res.mined > 0 and res.scorer.startswith("teacher:")
    qt, pt = texts_by_id(ret_ws, "ret", "query"), texts_by_id(ret_ws, "ret", "passage")
    loaded = SentenceTransformer(str(tmp_path / "teacher"), device="cpu")
    for _, _, _, meta in _mined(ret_ws)[:5]:
        m = json.loads(meta)
        v = loaded.encode([qt[m["query_id"]], pt[m["passage_id"]]], normalize_embeddings=True)
        assert m["score"] == pytest.approx(float(v[0] @ v[1]), abs=1e-4)
        assert m["score"] <= m["positive_score"] - abs(m["positive_score"]) * 0.02 + 1e-6
    with pytest.raises(ValueError, match="not both"):
        MineOptions(cross_encoder="a", teacher="b")


def test_what_the_margin_drops_is_kept_for_review_not_exported(ret_ws, tmp_path):
    from curate.detect.runs import latest_runs
    from curate.export import export
    from curate.review import QueueFilter, build_queue, decide

    res = mine(ret_ws, "ret", MineOptions(num_negatives=2, relative_margin=0.05))
    assert res.skipped["relative_margin"] > 0 and res.kept_for_review > 0 and res.review_run
    kept = ret_ws.con.execute("SELECT id, label, meta FROM examples WHERE dataset = 'ret' AND "
                              "json_extract_string(meta, '$.source') = 'mined-dropped'").fetchall()
    assert len(kept) == res.kept_for_review and {k[1] for k in kept} == {"unjudged"}
    m = json.loads(kept[0][2])
    assert m["score"] > m["positive_score"] - abs(m["positive_score"]) * 0.05 and m["rule"] == "relative_margin"
    found = dict(ret_ws.con.execute("SELECT example_id, suggested_label FROM findings WHERE run_id = ? AND flagged",
                                    [res.review_run]).fetchall())
    assert {k[0] for k in kept} <= set(found) and set(found.values()) == {"positive"}
    q = build_queue(ret_ws, QueueFilter(dataset="ret"))
    assert {k[0] for k in kept} <= set(q.ids)
    assert "mine" not in {r.detector for r in latest_runs(ret_ws, "ret", "ensemble")}
    # Unjudged pairs are written by no export until a reviewer labels them.
    decide(ret_ws, "ret", kept[0][0], "relabel", new_label="positive", reviewer="r")
    export(ret_ws, "ret", tmp_path / "out", fmt="jsonl")
    rows = [json.loads(line) for f in sorted((tmp_path / "out").glob("*.jsonl")) for line in f.read_text().splitlines()]
    labels = {r["id"]: r["label"] for r in rows}
    assert labels[kept[0][0]] == "positive" and not any(k[0] in labels for k in kept[1:])
    assert "unjudged" not in labels.values()
    # --drop: sentence-transformers' behaviour, nothing kept (and the earlier unreviewed ones replaced).
    again = mine(ret_ws, "ret", MineOptions(num_negatives=2, relative_margin=0.05, keep_dropped=False))
    assert again.kept_for_review == 0 and again.review_run is None
    left = ret_ws.one("SELECT count(*) FROM examples WHERE dataset = 'ret' AND json_extract_string(meta, '$.source') "
                      "= 'mined-dropped'")[0]
    assert left == 1  # the reviewed one stays



def test_dropped_reason_says_where_the_candidate_stands(ret_ws):
    from curate.retrieval.dropped import closeness

    assert closeness(0.7, 0.49) > 0.9 and closeness(0.5, 0.5) == 0.5 > closeness(0.48, 0.5) > closeness(0.3, 0.5)
    res = mine(ret_ws, "ret", MineOptions(num_negatives=2, relative_margin=0.05))
    for reason, ev in ret_ws.con.execute("SELECT reason, evidence FROM findings WHERE run_id = ?",
                                         [res.review_run]).fetchall():
        ev = json.loads(ev)
        where = "above its positive's" if ev["score"] >= ev["positive_score"] else "within the relative margin of"
        assert f"scores {ev['score']:.3f}, {where} its positive's {ev['positive_score']:.3f}" in reason \
            if where.startswith("within") else f"{where} {ev['positive_score']:.3f}" in reason
