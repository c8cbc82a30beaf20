"""The ensemble ranks by the average rank of its runs; fitted weights need reviewed decisions."""

from __future__ import annotations

import numpy as np
import pytest

from curate.decisions import Decision, record
from curate.detect import run_detector
from curate.detect.scores import rank_normalise
from curate.errors import CurateError


def test_rank_average_of_runs(rel_ws):
    a = run_detector(rel_ws, "rel", "knn-vote")
    b = run_detector(rel_ws, "rel", "confident-learning")
    ens = run_detector(rel_ws, "rel", "ensemble", {"runs": [a.run_id, b.run_id], "split": "train"})
    score = {}
    for run in (a, b):
        rows = rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ? ORDER BY example_id",
                                  [run.run_id]).fetchall()
        score[run.run_id] = dict(zip([r[0] for r in rows], rank_normalise(np.array([r[1] for r in rows]))))
    got = dict(rel_ws.con.execute("SELECT example_id, score FROM findings WHERE run_id = ?", [ens.run_id]).fetchall())
    some = list(got)[:50]
    np.testing.assert_allclose([got[i] for i in some],
                               [(score[a.run_id][i] + score[b.run_id][i]) / 2 for i in some], atol=1e-9)


def test_needs_two_runs_and_reviews_for_fitting(rel_ws):
    with pytest.raises(CurateError, match="at least two detector runs"):
        run_detector(rel_ws, "rel", "ensemble")
    run_detector(rel_ws, "rel", "knn-vote")
    run_detector(rel_ws, "rel", "confident-learning")
    with pytest.raises(CurateError, match="fitted weights need at least 10 reviewed"):
        run_detector(rel_ws, "rel", "ensemble", {"weights": "fitted"})
    ids = [r[0] for r in rel_ws.con.execute(
        "SELECT example_id FROM findings f JOIN runs r USING (run_id) WHERE r.kind = 'knn-vote' "
        "ORDER BY score DESC LIMIT 30").fetchall()]
    record(rel_ws, "rel", [Decision(i, "remove" if n % 2 else "keep") for n, i in enumerate(ids)],
           reviewer="ann", source="ui")
    ens = run_detector(rel_ws, "rel", "ensemble", {"weights": "fitted", "detectors": ["knn-vote", "confident-learning"]})
    assert ens.counts["scored"] > 0
