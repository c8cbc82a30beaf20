"""detect / findings / runs / eval through the CLI, on a small real relation workspace."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from curate.cli import app
from tests.detect.conftest import relation_db, small_rel  # noqa: F401  (fixtures)

runner = CliRunner()


def test_detect_findings_eval(relation_db, tmp_path):  # noqa: F811
    db, gold = relation_db
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    base = ["--db", str(copy)]
    res = runner.invoke(app, [*base, "detect", "rel", "-d", "tacred-is", "-p", "k=5", "--json"])
    assert res.exit_code == 0, res.output
    run = json.loads(res.output)[0]
    assert run["params"]["k"] == 5 and run["counts"]["scored"] > 0
    again = runner.invoke(app, [*base, "detect", "rel", "-d", "tacred-is", "-p", "k=5"])
    assert "reused identical run" in again.output
    res = runner.invoke(app, [*base, "findings", "rel", "--top", "3", "--json"])
    found = json.loads(res.output)
    assert found["run"] == run["run_id"] and len(found["findings"]) == 3
    assert found["findings"][0]["score"] >= found["findings"][1]["score"]
    assert "neighbours" in found["findings"][0]["evidence"]
    human = runner.invoke(app, [*base, "findings", "rel", "--top", "3"])
    assert run["run_id"] in human.output and "no_relation" in human.output
    res = runner.invoke(app, [*base, "eval", "rel", "--gold", str(gold), "--json"])
    report = json.loads(res.output)
    assert report["detection"][0]["detector"] == "tacred-is" and report["detection"][0]["auprc"] > 0.2
    human = runner.invoke(app, [*base, "eval", "rel", "--gold", str(gold)])
    assert "AUPRC" in human.output and "tacred-is" in human.output
    runs = json.loads(runner.invoke(app, [*base, "runs", "rel", "--json"]).output)
    assert [r["run_id"] for r in runs] == [run["run_id"]]


def test_detect_errors(relation_db, tmp_path):  # noqa: F811
    db, _ = relation_db
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    base = ["--db", str(copy)]
    for args, message in [
        (["detect", "rel", "-d", "nope"], "unknown detector 'nope'"),
        (["detect", "rel", "-d", "knn-vote", "-p", "kk=3"], "kk: unknown parameter"),
        (["detect", "rel", "-d", "knn-vote", "-p", "k=zero"], "k: Input should be a valid integer"),
        (["detect", "rel", "-p", "k=3"], "--param applies to one detector"),
        (["findings", "rel"], "no run of any detector on 'rel'"),
        (["eval", "rel"], "give --gold FILE, --downstream, or both"),
    ]:
        res = runner.invoke(app, [*base, *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
    assert runner.invoke(app, [*base, "runs", "rel", "--json"]).output.strip() == "[]"


def test_detect_needs_embeddings(tmp_path):
    base = ["--db", str(tmp_path / "w.duckdb")]
    assert runner.invoke(app, [*base, "ingest", "sample_data/classification/train.jsonl", "-f", "jsonl",
                               "-n", "c"]).exit_code == 0
    res = runner.invoke(app, [*base, "detect", "c", "-d", "knn-vote"])
    assert res.exit_code == 2 and "run: curate embed c" in res.output


def test_detectors_listing():
    res = runner.invoke(app, ["detectors", "--json"])
    info = json.loads(res.output)
    assert info["tacred-is"]["params"]["k"]["default"] == 10
    assert "clean" in info["tacred-es"]["params"]


def test_findings_json_with_findings_that_have_no_evidence(relation_db, tmp_path):  # noqa: F811
    db, _ = relation_db
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    base = ["--db", str(copy)]
    assert runner.invoke(app, [*base, "detect", "rel", "-d", "near-duplicates"]).exit_code == 0
    res = runner.invoke(app, [*base, "findings", "rel", "-d", "near-duplicates", "--top", "50", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["findings"]  # strict JSON: no NaN for the NULL cells
    assert any(r["evidence"] is None for r in rows) and all(r["suggested_label"] is None or
                                                           isinstance(r["suggested_label"], str) for r in rows)


def test_detect_with_no_detector_named_plans_the_default_set(relation_db, small_rel, ret_ws):  # noqa: F811
    from curate.detect import Context, default_detectors

    db, _ = relation_db  # 4,100 examples: over finetune_max on a CPU, so classifier=auto stays linear
    big = json.loads(runner.invoke(app, ["--db", str(db), "detect", "rel", "--dry-run", "--json"]).output)
    assert list(big) == [f"{d} (classifier=auto)" for d in ("tacred-is", "tacred-es", "knn-vote",
                                                           "confident-learning")] + ["near-duplicates"]
    assert all(big[k]["classifier"].startswith("linear (4,100 examples") for k in big if "classifier=auto" in k)
    # Small enough to fine-tune: confident-learning also runs on the linear model, before the fine-tuned run.
    auto = {"classifier": "auto"}
    assert default_detectors(Context(small_rel, "rel")) == [
        ("tacred-is", auto), ("tacred-es", auto), ("knn-vote", auto), ("confident-learning", {"classifier": "linear"}),
        ("confident-learning", auto), ("near-duplicates", {})]
    small_rel.con.execute("DELETE FROM examples WHERE dataset = 'rel' AND split = 'dev'")
    assert "tacred-es" not in {d for d, _ in default_detectors(Context(small_rel, "rel"))}
    assert default_detectors(Context(ret_ws, "ret")) == [("false-negatives", {}), ("relevance-model", {})]


def test_the_default_retrieval_set_runs_and_points_to_its_ensemble(retrieval_db, tmp_path):
    copy = tmp_path / "r.duckdb"
    shutil.copy(retrieval_db[0], copy)
    base = ["--db", str(copy)]
    res = runner.invoke(app, [*base, "detect", "ret"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert [line.split("-2")[0] for line in lines if " scored (" in line] == ["false-negatives", "relevance-model"]
    assert lines[-1] == "one ranking of them all: curate detect ret -d ensemble"
    one = runner.invoke(app, [*base, "detect", "ret", "-d", "false-negatives"])
    assert "ensemble" not in one.output  # a detector the user named: no hint
    ens = runner.invoke(app, [*base, "detect", "ret", "-d", "ensemble", "--json"])
    assert ens.exit_code == 0 and json.loads(ens.output)[0]["counts"]["scored"] == 900
