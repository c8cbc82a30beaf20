"""The ensemble ranks by the agreement-weighted mean rank of the runs that scored each example; weights=fitted
re-orders it from reviewed decisions once they say something."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.decisions import Decision, record
from curate.detect import latest_runs, run_detector
from curate.detect.ensemble import agreement_weights, combine
from curate.detect.scores import rank_normalise
from curate.errors import CurateError
from curate.feedback import WINDOW


def test_rank_average_of_runs(rel_ws):
    a = run_detector(rel_ws, "rel", "knn-vote")
    b = run_detector(rel_ws, "rel", "confident-learning")
    ens = run_detector(rel_ws, "rel", "ensemble", {"runs": [a.run_id, b.run_id], "split": "train",
                                                   "weights": "rank-average"})
    train = [r[0] for r in rel_ws.con.execute("SELECT id FROM examples WHERE dataset = 'rel' AND split = 'train' "
                                              "ORDER BY ord").fetchall()]
    rank = {}
    for run in (a, b):
        raw = dict(rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?", [run.run_id]).fetchall())
        rank[run.run_id] = dict(zip(train, rank_normalise(np.array([raw[i] for i in train]))))
    got = dict(rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?", [ens.run_id]).fetchall())
    some = train[:50]
    np.testing.assert_allclose([got[i] for i in some],
                               [(rank[a.run_id][i] + rank[b.run_id][i]) / 2 for i in some], atol=1e-9)
    default = run_detector(rel_ws, "rel", "ensemble", {"runs": [a.run_id, b.run_id], "split": "train"})
    ev = json.loads(rel_ws.one("SELECT evidence FROM findings WHERE run_id = ? LIMIT 1", [default.run_id])[0])
    assert set(ev["weights"]) == {a.run_id, b.run_id} and all(0 < w <= 1 for w in ev["weights"].values())


def test_agreement_weights_quiet_a_random_run_and_missing_scores_cast_no_vote():
    rng = np.random.default_rng(0)
    truth = rng.random(400)
    good1 = rank_normalise(truth + 0.03 * rng.random(400))
    good2 = rank_normalise(truth + 0.03 * rng.random(400))
    noise = rank_normalise(rng.random(400))
    ranks = np.array([good1, good2, noise])
    scored = np.ones_like(ranks, dtype=bool)
    w = agreement_weights(ranks, scored)
    # The good runs agree at the top through each other (their top 5% overlaps), the random run with nobody.
    assert w[2] < 0.05 and min(w[0], w[1]) > 0.15
    combined, _ = combine(ranks, scored)
    plain, _ = combine(ranks, scored, agreement=False)
    assert np.corrcoef(combined, truth)[0, 1] > np.corrcoef(plain, truth)[0, 1]
    # An example the first run did not score takes the others' ranks, not a zero from the first.
    scored[0, :10] = False
    combined, w = combine(ranks, scored)
    want = (w[1] * ranks[1, :10] + w[2] * ranks[2, :10]) / (w[1] + w[2])
    np.testing.assert_allclose(combined[:10], want)


def test_needs_two_runs_and_fitted_learns_only_from_decisions_that_say_something(rel_ws):
    with pytest.raises(CurateError, match="at least two detector runs"):
        run_detector(rel_ws, "rel", "ensemble")
    knn = run_detector(rel_ws, "rel", "knn-vote")
    run_detector(rel_ws, "rel", "confident-learning")
    scores = lambda run: dict(rel_ws.con.execute(  # noqa: E731
        "SELECT example_id, score FROM findings WHERE run_id = ?", [run.run_id]).fetchall())
    agreement = run_detector(rel_ws, "rel", "ensemble")
    early = run_detector(rel_ws, "rel", "ensemble", {"weights": "fitted"})
    assert not early.counts["reranked"] and "starts at 50" in early.counts["learning"]
    # A keep changes no data: the agreement ensemble is the same run, reused; the fitted one learns from it.
    record(rel_ws, "rel", [Decision(sorted(scores(agreement))[0], "keep")], reviewer="ann", source="ui")
    assert run_detector(rel_ws, "rel", "ensemble").run_id == agreement.run_id
    assert run_detector(rel_ws, "rel", "ensemble", {"weights": "fitted"}).run_id != early.run_id
    assert scores(early) == scores(agreement)  # no decisions: the agreement ranking as it is
    base = scores(agreement)
    top = sorted(base, key=lambda i: -base[i])[:150]
    by_knn = scores(knn)
    cut = np.median([by_knn.get(i, 0.0) for i in top])
    # Reviewers confirm what knn-vote ranks high and keep the rest: a pattern in one member's ranks.
    record(rel_ws, "rel", [Decision(i, "remove" if by_knn.get(i, 0.0) > cut else "keep") for i in top],
           reviewer="ann", source="ui")
    ens = run_detector(rel_ws, "rel", "ensemble", {"weights": "fitted"})
    assert ens.counts["reranked"] and ens.counts["learned_from"] == 150, ens.counts["learning"]
    learned = scores(ens)
    open_ = [i for i in base if i not in top]
    before = sorted(open_, key=lambda i: -base[i])
    after = sorted(open_, key=lambda i: -learned[i])
    assert after[:WINDOW] != before[:WINDOW]  # the next findings re-ordered ...
    assert set(after[:WINDOW]) <= set(before[:WINDOW + 10])  # ... among themselves, not fetched from far below
    top_knn = lambda order: np.mean([by_knn.get(i, 0.0) for i in order[:25]])  # noqa: E731
    assert top_knn(after) > top_knn(before)  # towards what reviewers confirmed


def test_missing_zero_counts_an_unscored_example_as_the_lowest_score(rel_ws):
    knn = run_detector(rel_ws, "rel", "knn-vote")
    is_ = run_detector(rel_ws, "rel", "tacred-is")  # scores negatives only
    params = {"runs": [knn.run_id, is_.run_id], "weights": "rank-average"}
    skip = dict(rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?",
                                   [run_detector(rel_ws, "rel", "ensemble", params).run_id]).fetchall())
    zero = dict(rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?", [run_detector(
        rel_ws, "rel", "ensemble", {**params, "missing": "zero"}).run_id]).fetchall())
    positive = rel_ws.one("SELECT id FROM examples WHERE dataset = 'rel' AND split = 'train' "
                          "AND label != 'no_relation' LIMIT 1")[0]
    negative = rel_ws.one("SELECT id FROM examples WHERE dataset = 'rel' AND split = 'train' "
                          "AND label = 'no_relation' LIMIT 1")[0]
    assert zero[positive] < skip[positive]  # IS's silence pulls a positive down only with missing=zero
    # missing=zero ranks within each run's own train findings, and a positive gets 0 from IS.
    train = {r[0] for r in rel_ws.con.execute("SELECT id FROM examples WHERE dataset = 'rel' AND split = 'train'"
                                              ).fetchall()}
    within = []
    for run in (knn, is_):
        raw = {i: sc for i, sc in rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?",
                                                     [run.run_id]).fetchall() if i in train}
        within.append(dict(zip(raw, rank_normalise(np.array(list(raw.values()))))))
    assert abs(zero[negative] - (within[0][negative] + within[1][negative]) / 2) < 1e-9
    assert abs(zero[positive] - within[0][positive] / 2) < 1e-9


def test_the_offline_arhn_judge_is_left_out_unless_named(ret_ws, retrieval_db):
    from curate.evaluate import evaluate

    fn = run_detector(ret_ws, "ret", "false-negatives")
    arhn = run_detector(ret_ws, "ret", "arhn", {"judge": "embedding", "split": None})
    # Its judge is the bi-encoder similarity false-negatives already ranks by: no second opinion, so no member.
    with pytest.raises(CurateError, match=r"left out by default: arhn \(embedding\), its offline judge=embedding"):
        run_detector(ret_ws, "ret", "ensemble")
    named = run_detector(ret_ws, "ret", "ensemble", {"detectors": ["false-negatives", "arhn"]})
    ev = json.loads(ret_ws.one("SELECT evidence FROM findings WHERE run_id = ? LIMIT 1", [named.run_id])[0])
    assert set(ev["weights"]) == {fn.run_id, arhn.run_id}
    # curate eval's ensemble row follows the same rule: one member left, so no ensemble row.
    rows = evaluate(ret_ws, "ret", retrieval_db[1], [fn.run_id, arhn.run_id])
    assert [r["run"] for r in rows] == [fn.run_id, arhn.run_id]


def test_each_llm_judge_is_a_member_and_the_offline_judge_hides_none(ret_ws):
    from curate.llm.fake_server import FakeLLM

    fn = run_detector(ret_ws, "ret", "false-negatives")
    small = {"max_negatives": 3, "max_queries": 10, "split": None, "concurrency": 4, "timeout": 5}
    with FakeLLM() as server:
        judged = {m: run_detector(ret_ws, "ret", "arhn", {**small, "base_url": server.url, "model": m}).run_id
                  for m in ("judge-a", "judge-b")}
    offline = run_detector(ret_ws, "ret", "arhn", {"judge": "embedding", "split": None})  # the latest arhn run
    labels = {r.run_id: r.label for r in latest_runs(ret_ws, "ret")}
    assert labels == {fn.run_id: "false-negatives", judged["judge-a"]: "arhn (judge-a)",
                      judged["judge-b"]: "arhn (judge-b)", offline.run_id: "arhn (embedding)"}
    ens = run_detector(ret_ws, "ret", "ensemble")
    ev = json.loads(ret_ws.one("SELECT evidence FROM findings WHERE run_id = ? LIMIT 1", [ens.run_id])[0])
    assert set(ev["weights"]) == {fn.run_id, *judged.values()}
