"""One example in focus: findings of every detector with evidence, referenced neighbours, retrieval context."""

from __future__ import annotations

import pytest

from curate.errors import CurateError
from curate.review import QueueFilter, build_queue, decide, load_example


def test_relation_example_carries_findings_neighbours_and_history(rws):
    eid = build_queue(rws, QueueFilter(dataset="rel", detectors=["knn-vote"])).ids[0]
    v = load_example(rws, "rel", eid)
    assert v.task == "relation" and v.status == "unreviewed" and v.last_seq is None
    assert {"subj_start", "obj_end", "token"} <= set(v.meta)
    dets = [f["detector"] for f in v.findings]
    assert {"knn-vote", "confident-learning"} <= set(dets) <= {"tacred-is", "knn-vote", "confident-learning"}
    assert len(dets) == len(set(dets))
    assert v.findings[0]["flagged"]  # flagged judgements first
    knn = next(f for f in v.findings if f["detector"] == "knn-vote")
    neighbours = knn["evidence"]["neighbours"]
    assert neighbours and all(n["id"] in v.referenced for n in neighbours)
    first = v.referenced[neighbours[0]["id"]]
    assert first["text"] == rws.one("SELECT text FROM examples WHERE dataset='rel' AND id=?", [neighbours[0]["id"]])[0]
    decide(rws, "rel", neighbours[0]["id"], "relabel", new_label="per:title", reviewer="ann")
    decide(rws, "rel", eid, "remove", reviewer="ann", note="garbled")
    v = load_example(rws, "rel", eid)
    assert v.status == "removed" and v.history[-1]["note"] == "garbled" and v.last_seq == v.history[-1]["seq"]
    assert v.referenced[neighbours[0]["id"]]["label"] == "per:title"  # neighbours show current labels


def test_retrieval_pair_has_query_passage_and_known_positive(rws):
    eid = build_queue(rws, QueueFilter(dataset="ret")).ids[0]
    v = load_example(rws, "ret", eid)
    r = v.retrieval
    assert v.task == "retrieval" and r["query"] and r["passage"]
    assert r["positives"] and all(p["text"] for p in r["positives"])
    assert r["passage_id"] not in {p["id"] for p in r["positives"]}


def test_unknown_example(rws):
    with pytest.raises(CurateError, match="no example 'nope'"):
        load_example(rws, "rel", "nope")


def test_suggested_label_prefers_a_flagging_detector(rws):
    q = build_queue(rws, QueueFilter(dataset="rel", detectors=["knn-vote"]))
    v = load_example(rws, "rel", q.ids[0])
    flagged = [f["suggested"] for f in v.findings if f["flagged"] and f["suggested"]]
    assert flagged and v.suggested == flagged[0]
    v.findings = [dict(f, flagged=False) for f in v.findings]
    assert v.suggested == next(f["suggested"] for f in v.findings if f["suggested"])
    v.findings = []
    assert v.suggested is None
