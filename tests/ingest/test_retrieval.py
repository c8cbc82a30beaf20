"""Retrieval data: sentence-transformers triplets and the BEIR layout with a TREC run, as labelled pairs."""

from __future__ import annotations

import json

import pytest

from curate.errors import InputError
from curate.ingest import ingest
from tests.conftest import SAMPLE, snapshot

GOLD = [json.loads(line) for line in open(SAMPLE / "retrieval" / "gold.jsonl")]


def labels(ws, name):
    return dict(ws.con.execute("SELECT id, label FROM examples WHERE dataset = ?", [name]).fetchall())


def test_triplets_become_pairs_and_gold_ids_resolve(ws):
    ingest(ws, SAMPLE / "retrieval" / "triplets.jsonl", "triplets", "tri")
    s = ws.stats("tri")
    assert s["labels"]["train"] == {"negative": 3000, "positive": 600}
    assert s["texts"]["query"] == 600
    pairs = labels(ws, "tri")
    assert all(pairs[g["triplets_id"]] == "negative" for g in GOLD)
    meta = json.loads(ws.con.execute(
        "SELECT meta FROM examples WHERE dataset='tri' AND label='positive' LIMIT 1").fetchall()[0][0])
    assert meta["query"].endswith("?") and meta["query_id"].startswith("q")


def test_beir_with_run_file(ws):
    beir = SAMPLE / "retrieval" / "beir"
    ingest(ws, beir, "beir", "b", options={"run_file": str(beir / "run.trec")})
    pairs = labels(ws, "b")
    assert sum(v == "positive" for v in pairs.values()) == 600
    assert all(pairs[g["id"]] == "negative" for g in GOLD)
    s = ws.stats("b")
    assert s["texts"]["query"] == 600 and s["texts"]["passage"] > 3000
    ws2_rows = ws.con.execute("SELECT meta FROM examples WHERE dataset='b' AND label='negative' LIMIT 1").fetchall()
    assert json.loads(ws2_rows[0][0])["source"] == "run"


def test_positive_wins_over_the_same_pair_mined_as_negative(ws, tmp_path):
    p = tmp_path / "t.jsonl"
    rows = [{"anchor": "q1?", "positive": "answer A", "negative": "answer B"},
            {"anchor": "q1?", "positive": "answer B", "negative_1": "answer C", "negative_2": "answer A"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = ingest(ws, p, "triplets", "t")
    got = {json.loads(m)["passage_id"]: lab for m, lab in
           ws.con.execute("SELECT meta, label FROM examples WHERE dataset='t'").fetchall()}
    assert sorted(got.values()) == ["negative", "positive", "positive"]
    assert result.counts["repeated_pairs"] == 2


def write_beir(tmp_path, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\n", run=None):
    d = tmp_path / "beir"
    (d / "qrels").mkdir(parents=True)
    (d / "corpus.jsonl").write_text('{"_id": "d1", "title": "T", "text": "one"}\n{"_id": "d2", "text": "two"}\n')
    (d / "queries.jsonl").write_text('{"_id": "q1", "text": "which?"}\n')
    (d / "qrels" / "test.tsv").write_text(qrels)
    if run is not None:
        (d / "run.trec").write_text(run)
    return d


BAD = [
    ("unknown query", {"qrels": "query-id\tcorpus-id\tscore\nq9\td1\t1\n"}, "line 2, field 'query-id'", "unknown query id 'q9'"),
    ("unknown doc", {"qrels": "query-id\tcorpus-id\tscore\nq1\td9\t1\n"}, "line 2, field 'corpus-id'", "unknown corpus id 'd9'"),
    ("bad score", {"qrels": "q1\td1\thigh\n"}, "line 1, field 'score'", "must be a number"),
    ("short qrels row", {"qrels": "q1\td1\n"}, "line 1", "expected query-id<TAB>corpus-id<TAB>score"),
    ("bad run line", {"run": "q1 Q0 d2 1\n"}, "run.trec, line 1", "expected 'qid Q0 docid rank score tag'"),
    ("run unknown doc", {"run": "q1 Q0 d7 1 0.5 bm25\n"}, "line 1, field 'docid'", "unknown corpus id 'd7'"),
]


@pytest.mark.parametrize("case,kw,where,message", BAD, ids=[b[0] for b in BAD])
def test_beir_bad_input(ws, tmp_path, case, kw, where, message):
    d = write_beir(tmp_path, **kw)
    before = snapshot(ws)
    opts = {"run_file": str(d / "run.trec")} if "run" in kw else {}
    with pytest.raises(InputError) as exc:
        ingest(ws, d, "beir", "b", options=opts)
    assert where in str(exc.value) and message in str(exc.value)
    assert snapshot(ws) == before


def test_beir_good_small(ws, tmp_path):
    d = write_beir(tmp_path, run="q1 Q0 d1 1 0.9 bm25\nq1 Q0 d2 2 0.5 bm25\n")
    ingest(ws, d, "beir", "b", options={"run_file": str(d / "run.trec")})
    assert labels(ws, "b") == {"q1::d1": "positive", "q1::d2": "negative"}
    assert ws.stats("b")["splits"] == {"test": 2}


def test_triplets_bad_rows(ws, tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"anchor": "q?", "positive": "p", "negative": ""}\n')
    with pytest.raises(InputError, match="line 1, field 'negative': negative passage must be a non-empty string"):
        ingest(ws, p, "triplets", "t")
    p.write_text('{"anchor": "q?"}\n')
    with pytest.raises(InputError, match="line 1, field 'positive'"):
        ingest(ws, p, "triplets", "t")


def test_triplets_with_a_corpus_of_passages_in_no_pair_feed_the_miner(ws, tmp_path):
    """-o corpus=FILE: further passages become mining candidates (as mine_hard_negatives' corpus=); a corpus
    passage equal to a pair's passage is the same passage; bad lines name the line and field."""
    import json

    from curate.embed import embed_dataset
    from curate.retrieval.mine import MineOptions, mine

    rows = [{"anchor": "What does Northwind make?", "positive": "Northwind makes microchips for cars.",
             "negative": "Harbor Publishing prints atlases."},
            {"anchor": "Where is Evergreen based?", "positive": "Evergreen is based in Oslo.",
             "negative": "Granite Insurance sells policies."}]
    tri = tmp_path / "t.jsonl"
    tri.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = tmp_path / "corpus.jsonl"
    extra = ["Northwind makes microchips for trucks and cars.", "The Oslo office of Evergreen opened in 2001."]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in extra)
                      + json.dumps({"text": rows[0]["positive"]}) + "\n")  # already a pair's passage
    res = ingest(ws, tri, "triplets", "c", options={"corpus": str(corpus)})
    assert res.counts["corpus_passages"] == 2
    passages = {r[0] for r in ws.con.execute("SELECT text FROM texts WHERE dataset = 'c' AND kind = 'passage'").fetchall()}
    assert set(extra) <= passages and len(passages) == 6
    assert ws.one("SELECT count(*) FROM examples WHERE dataset = 'c'")[0] == 4  # no pair for a corpus passage
    embed_dataset(ws, "c")
    got = mine(ws, "c", MineOptions(num_negatives=1))
    assert {p for _, p, _ in got.pairs} & {r[0] for r in ws.con.execute(
        "SELECT id FROM texts WHERE dataset = 'c' AND kind = 'passage' AND list_contains(?, text)", [extra]).fetchall()}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"title": "no body"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl.*line 2.*text"):
        ingest(ws, tri, "triplets", "c2", options={"corpus": str(bad)})
    assert ws.one("SELECT count(*) FROM datasets WHERE name = 'c2'")[0] == 0  # the store as it was
