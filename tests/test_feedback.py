"""Re-ranking from decisions (curate.feedback): it learns what reviewers confirm, moves only the next window of
unreviewed examples, and keeps the detectors' order until the decisions predict errors better than it."""

from __future__ import annotations

import numpy as np

from curate.feedback import LEARN_EVERY, WINDOW, relearn


def _data(seed: int = 0, n: int = 2000):
    rng = np.random.default_rng(seed)
    ranks = rng.random((2, n))
    base = ranks.mean(axis=0)
    labels = np.where(rng.random(n) < 0.3, "A", "B").astype(object)
    return ranks, base, labels


def test_a_pattern_in_the_decisions_reorders_only_the_next_window():
    ranks, base, labels = _data()
    decided = np.argsort(-base, kind="stable")[:100]
    confirmed = labels[decided] == "A"  # reviewers confirm every 'A' and keep every 'B'
    got = relearn(ranks, base, labels, decided, confirmed)
    assert got.used and got.decisions == 100 and "re-ranked from your 100 decisions" in got.note
    assert got.corrections["label=A"] > 0 > got.corrections.get("label=B", -1)
    open_ = np.setdiff1d(np.arange(len(base)), decided)
    before = open_[np.argsort(-base[open_], kind="stable")]
    after = open_[np.argsort(-got.score[open_], kind="stable")]
    window = set(before[:WINDOW].tolist())
    assert set(after[:WINDOW].tolist()) == window  # the same examples, in another order
    np.testing.assert_array_equal(after[WINDOW:], before[WINDOW:])  # the rest of the queue has not moved
    share = lambda order: float(np.mean(labels[order[:25]] == "A"))  # noqa: E731
    assert share(after) == 1.0 > share(before)  # the next batch is the label reviewers keep confirming
    assert np.sort(got.score).tolist() == np.sort(base).tolist()  # scores handed out again, none invented
    assert 0 < got.next_precision < 1


def test_decisions_that_say_nothing_keep_the_detectors_order():
    ranks, base, labels = _data(1)
    decided = np.argsort(-base, kind="stable")[:150]
    confirmed = np.random.default_rng(7).random(150) < 0.5  # coin flips: no pattern to learn
    got = relearn(ranks, base, labels, decided, confirmed)
    assert not got.used and got.score is None
    assert "do not yet predict errors better" in got.note and got.next_precision is not None


def test_learning_waits_for_two_whole_batches():
    ranks, base, labels = _data(2)
    decided = np.argsort(-base, kind="stable")[:2 * LEARN_EVERY - 1]
    got = relearn(ranks, base, labels, decided, labels[decided] == "A")
    assert not got.used and got.decisions == LEARN_EVERY and "starts at 50 decisions" in got.note
    # A batch not yet complete is not learned from: 74 decisions learn from the first 50.
    decided = np.argsort(-base, kind="stable")[:74]
    assert relearn(ranks, base, labels, decided, labels[decided] == "A").decisions == 50


def test_a_finished_queue_and_decisions_beyond_the_last_whole_batch():
    ranks, base, labels = _data(3, n=200)
    order = np.argsort(-base, kind="stable")
    # Every example decided, with a pattern to learn: nothing is left to re-order, and nothing breaks.
    done = relearn(ranks, base, labels, order, labels[order] == "A")
    assert done.next_precision is None and (done.score is None or np.array_equal(done.score, base))
    # 110 decisions: it learns from the first 100, and the 10 beyond are not handed out again in the window.
    got = relearn(ranks, base, labels, order[:110], labels[order[:110]] == "A")
    assert got.decisions == 100 and got.used
    open_ = order[110:]
    after = open_[np.argsort(-got.score[open_], kind="stable")]
    assert set(after[:WINDOW].tolist()) == set(open_[:WINDOW].tolist())
