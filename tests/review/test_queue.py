"""The review queue: what a filter selects, in which order, and how progress and live precision are counted."""

from __future__ import annotations

import pytest

from curate.errors import CurateError
from curate.review import QueueFilter, build_queue, decide, next_unreviewed, progress, statuses


def test_default_queue_is_flagged_findings_of_latest_runs_most_suspect_first(rws):
    q = build_queue(rws, QueueFilter(dataset="rel"))
    assert set(q.runs.values()) == {"tacred-is", "knn-vote", "confident-learning"}
    items = q.items
    assert len(items) > 0 and items["id"].is_unique
    # examples flagged by more runs come first, then by score
    keys = list(zip(-items["n_flagged"], -items["score"]))
    assert keys == sorted(keys)
    flagged = rws.one("SELECT count(DISTINCT f.example_id) FROM findings f JOIN runs r USING (run_id) "
                      "WHERE r.dataset = 'rel' AND f.flagged")[0]
    assert len(items) == flagged
    assert (items["status"] == "unreviewed").all()


def test_filters_narrow_the_queue(rws):
    every = build_queue(rws, QueueFilter(dataset="rel", flagged_only=False)).items
    assert len(every) == rws.one("SELECT count(DISTINCT example_id) FROM findings f JOIN runs r USING (run_id) "
                                 "WHERE r.dataset = 'rel'")[0]
    one = build_queue(rws, QueueFilter(dataset="rel", detectors=["knn-vote"], min_score=0.9)).items
    assert len(one) and (one["score"] >= 0.9).all() and set(one["detectors"]) == {"knn-vote"}
    neg = build_queue(rws, QueueFilter(dataset="rel", label="no_relation")).items
    assert len(neg) and (neg["label"] == "no_relation").all()
    sugg = neg["suggested"].dropna().iloc[0]
    by_sugg = build_queue(rws, QueueFilter(dataset="rel", suggested=sugg)).items
    assert len(by_sugg) and (by_sugg["suggested"] == sugg).all()
    word = rws.one("SELECT text FROM examples WHERE dataset='rel' AND id = ?", [neg["id"].iloc[0]])[0].split()[2]
    found = build_queue(rws, QueueFilter(dataset="rel", text=word.upper())).items
    assert neg["id"].iloc[0] in set(found["id"])
    assert build_queue(rws, QueueFilter(dataset="rel", split="dev")).items.empty  # detectors scored train only


def test_status_filter_and_live_statuses(rws):
    q = build_queue(rws, QueueFilter(dataset="rel"))
    a, b, c = q.ids[:3]
    decide(rws, "rel", a, "keep", reviewer="ann")
    decide(rws, "rel", b, "relabel", new_label="per:title", reviewer="ann")
    decide(rws, "rel", c, "remove", reviewer="bob")
    st = statuses(rws, "rel", [a, b, c, q.ids[3]])
    assert [st[i]["status"] for i in (a, b, c, q.ids[3])] == ["kept", "relabelled", "removed", "unreviewed"]
    for status, want in (("kept", {a}), ("relabelled", {b}), ("removed", {c}), ("reviewed", {a, b, c})):
        assert set(build_queue(rws, QueueFilter(dataset="rel", status=status)).ids) == want
    assert len(build_queue(rws, QueueFilter(dataset="rel", status="unreviewed"))) == len(q) - 3
    # The cached queue keeps its order; the next unreviewed example skips the decided ones.
    assert next_unreviewed(rws, q, 0) == 3
    assert next_unreviewed(rws, q, 2, step=-1) is None
    assert next_unreviewed(rws, q, len(q) - 1, step=-1) == len(q) - 1


def test_progress_counts_and_detector_precision(rws):
    q = build_queue(rws, QueueFilter(dataset="rel", detectors=["knn-vote"]))
    ids = q.ids[:4]
    for eid in ids[:3]:
        decide(rws, "rel", eid, "remove", reviewer="ann")
    decide(rws, "rel", ids[3], "keep", reviewer="ann")
    p = progress(rws, q, reviewer="ann")
    assert p["reviewed"] == 4 and p["remaining"] == len(q) - 4
    assert p["by_status"]["removed"] == 3 and p["by_status"]["kept"] == 1
    det = p["detectors"][0]
    assert det["detector"] == "knn-vote" and det["reviewed"] == 4 and det["confirmed"] == 3
    assert det["precision"] == 0.75
    assert p["recent_decisions"] == 4 and p["throughput_per_hour"] is not None


def test_bad_filters_are_clear(rws):
    with pytest.raises(CurateError, match="no run of detector 'arhn'"):
        build_queue(rws, QueueFilter(dataset="rel", detectors=["arhn"]))
    with pytest.raises(CurateError, match="no run 'nope'"):
        build_queue(rws, QueueFilter(dataset="rel", runs=["nope"]))
    with pytest.raises(CurateError, match="min_score"):
        build_queue(rws, QueueFilter(dataset="rel", min_score=0.8, max_score=0.2))
    with pytest.raises(CurateError, match="no dataset named"):
        build_queue(rws, QueueFilter(dataset="missing"))


def test_each_model_variant_is_its_own_run_in_the_queue_and_the_example(rws, tmp_path):
    import json

    from curate.detect import run_detector
    from curate.review import load_example

    rows = rws.con.execute("SELECT id, label FROM examples WHERE dataset = 'rel' AND split = 'train' "
                           "ORDER BY ord").fetchall()
    labels = sorted({lab for _, lab in rows})
    # The user's own model, confident about another label than the given one on the first example.
    pred = tmp_path / "pred.jsonl"
    guess = [next(x for x in labels if x != lab) if n == 0 else lab for n, (_, lab) in enumerate(rows)]
    pred.write_text("".join(json.dumps({"id": i, "label": g, "probs": {x: 0.9 if x == g else 0.1 / len(labels)
                                                                     for x in labels}}) + "\n"
                            for (i, _), g in zip(rows, guess)))
    own = run_detector(rws, "rel", "confident-learning", {"predictions": str(pred), "split": "train"})
    linear = rws.one("SELECT run_id FROM runs WHERE kind = 'confident-learning' AND run_id != ?", [own.run_id])[0]
    q = build_queue(rws, QueueFilter(dataset="rel"))
    # The newer run is another model's opinion, not a replacement of the linear one: both are shown.
    assert q.runs[own.run_id] == "confident-learning (predictions)" and q.runs[linear] == "confident-learning"
    named = build_queue(rws, QueueFilter(dataset="rel", detectors=["confident-learning"]))
    assert set(named.runs) == {own.run_id, linear}
    view = load_example(rws, "rel", rows[0][0])
    assert {"confident-learning", "confident-learning (predictions)"} <= {f["detector"] for f in view.findings}


def test_what_the_sidebar_offers_comes_from_the_review_layer(rws):
    from curate.review import datasets_with_findings, filter_choices

    assert datasets_with_findings(rws) == ["rel", "ret", "topics"]
    rws.con.execute("DELETE FROM findings WHERE run_id IN (SELECT run_id FROM runs WHERE dataset = 'topics')")
    assert datasets_with_findings(rws) == ["rel", "ret"]  # runs without findings give no queue
    got = filter_choices(rws, "rel")
    assert got["kinds"] == ["confident-learning", "knn-vote", "tacred-is"]
    assert got["splits"] == ["dev", "train"] and "no_relation" in got["labels"] and None not in got["labels"]


def test_the_ui_runs_no_sql_of_its_own():
    from pathlib import Path

    ui = Path(__file__).resolve().parents[2] / "ui"
    for path in ui.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert ".execute(" not in text and ".con." not in text and "SELECT " not in text, path


def test_the_queue_re_ranks_its_next_findings_from_decisions(rws):
    """Reviewers confirm every example of one label and keep the rest: after whole batches of 25 the next
    unreviewed findings put that label first; nothing beyond the next window moves; --no-learn keeps the order."""
    from curate.decisions import Decision, record
    from curate.feedback import WINDOW

    flt = QueueFilter(dataset="topics", flagged_only=False)
    before = build_queue(rws, flt)
    assert before.learned is not None and not before.learned.used  # no decisions yet
    first = before.items.head(75)
    # The label reviewers confirm: common up there, but not what the next batch already is.
    following = before.items["label"].iloc[75:100].value_counts().index[0]
    counts = first["label"].value_counts()
    target = next(lab for lab in counts.index if lab != following and counts[lab] >= 5)
    record(rws, "topics", [Decision(i, "remove" if lab == target else "keep")
                        for i, lab in zip(first["id"], first["label"])], reviewer="ann", source="ui")
    after = build_queue(rws, flt)
    assert after.learned.used and after.learned.decisions == 75
    assert "queue re-ranked from your 75 decisions" in after.learned.note
    assert set(after.ids) == set(before.ids) and after.ids[:75] == before.ids[:75]  # reviewed ones stay put
    window = set(before.ids[75:75 + WINDOW])
    assert set(after.ids[75:75 + WINDOW]) == window and after.ids[75 + WINDOW:] == before.ids[75 + WINDOW:]
    share = lambda q: (q.items["label"].iloc[75:100] == target).mean()  # noqa: E731
    assert share(after) > share(before)
    kept = build_queue(rws, flt.model_copy(update={"learn": False}))
    assert kept.learned is None and kept.ids == before.ids
