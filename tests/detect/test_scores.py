"""The array maths behind the detectors, on literal arrays."""

from __future__ import annotations

import numpy as np

from curate.detect.scores import agreement, balanced_weights, gather_labels, neighbour_vote, rank_normalise


def test_neighbour_vote_weighted_and_excluding():
    labels = np.array([["a", "b", "b", None], ["a", "a", "c", "c"]], dtype=object)
    sims = np.array([[0.9, 0.5, 0.5, -np.inf], [0.1, 0.1, 0.4, 0.4]])
    winner, share = neighbour_vote(labels, sims)
    assert list(winner) == ["b", "c"]
    np.testing.assert_allclose(share, [1.0 / 1.9, 0.8 / 1.0])
    winner, share = neighbour_vote(labels, sims, exclude=np.array(["b", "c"], dtype=object))
    assert list(winner) == ["a", "a"]
    np.testing.assert_allclose(share, [0.9 / 1.9, 0.2 / 1.0])
    winner, share = neighbour_vote(labels, sims, weighted=False)
    np.testing.assert_allclose(share, [2 / 3, 0.5])


def test_class_weight_counters_the_base_rate():
    labels = np.array([["neg", "neg", "neg", "rel"]], dtype=object)
    sims = np.ones((1, 4))
    assert neighbour_vote(labels, sims)[0][0] == "neg"
    w = balanced_weights(np.array(["neg"] * 9 + ["rel"], dtype=object))
    assert w["rel"] == 9 * w["neg"]
    winner, share = neighbour_vote(labels, sims, class_weight=w)
    assert winner[0] == "rel" and share[0] > 0.5


def test_agreement_and_gather():
    idx = np.array([[1, 2, -1], [0, 0, 2]])
    labels = np.array(["x", "y", "x"], dtype=object)
    nl = gather_labels(labels, idx)
    assert nl.tolist() == [["y", "x", None], ["x", "x", "x"]]
    agree = agreement(nl, np.ones((2, 3)), np.array(["x", "y"], dtype=object))
    np.testing.assert_allclose(agree, [0.5, 0.0])


def test_rank_normalise_ties_and_range():
    r = rank_normalise(np.array([0.1, 0.5, 0.5, 0.9]))
    np.testing.assert_allclose(r, [0.0, 0.5, 0.5, 1.0])
    assert rank_normalise(np.array([3.0])).tolist() == [0.0]


def _vote_by_hand(labels, sims, exclude, class_weight):
    """The vote written as the plain loop it replaces: the oracle for the vectorised version."""
    out = []
    for i in range(labels.shape[0]):
        tally, total = {}, 0.0
        for lab, s in zip(labels[i], sims[i]):
            if lab is None:
                continue
            w = max(s, 0.0) * (class_weight.get(lab, 1.0) if class_weight else 1.0)
            total += w
            if exclude is not None and lab == exclude[i]:
                continue
            tally[lab] = tally.get(lab, 0.0) + w
        if tally and total > 0:
            best = max(tally.items(), key=lambda kv: (round(kv[1], 9), str(kv[0])))
            out.append((best[0], best[1] / total))
        else:
            out.append((None, 0.0))
    return out


def test_vectorised_vote_matches_the_plain_loop_with_ties_gaps_and_exclusions():
    rng = np.random.default_rng(3)
    labels = rng.choice(np.array(["a", "b", "c", "d", None], dtype=object), size=(400, 6))
    # Coarse similarities make exact ties common; some rows have only missing or zero-weight neighbours.
    sims = rng.choice([0.0, 0.25, 0.5, 1.0], size=(400, 6))
    exclude = rng.choice(np.array(["a", "b", "z", None], dtype=object), size=400)
    for cw in (None, {"a": 2.0, "c": 0.5}):
        winner, share = neighbour_vote(labels, sims, exclude=exclude, class_weight=cw)
        expected = _vote_by_hand(labels, sims, exclude, cw)
        assert list(winner) == [w for w, _ in expected]
        np.testing.assert_allclose(share, [s for _, s in expected])


def test_flag_cap_keeps_the_highest_scores_and_says_so():
    import pandas as pd

    from curate.detect.runs import MIN_FLAG_CAP, cap_flags

    n = 1000
    df = pd.DataFrame({"example_id": [f"e{i}" for i in range(n)], "score": np.linspace(0, 1, n),
                       "suggested_label": None, "reason": "", "evidence": None,
                       "flagged": np.arange(n) % 2 == 0})  # 500 flagged, half the data
    capped, info = cap_flags(df, 0.15, None)
    assert capped["flagged"].sum() == 150 and info == {"flagged_before_cap": 500, "flag_cap": 150}
    kept = capped.loc[capped["flagged"], "score"]
    assert kept.min() > df.loc[df["flagged"] & ~capped["flagged"], "score"].max()  # the top of the flagged
    assert (capped["score"] == df["score"]).all()  # scores, hence rankings, untouched
    reported, info = cap_flags(df, 0.15, 0.3)  # the noise estimate is reported, and does not raise the cap
    assert reported["flagged"].sum() == 150 and info["estimated_noise_rate"] == 0.3
    small = df.head(40)
    assert cap_flags(small, 0.15, None)[0]["flagged"].sum() == small["flagged"].sum() <= MIN_FLAG_CAP
    assert cap_flags(df, None, None)[0]["flagged"].sum() == 500


def test_flag_cap_counts_against_the_split_not_only_the_scored():
    import pandas as pd

    from curate.detect.runs import cap_flags

    df = pd.DataFrame({"example_id": [f"e{i}" for i in range(400)], "score": np.linspace(0, 1, 400),
                       "suggested_label": None, "reason": "", "evidence": None, "flagged": np.ones(400, bool)})
    # 400 negatives scored out of a 2,000-example split: 15% of the split is 300.
    assert cap_flags(df, 0.15, None, base=2000)[0]["flagged"].sum() == 300
