"""Every shipped recipe runs end to end on the sample data, writes its exports and report, and reuses every step
when run again; a failing gate exits 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.recipe.conftest import RECIPES, curate

NAMES = [r.stem for r in RECIPES]
# Every shipped recipe end to end, twice (about 9 minutes, the cleanlab recipe fine-tunes its 3,000 topics):
# left out of the default run, run by `make test-slow`, which CI runs after `make test`.
shipped_recipes = pytest.mark.slow


def test_the_issue_s_recipes_are_shipped():
    assert {"tacred_is", "tacred_es", "classification_cleanlab", "retrieval_false_negatives",
            "retrieval_arhn"} <= set(NAMES)


@shipped_recipes
@pytest.mark.parametrize("name", NAMES)
def test_recipe_runs_and_writes_report_exports_and_plots(shipped, name):
    run = shipped["runs"][name]
    assert run["first"].returncode == 0, run["first"].stdout + run["first"].stderr
    report = run["report"]
    assert report["status"] == "passed" and report["exit_code"] == 0
    assert report["gates"] and not any(g["failed"] for g in report["gates"])
    out = run["out"]
    md = (out / "report.md").read_text()
    assert "✅ passed" in md and "## Gates" in md and "## Exports" in md
    for plot in report["plots"]:
        png = (out / plot).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        assert f"]({plot})" in md
    assert len(report["plots"]) == 3
    for exp in report["exports"]:
        manifest = json.loads((Path(exp["path"]) / "manifest.json").read_text())
        assert Path(exp["path"]).parent.parent == out  # relative export paths land in the output folder
        assert manifest["variant"] == exp["variant"] and manifest["files"]
        assert manifest["counts"] and sum(c["exported"] for c in manifest["counts"].values()) == exp["exported"]
    # One line per step in CI, no progress bars.
    lines = run["first"].stdout.strip().splitlines()
    assert sum(line.startswith("[") for line in lines) == len(report["steps"]) + len(report["gates"])
    assert "\r" not in run["first"].stdout + run["first"].stderr


@shipped_recipes
@pytest.mark.parametrize("name", NAMES)
def test_second_run_reuses_every_step(shipped, name):
    second = shipped["runs"][name]["second"]
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["steps"] and all(s["status"] == "reused" for s in report["steps"]), \
        [(s["kind"], s["name"], s["status"]) for s in report["steps"] if s["status"] != "reused"]
    assert "steps reused from an earlier run" in (shipped["runs"][name]["out"] / "report.md").read_text()


@shipped_recipes
def test_a_failing_gate_exits_1_and_says_which(shipped, tmp_path):
    text = (RECIPES[0].parent / "tacred_is.yaml").read_text().replace('flagged_share: "> 5%"', 'flagged_share: "> 0.1%"')
    recipe = tmp_path / "strict.yaml"
    recipe.write_text(text.replace("../sample_data", str(RECIPES[0].parent.parent / "sample_data")))
    proc = curate("run", str(recipe), "--out", str(tmp_path / "out"), "--workspace", str(shipped["db"]))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "-> FAILED" in proc.stdout and "failed gates: IS flags at most 5% of train" in proc.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "gate failed" and [g["failed"] for g in report["gates"]] == [True, False, False]
    assert "❌ failed" in (tmp_path / "out" / "report.md").read_text()


@shipped_recipes
def test_force_recomputes(shipped, tmp_path):
    out = tmp_path / "o"
    shutil.copytree(shipped["runs"]["tacred_is"]["out"], out, ignore=shutil.ignore_patterns("*.duckdb"))
    proc = curate("run", str(RECIPES[0].parent / "tacred_is.yaml"), "--out", str(out), "--workspace",
                  str(shipped["db"]), "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(proc.stdout)["steps"]
    assert all(s["status"] == "ran" for s in steps if s["kind"] in ("ingest", "detect", "export"))


@shipped_recipes
def test_arhn_recipe_takes_an_llm_endpoint_from_the_environment(shipped, tmp_path):
    from curate.llm.fake_server import FakeLLM

    recipe = RECIPES[NAMES.index("retrieval_arhn")]
    with FakeLLM() as server:
        env = {"CURATE_ARHN_JUDGE": "llm", "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "test",
               "CURATE_ARHN_MODEL": "fake-judge", "CURATE_ARHN_MAX_QUERIES": "30"}
        proc = curate("run", str(recipe), "--out", str(tmp_path / "llm"), "--workspace", str(shipped["db"]),
                      "--json", env=env)
        sent = len(server.requests)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    run = report["runs"][0]
    assert run["counts"]["flagged"] > 0 and not run["reused"]
    assert sent >= 30  # one ranking call per judged query at least, through the real openai client
