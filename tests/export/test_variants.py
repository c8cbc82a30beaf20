"""Cleaning variants against real detector runs: what each removes or relabels, policies, weights, ARHN R/F/RF."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curate.decisions import Decision, record
from curate.detect import run_detector
from curate.embed import embed_dataset
from curate.errors import CurateError
from curate.export import Policy, export, prepare
from curate.export.variants import AutoRule


@pytest.fixture
def rel_runs(rel_ws):
    """The relation slice embedded, with one Intrinsic Strategy run."""
    ws, _ = rel_ws
    embed_dataset(ws, "rel")
    run = run_detector(ws, "rel", "tacred-is", {"threshold": 0.3, "balanced_model": True, "folds": 3})
    assert run.counts["flagged"] > 0
    return ws, run.run_id


def _flagged(ws, run_id):
    return {e: s for e, s in ws.con.execute(
        "SELECT example_id, suggested_label FROM findings WHERE run_id = ? AND flagged", [run_id]).fetchall()}


def test_is_e_removes_exactly_the_flagged_and_is_r_relabels_them(rel_runs):
    ws, run_id = rel_runs
    flagged = _flagged(ws, run_id)
    e, used = prepare(ws, "rel", "IS-E")
    assert set(e.frame.loc[e.frame["removed"], "id"]) == set(flagged)
    assert used["runs"][0]["run_id"] == run_id and used["decisions"] == 0  # automatic variants ignore decisions
    r, _ = prepare(ws, "rel", "IS-R")
    got = r.frame.set_index("id")
    for ex_id, suggestion in flagged.items():
        if suggestion is None:
            assert got.loc[ex_id, "removed"]
        else:
            assert got.loc[ex_id, "label"] == suggestion and got.loc[ex_id, "change"] == "relabelled"
    untouched = got.drop(index=list(flagged))
    assert (untouched["label"] == untouched["original_label"]).all() and not untouched["removed"].any()


def test_policy_reviewed_first_then_auto_above_a_score_never_on_test(rel_runs):
    ws, run_id = rel_runs
    top = ws.con.execute("SELECT example_id, suggested_label FROM findings WHERE run_id = ? AND flagged "
                         "ORDER BY score DESC LIMIT 2", [run_id]).fetchall()
    kept_by_reviewer = top[0][0]
    record(ws, "rel", [Decision(kept_by_reviewer, "keep")], reviewer="t", source="test")
    policy = Policy(auto=[AutoRule(run=run_id, action="relabel", min_score=0.0)], protect_splits=["train"])
    data, used = prepare(ws, "rel", policy=policy)
    assert used["runs"][0]["applied"] == 0  # every finding lies in the protected train split
    policy = Policy(auto=[AutoRule(run=run_id, action="relabel_or_remove")])
    data, used = prepare(ws, "rel", policy=policy)
    row = data.frame.set_index("id")
    assert row.loc[kept_by_reviewer, "changed_by"] == "review" and pd.isna(row.loc[kept_by_reviewer, "change"])
    assert row.loc["train-00001", "label"] == "per:title"  # the reviewed relabel from the fixture
    assert used["runs"][0]["applied"] == len(_flagged(ws, run_id)) - 1 - (kept_by_reviewer == "train-00001")


def test_named_variant_without_a_run_says_which_command_to_run(rel_ws):
    ws, _ = rel_ws
    with pytest.raises(CurateError, match=r"curate detect rel -d tacred-es -p include_positives=true"):
        prepare(ws, "rel", "ENP")
    with pytest.raises(CurateError, match="unknown variant 'bogus'"):
        prepare(ws, "rel", "bogus")


def _relevance(ws):
    run_id, counts = ws.one("SELECT run_id, counts FROM runs WHERE kind = 'relevance-model' ORDER BY finished_at DESC")
    p = {e: json.loads(ev)["relevant_prob"] for e, ev in ws.con.execute(
        "SELECT example_id, evidence FROM findings WHERE run_id = ?", [run_id]).fetchall()}
    return p, json.loads(counts)["prior_odds"]


def test_weighted_triplets_carry_the_chance_each_negative_is_one(ret_runs, retrieval_db, tmp_path):
    ws, _, _ = ret_runs
    result = export(ws, "ret", tmp_path / "w", variant="weighted", fmt="triplets")
    rows = [json.loads(x) for x in (tmp_path / "w" / "train.jsonl").read_text().splitlines()]
    weights = [r[k] for r in rows for k in r if k.endswith("_weight")]
    assert weights and all(0.0 <= w <= 1.0 for w in weights) and min(weights) < 1.0
    assert all(f"negative_{k.split('_')[1]}" in r for r in rows for k in r if k.endswith("_weight"))
    assert result.manifest["weighted"] is True
    data, used = prepare(ws, "ret", "weighted")
    assert [r["detector"] for r in used["runs"]] == ["relevance-model"]  # the only detector whose scores are a chance
    neg = data.frame[data.frame["label"] == "negative"].set_index("id")["weight"]
    # 1 - p(relevant) with the class-balancing prior shift undone: p * pi / (p * pi + 1 - p), pi = pos / neg.
    p, odds = _relevance(ws)
    for eid in list(neg.index)[:50]:
        assert neg[eid] == pytest.approx(1 - p[eid] * odds / (p[eid] * odds + 1 - p[eid]), abs=1e-4)
    assert (data.frame.loc[data.frame["label"] == "positive", "weight"] == 1.0).all()
    # On the sample, planted false negatives weigh less than nearly every plain negative, which weigh near 1
    # (this slice: 0.77 against 0.99 at the median; all 600 queries: 0.69 against 0.998, docs/export.md).
    planted = {json.loads(line)["id"] for line in open(retrieval_db[1])}
    fn, plain = neg[neg.index.isin(planted)], neg[~neg.index.isin(planted)]
    assert len(fn) >= 10 and plain.median() > 0.95 and fn.median() < plain.quantile(0.1), (fn.median(), plain.median())


def test_weights_are_calibrated_on_reviewed_negatives(ret_runs, retrieval_db):
    ws, _, _ = ret_runs
    planted = {json.loads(line)["id"] for line in open(retrieval_db[1])}
    before, _ = prepare(ws, "ret", "weighted")
    neg = before.frame[before.frame["label"] == "negative"].set_index("id")["weight"]
    reviewed = list(neg.sort_values().index[:40])  # the top of a queue: the lowest weights
    assert {e in planted for e in reviewed} == {True, False}, "the sample's top holds both outcomes"
    record(ws, "ret", [Decision(e, "relabel", "positive") if e in planted else Decision(e, "keep")
                       for e in reviewed], reviewer="t", source="test")
    after, used = prepare(ws, "ret", "weighted")
    assert used["calibration"]["decisions"] == 40 and used["calibration"]["slope"] > 0
    w = after.frame.set_index("id")["weight"]
    assert (w[reviewed] == 1.0).all()  # kept negatives weigh 1; relabelled ones are positives now
    rest = [e for e in neg.index if e not in reviewed]
    moved = (w[rest] - neg[rest]).abs()
    assert moved.max() > 0.01  # the estimates of the unreviewed negatives were recalibrated
    assert np.corrcoef(w[rest], neg[rest])[0, 1] > 0.9  # monotone in the estimate: the ranking is kept


def test_arhn_r_f_rf(ret_runs):
    ws, _, arhn_run = ret_runs
    actions = {e: json.loads(ev)["action"] for e, ev in ws.con.execute(
        "SELECT example_id, evidence FROM findings WHERE run_id = ? AND flagged", [arhn_run]).fetchall()}
    assert {"R", "F"} <= set(actions.values()), "the slice needs both kinds for this test"
    r, _ = prepare(ws, "ret", "R")
    f, _ = prepare(ws, "ret", "F")
    rf, _ = prepare(ws, "ret", "RF")
    relabelled = lambda d: set(d.frame.loc[d.frame["change"] == "relabelled", "id"])  # noqa: E731
    removed = lambda d: set(d.frame.loc[d.frame["removed"], "id"])  # noqa: E731
    assert relabelled(r) == {e for e, a in actions.items() if a == "R"} and not removed(r)
    assert removed(f) == set(actions) and not relabelled(f)
    assert relabelled(rf) == relabelled(r) and removed(rf) == {e for e, a in actions.items() if a == "F"}


@pytest.mark.parametrize("layout", ["triplet", "labeled-pair", "labeled-list"])
def test_triplets_in_the_layouts_sentence_transformers_mines(ret_runs, tmp_path, layout):
    from datasets import load_dataset

    ws, _, _ = ret_runs
    export(ws, "ret", tmp_path / "n", variant="weighted", fmt="triplets")
    export(ws, "ret", tmp_path / "l", variant="weighted", fmt="triplets", options={"output_format": layout})
    tuples = [json.loads(x) for x in (tmp_path / "n" / "train.jsonl").read_text().splitlines()]
    got = load_dataset("json", data_files=str(tmp_path / "l" / "train.jsonl"), split="train")
    negs = [[(r[k], r[f"{k}_weight"]) for k in r if k.startswith("negative_") and not k.endswith("_weight")]
            for r in tuples]
    if layout == "triplet":  # a row per (anchor, positive, negative)
        assert got.column_names == ["anchor", "positive", "negative", "negative_weight"]
        want = [(r["anchor"], r["positive"], t, w) for r, ns in zip(tuples, negs) for t, w in ns]
        assert list(zip(got["anchor"], got["positive"], got["negative"], got["negative_weight"])) == want
    elif layout == "labeled-pair":  # documents in a column named positive, as theirs is; label 1 or 0
        assert got.column_names == ["anchor", "positive", "label", "weight"]
        # Negatives once per query (a query with two positives has two n-tuple rows), positives each.
        per_query = {r["query_id"]: len(ns) for r, ns in zip(tuples, negs)}
        assert sum(got["label"]) == len(tuples) and len(got) == len(tuples) + sum(per_query.values())
        assert all(w == 1.0 for w, label in zip(got["weight"], got["label"]) if label == 1)
    else:  # one row per positive with negatives: [positive, negatives...] and labels [1, 0, ...]
        assert got.column_names == ["anchor", "positive", "labels", "weights"]
        kept = [(r, ns) for r, ns in zip(tuples, negs) if ns]
        assert got["positive"] == [[r["positive"]] + [t for t, _ in ns] for r, ns in kept]
        assert got["labels"] == [[1] + [0] * len(ns) for _, ns in kept]


@pytest.mark.parametrize("layout", ["n-tuple", "triplet", "labeled-pair", "labeled-list"])
def test_triplets_with_scores_as_mine_hard_negatives_writes_them(ret_runs, tmp_path, layout):
    """output_scores: the embedding model's query-document similarity, in their layout with output_scores=True."""
    from datasets import load_dataset

    from curate.retrieval.pairs import TextVectors, texts_by_id

    ws, _, _ = ret_runs
    export(ws, "ret", tmp_path / "s", fmt="triplets", options={"output_format": layout, "output_scores": True})
    got = load_dataset("json", data_files=str(tmp_path / "s" / "train.jsonl"), split="train")
    want_cols = {"n-tuple": None, "triplet": ["anchor", "positive", "negative", "scores"],
                 "labeled-pair": ["anchor", "positive", "score"], "labeled-list": ["anchor", "positive", "scores"]}
    if want_cols[layout]:
        assert got.column_names == want_cols[layout]
    else:
        assert got.column_names[:3] == ["query_id", "anchor", "positive"] and got.column_names[-1] == "scores"
    q, p = TextVectors(ws, "ret", "query"), TextVectors(ws, "ret", "passage")
    qid = {t: i for i, t in texts_by_id(ws, "ret", "query").items()}
    pid = {t: i for i, t in texts_by_id(ws, "ret", "passage").items()}
    cos = lambda a, d: float(q.of([qid[a]])[0] @ p.of([pid[d]])[0])  # noqa: E731
    row = got[0]
    if layout == "n-tuple":
        docs = [row["positive"]] + [row[c] for c in got.column_names if c.startswith("negative_")]
    elif layout == "triplet":
        docs = [row["positive"], row["negative"]]
    elif layout == "labeled-pair":
        docs, row = [row["positive"]], {**row, "scores": [row["score"]]}
    else:
        docs = row["positive"]
    assert len(row["scores"]) == len(docs) and len(docs) >= 1
    assert row["scores"] == pytest.approx([cos(row["anchor"], d) for d in docs], abs=1e-5)
    assert manifest_scores(tmp_path / "s").startswith("cosine similarity")


def manifest_scores(out) -> str:
    return json.loads((out / "manifest.json").read_text())["scores"]


def test_triplet_scores_from_a_cross_encoder_or_teacher(ret_runs, tmp_path):
    """output_scores with cross_encoder=FOLDER: the cross-encoder's scores, as their miner writes them with one."""
    import torch
    from datasets import load_dataset
    from sentence_transformers import CrossEncoder

    from curate.encode import resolve_model
    from curate.errors import CurateError

    ws, _, _ = ret_runs
    torch.manual_seed(0)
    CrossEncoder(resolve_model(None).source, num_labels=1, device="cpu").save(str(tmp_path / "ce"))
    ce = CrossEncoder(str(tmp_path / "ce"), device="cpu")
    export(ws, "ret", tmp_path / "s", fmt="triplets",
           options={"output_format": "labeled-list", "output_scores": True, "cross_encoder": str(tmp_path / "ce")})
    row = load_dataset("json", data_files=str(tmp_path / "s" / "train.jsonl"), split="train")[0]
    want = ce.predict([(row["anchor"], d) for d in row["positive"]])
    assert row["scores"] == pytest.approx([float(x) for x in want], abs=1e-4)
    assert manifest_scores(tmp_path / "s") == f"cross-encoder {tmp_path / 'ce'}"
    with pytest.raises(CurateError, match="set output_scores=true too"):
        export(ws, "ret", tmp_path / "t", fmt="triplets", options={"teacher": "x"})
