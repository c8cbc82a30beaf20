"""The review step from the command line: queue, decide, bulk (preview, then --yes), undo, history."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from curate.cli import app

runner = CliRunner()


def cli(db, *args: str):
    res = runner.invoke(app, ["--db", str(db), *args])
    return res


def test_queue_decide_history_undo(review_path):
    res = cli(review_path, "queue", "rel", "-d", "knn-vote", "--min-score", "0.5", "--top", "3", "--json")
    assert res.exit_code == 0, res.output
    q = json.loads(res.output)
    assert len(q["items"]) == 3 and q["progress"]["reviewed"] == 0 and list(q["runs"].values()) == ["knn-vote"]
    eid = q["items"][0]["id"]
    res = cli(review_path, "decide", "rel", eid, "relabel", "--label", "per:nickname", "--reviewer", "ann")
    assert res.exit_code == 2 and "confirm it as a new label" in res.output
    res = cli(review_path, "decide", "rel", eid, "relabel", "--label", "per:title", "--reviewer", "ann")
    assert res.exit_code == 0 and "relabel -> per:title" in res.output
    res = cli(review_path, "history", "rel", eid, "--json")
    assert [(h["action"], h["new_label"], h["source"]) for h in json.loads(res.output)] == [("relabel", "per:title", "cli")]
    res = cli(review_path, "undo", "rel", "--reviewer", "ann", "--json")
    assert json.loads(res.output) == {"example_id": eid, "restored": "reset"}
    res = cli(review_path, "undo", "rel", "--reviewer", "ann")
    assert res.exit_code == 2 and "nothing left to undo" in res.output


def test_bulk_previews_without_yes_and_applies_with_it(review_path):
    args = ["bulk", "rel", "relabel", "--to", "@suggested", "-d", "knn-vote", "--min-score", "0.9", "--reviewer", "ann"]
    res = cli(review_path, *args)
    assert res.exit_code == 0 and "nothing applied" in res.output
    res = cli(review_path, *args, "--yes", "--json")
    out = json.loads(res.output)
    assert out["applied"] == out["preview"]["count"] > 0
    res = cli(review_path, "queue", "rel", "-d", "knn-vote", "--min-score", "0.9", "--status", "relabelled", "--json")
    assert json.loads(res.output)["progress"]["total"] == out["applied"]
    res = cli(review_path, "undo", "rel", "--batch", out["batch"], "--json")
    assert json.loads(res.output) == {"reverted": out["applied"], "changed_since": 0}


def test_review_refuses_a_missing_workspace_and_warns_on_open_host(tmp_path):
    res = cli(tmp_path / "none.duckdb", "review")
    assert res.exit_code == 2 and "no workspace" in res.output
    res = runner.invoke(app, ["review", "--help"])
    assert "127.0.0.1" in res.output and "--reviewer" in res.output


def test_queue_says_whether_it_learned_from_the_decisions(review_path):
    from curate.decisions import Decision, record
    from curate.review import QueueFilter, build_queue
    from curate.store import Workspace

    with Workspace(review_path) as ws:
        first = build_queue(ws, QueueFilter(dataset="topics", flagged_only=False)).items.head(75)
        target = first["label"].value_counts().index[0]  # reviewers confirm every example of this label
        record(ws, "topics", [Decision(i, "remove" if lab == target else "keep")
                           for i, lab in zip(first["id"], first["label"])], reviewer="ann", source="ui")
    res = cli(review_path, "queue", "topics", "--all", "--top", "3", "--json")
    assert res.exit_code == 0, res.output
    learning = json.loads(res.output)["learning"]
    assert learning["reranked"] is True and learning["decisions"] == 75 and learning["corrections"]
    res = cli(review_path, "queue", "topics", "--all", "--top", "3")
    assert "queue re-ranked from your 75 decisions; estimated precision of the next 50" in res.output
    off = json.loads(cli(review_path, "queue", "topics", "--all", "--no-learn", "--json").output)
    assert off["learning"] is None
