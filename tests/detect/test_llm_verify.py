"""LLM verification through the real openai client against the fake server on 127.0.0.1: the prompt carries
the marked example as data, answers reorder the run's top findings, junk replies are refused and counted,
answers are cached, a missing endpoint stops with a clear message, and a dry run sends nothing."""

from __future__ import annotations

import json

import pytest

from curate.detect import run_detector
from curate.detect.runs import estimate_run
from curate.errors import CurateError, InputError
from curate.llm.fake_server import FakeLLM
from curate.llm.prompts import VERIFY_SYSTEM

TOP = 12


@pytest.fixture
def fake():
    with FakeLLM() as server:
        yield server


def _params(server, run_id, **extra):
    return {"run": run_id, "top": TOP, "base_url": server.url, "model": "fake-judge", "concurrency": 4,
            "timeout": 5, "max_retries": 1, **extra}


def test_verifies_the_top_findings_and_reorders_them(rel_ws, fake, tmp_path):
    base = run_detector(rel_ws, "rel", "knn-vote")
    labels = tmp_path / "labels.yaml"
    labels.write_text("per:title: the subject holds the object as a job title\n"
                      "no_relation: the text states no relation between the two\n")
    res = run_detector(rel_ws, "rel", "llm-verify", _params(fake, base.run_id, labels=str(labels)))
    assert len(fake.requests) == TOP and res.counts["verified"] == TOP
    first = fake.requests[0]["messages"]
    assert first[0]["content"] == VERIFY_SYSTEM
    user = json.loads(first[1]["content"])  # the example travels as data, with its entities marked
    assert "[SUBJ]" in user["text"] and "[OBJ]" in user["text"] and 1 <= len(user["options"]) <= 2
    described = {o["label"]: o["description"] for r in fake.requests
                 for o in json.loads(r["messages"][1]["content"])["options"]}
    assert described.get("no_relation", "the text states no relation between the two") == \
        "the text states no relation between the two"
    rows = rel_ws.con.execute("SELECT score, flagged, suggested_label, evidence FROM findings WHERE run_id = ?",
                              [res.run_id]).fetchall()
    verified = [json.loads(r[3]) for r in rows if r[3]]
    assert len(verified) == TOP and {v["judge"] for v in verified} <= {"given", "suggested", "none"}
    for score, flagged, sugg, ev in rows:
        ev = json.loads(ev) if ev else None
        if ev and ev["judge"] == "suggested":
            assert flagged and sugg and score >= 0.5  # above every example the judge did not see
        if ev is None:
            assert score <= 0.5 * 1 + 0.125 and not flagged and sugg is None
    again = run_detector(rel_ws, "rel", "llm-verify", _params(fake, base.run_id, labels=str(labels)), force=True)
    assert len(fake.requests) == TOP and again.counts.get("cached") == TOP  # answers come from the cache


def test_junk_and_injected_replies_are_refused_not_believed(rel_ws, fake):
    base = run_detector(rel_ws, "rel", "confident-learning")
    fake.faults.extend(["junk", "junk", "junk"])
    res = run_detector(rel_ws, "rel", "llm-verify", _params(fake, base.run_id))
    assert res.counts["invalid"] >= 2 and res.counts["verified"] <= TOP - 2


def test_no_endpoint_says_so_and_a_dry_run_sends_nothing(rel_ws, fake, monkeypatch, tmp_path):
    base = run_detector(rel_ws, "rel", "knn-vote")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(CurateError, match="no LLM endpoint"):
        run_detector(rel_ws, "rel", "llm-verify", {"run": base.run_id, "top": 3})
    est = estimate_run(rel_ws, "rel", "llm-verify", _params(fake, base.run_id))
    assert est["requests"] == TOP and est["to_send"] == TOP and est["estimated_tokens"] > 0
    assert fake.requests == []
    bad = tmp_path / "labels.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="mapping of label to description"):
        run_detector(rel_ws, "rel", "llm-verify", _params(fake, base.run_id, labels=str(bad)))
