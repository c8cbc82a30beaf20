"""token-issues: cleanlab's token_classification on out-of-fold tag probabilities, findings per sentence, on
real WNUT 2017 tweets with token-level noise planted (sample_data/wnut17_tokens)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from curate.detect import run_detector
from curate.detect.runs import latest_runs
from curate.detect.token_issues import compare_spans, explain
from curate.errors import CurateError
from curate.ingest import ingest
from curate.sentences import TAG
from curate.spans import bio_spans
from curate.store import Workspace
from tests.conftest import SAMPLE

N_SENTENCES = 400


@pytest.fixture(scope="module")
def token_db(tmp_path_factory):
    """The first 400 sentences of the planted WNUT set, with one token-issues run; (db, run id, gold)."""
    root = tmp_path_factory.mktemp("tokens")
    blocks = (SAMPLE / "wnut17_tokens" / "train.conll").read_text().split("\n\n")[:N_SENTENCES]
    (root / "train.conll").write_text("\n\n".join(blocks) + "\n\n")
    gold = [g for g in map(json.loads, (SAMPLE / "wnut17_tokens" / "gold.jsonl").read_text().splitlines())
            if int(g["id"].split("-")[1]) <= N_SENTENCES]
    db = root / "t.duckdb"
    with Workspace(db) as ws:
        ingest(ws, root / "train.conll", "conll", "ner")
        run = run_detector(ws, "ner", "token-issues")
    return db, run, gold


@pytest.fixture
def tok_ws(token_db, tmp_path):
    copy = tmp_path / "t.duckdb"
    shutil.copy(token_db[0], copy)
    w = Workspace(copy)
    yield w
    w.close()


def test_compare_spans_names_each_kind_of_error():
    given = ["B-person", "O", "B-location", "I-location", "O", "B-group", "O"]
    suggested = ["B-corporation", "O", "B-location", "I-location", "I-location", "O", "B-product"]
    kinds = sorted(e["kind"] for e in compare_spans(given, suggested))
    assert kinds == ["boundary", "missed", "spurious", "type"]
    tokens = "Bill at New York City hi iphone".split()
    boundary = next(e for e in compare_spans(given, suggested) if e["kind"] == "boundary")
    assert explain(tokens, boundary) == "'New York' tagged location: the model reads 'New York City' as location"
    missed = next(e for e in compare_spans(given, suggested) if e["kind"] == "missed")
    assert explain(tokens, missed) == "'iphone' untagged (lower case): the model reads it as product"
    assert compare_spans(given, given) == []


def test_findings_are_per_sentence_with_valid_suggested_tags(tok_ws, token_db):
    _, run, _ = token_db
    rows = tok_ws.con.execute("SELECT example_id, score, suggested_label, reason, evidence, flagged FROM findings "
                              "WHERE run_id = ?", [run.run_id]).fetchall()
    sentences = {r[0]: json.loads(r[1]) for r in tok_ws.con.execute(
        "SELECT id, meta FROM texts WHERE dataset = 'ner' AND kind = 'sentence'").fetchall()}
    assert {r[0] for r in rows} == set(sentences) and len(rows) == N_SENTENCES
    assert run.counts["tokens"] == sum(len(m["token"]) for m in sentences.values())
    flagged = [r for r in rows if r[5]]
    assert 0 < len(flagged) <= max(50, int(np.ceil(0.15 * N_SENTENCES)))
    for eid, score, suggested, reason, ev, _ in flagged:
        ev = json.loads(ev)
        tokens = sentences[eid]["token"]
        assert ev["tokens"] == tokens and len(ev["given"]) == len(ev["suggested"]) == len(tokens)
        assert ev["issues"] and all(0 <= j < len(tokens) for j in ev["issues"])
        if suggested is not None:
            tags = suggested.split()
            assert tags == ev["suggested"] and all(TAG.match(t) for t in tags)
            assert all(not t.startswith("I-") or (i and tags[i - 1][2:] == t[2:]) for i, t in enumerate(tags))
            assert ev["errors"] and reason.startswith("'")
    # Sentence findings are never ensemble members nor scored by curate eval by default, but the queue has them.
    assert "token-issues" not in {r.detector for r in latest_runs(tok_ws, "ner", "ensemble")}
    assert "token-issues" in {r.detector for r in latest_runs(tok_ws, "ner", "queue")}


def test_planted_errors_rank_above_clean_sentences(tok_ws, token_db):
    from sklearn.metrics import average_precision_score

    _, run, gold = token_db
    scores = dict(tok_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?",
                                     [run.run_id]).fetchall())
    noisy = {g["id"] for g in gold}
    ids = sorted(scores)
    y = np.array([i in noisy for i in ids])
    s = np.array([scores[i] for i in ids])
    # 400 sentences only (the benchmark measures all 3,394): still well above the share of noisy sentences.
    assert average_precision_score(y, s) > 2 * y.mean()
    boundary = {g["id"] for g in gold if g["kind"] == "boundary"}
    found = [json.loads(e) for i, e in tok_ws.con.execute(
        "SELECT example_id, evidence FROM findings WHERE run_id = ? AND flagged", [run.run_id]).fetchall()
        if i in boundary]
    assert any(err["kind"] == "boundary" for ev in found for err in ev["errors"])


def test_a_retag_changes_the_fingerprint_and_what_the_model_reads(tok_ws, token_db):
    from curate.review import decide

    _, run, _ = token_db
    again = run_detector(tok_ws, "ner", "token-issues")
    assert again.reused and again.run_id == run.run_id
    sid, tags = tok_ws.one("SELECT example_id, suggested_label FROM findings WHERE run_id = ? AND flagged AND "
                           "suggested_label IS NOT NULL ORDER BY score DESC LIMIT 1", [run.run_id])
    decide(tok_ws, "ner", sid, "relabel", new_label=tags, reviewer="r")
    assert not run_detector(tok_ws, "ner", "token-issues").reused


def test_refuses_data_without_sentences(ws, tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"text": f"text {i}", "label": "ab"[i % 2]}) + "\n" for i in range(20)))
    ingest(ws, p, "jsonl", "cls")
    with pytest.raises(CurateError, match="works on span datasets"):
        run_detector(ws, "cls", "token-issues")


def test_bio_round_trip_of_suggestions_keeps_entities(tok_ws, token_db):
    _, run, _ = token_db
    for (sugg,) in tok_ws.con.execute("SELECT suggested_label FROM findings WHERE run_id = ? AND suggested_label "
                                      "IS NOT NULL", [run.run_id]).fetchall():
        tags = sugg.split()
        rebuilt = ["O"] * len(tags)
        for s, e, t in bio_spans(tags):
            rebuilt[s : e + 1] = [f"B-{t}"] + [f"I-{t}"] * (e - s)
        assert rebuilt == tags


@pytest.mark.slow
def test_finetuned_tagger_folds_are_stored_and_resumed(span_ws):
    first = run_detector(span_ws, "ner", "token-issues", {"classifier": "finetune", "folds": 3})
    assert first.variant == "finetune" and first.counts["sentences"] == 150
    scores = dict(span_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?",
                                      [first.run_id]).fetchall())
    folds = span_ws.con.execute("SELECT fold, count(*) FROM tuned_folds GROUP BY fold ORDER BY fold").fetchall()
    assert [f for f, _ in folds] == [0, 1, 2] and sum(n for _, n in folds) == 150
    # A run that stopped after two folds: the third trains again, the first two are read back; same result.
    span_ws.con.execute("DELETE FROM tuned_folds WHERE fold = 2")
    again = run_detector(span_ws, "ner", "token-issues", {"classifier": "finetune", "folds": 3}, force=True)
    rescored = dict(span_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?",
                                        [again.run_id]).fetchall())
    assert rescored.keys() == scores.keys()
    np.testing.assert_allclose([rescored[k] for k in scores], list(scores.values()), atol=1e-4)


def test_a_fold_that_learns_from_one_tag_predicts_it():
    from curate.detect.token_issues import oof_tag_proba, sentence_folds

    x = np.arange(8, dtype=float).reshape(4, 2)
    y = np.array([0, 0, 1, 0])  # sentence 0: two O words; sentence 1: B-x then O
    groups = np.array([0, 0, 1, 1])
    proba = oof_tag_proba(x, y, groups, 2, sentence_folds(2, 2, 0), 1.0)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba[groups == 1, 0] == 1.0).all()  # sentence 1 held out: its fold saw O alone
