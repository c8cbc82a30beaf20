"""Bad recipes: the file, the line and a clear message; exit 2; nothing runs and the workspace is untouched."""

from __future__ import annotations

import json

import pytest

from curate.recipe.runner import Plan, expand_env
from curate.recipe.schema import RecipeError, load_recipe
from tests.conftest import SAMPLE
from tests.recipe.conftest import RECIPES, curate

GOOD = f"""\
dataset: rel
ingest:
  - path: {SAMPLE}/relation
    format: tacred
detect:
  - detector: tacred-is
    params:
      k: 10
exports:
  - name: e
    variant: IS-E
    format: tacred
    path: exports/e
gates:
  - fail_if: {{detector: tacred-is, flagged_share: "> 5%"}}
"""

BAD = [
    ("detect:\n  - detector: [unclosed\n", 3, "not valid YAML"),
    (GOOD.replace("      k: 10", "      k: 10\n      colour: red"), 9, "detect.0.params.colour: unknown key"),
    (GOOD.replace("k: 10", "k: -3"), 8, "detect.0.params.k: Input should be greater than or equal to 1"),
    (GOOD.replace("detector: tacred-is\n", "detector: tacred-iz\n"), 6, "detect.0: unknown detector 'tacred-iz'"),
    (GOOD.replace("format: tacred\n    path", "format: xml\n    path"), 10, "exports.0: unknown format 'xml'"),
    (GOOD.replace("    format: tacred\ndetect", "    format: tacrd\ndetect"), 3, "ingest.0: unknown format 'tacrd'"),
    (GOOD.replace('"> 5%"', '"about 5"'), 15, "gates.0.fail_if.flagged_share: expected a comparison"),
    (GOOD.replace("gates:", "gatez:"), 14, "gatez: unknown key"),
    (GOOD.replace("dataset: rel\n", ""), 1, "ingest[0] names no dataset"),
    (GOOD.replace("    variant: IS-E\n", ""), 1, "exports[0]: give either 'variant' or 'policy'"),
    ("- just\n- a list\n", 1, "a recipe is a mapping"),
    (GOOD.replace("detect:\n", "embed:\n  backend: onxx\ndetect:\n"), 6, "embed.backend: Input should be 'auto', "
     "'torch', 'onnx', 'onnx-int8' or 'torch-fp16'"),
]


@pytest.mark.parametrize("text,line,message", BAD, ids=[m.split(":")[0][:30] for _, _, m in BAD])
def test_schema_errors_name_the_line(tmp_path, text, line, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as exc:
        load_recipe(path)
    assert exc.value.line == line and message in str(exc.value) and str(path) in str(exc.value)


CHECKS = [
    (GOOD.replace(f"{SAMPLE}/relation", f"{SAMPLE}/nowhere"), 3, "no such file or folder"),
    (GOOD.replace("detector: tacred-is\n", "detector: false-negatives\n").replace("    params:\n      k: 10\n", "")
     .replace("tacred-is, flagged", "false-negatives, flagged"),
     6, "'false-negatives' works on retrieval datasets; 'rel' is relation"),
    (GOOD.replace("format: tacred\n    path: exports", "format: beir\n    path: exports"), 12,
     "format 'beir' exports retrieval datasets"),
    (GOOD.replace("variant: IS-E", "variant: IS-X"), 11, "unknown variant 'IS-X'"),
    (GOOD.replace("detector: tacred-is, flagged", "detector: knn-vote, flagged"), 15, "needs a 'knn-vote' step"),
    (GOOD + "  - fail_if: {export: nope, removed_share: '> 0.1'}\n", 16, "no export named 'nope' (exports: e)"),
]


@pytest.mark.parametrize("text,line,message", CHECKS, ids=[m[:30] for _, _, m in CHECKS])
def test_check_finds_what_would_fail_before_running(tmp_path, text, line, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    proc = curate("run", str(path), "--check", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{path}, line {line}:" in proc.stderr and message in proc.stderr
    assert not (tmp_path / "out").exists()


def test_every_shipped_recipe_checks(tmp_path):
    for recipe in RECIPES:
        proc = curate("run", str(recipe), "--check", "--json", "--out", str(tmp_path / recipe.stem))
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["valid"] is True


def test_an_output_folder_that_is_not_this_recipe_s_is_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(GOOD)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("keep me")
    proc = curate("run", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "exists and holds no report of recipe 'r'; pass --overwrite" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["precious.txt"]


def test_bad_input_mid_run_exits_2_names_the_record_and_leaves_the_workspace(tmp_path):
    from curate.store import Workspace
    from tests.conftest import snapshot

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.json").write_text('[{"id": "a", "token": ["x", "y"], "subj_start": 0, "subj_end": 0,\n'
                                    '  "obj_start": 1, "obj_end": 7, "relation": "r"}]\n')
    db = tmp_path / "ws.duckdb"
    with Workspace(db) as ws:
        before = snapshot(ws)
    path = tmp_path / "r.yaml"
    path.write_text(GOOD.replace(f"{SAMPLE}/relation", str(bad)))
    proc = curate("run", str(path), "--out", str(tmp_path / "out"), "--workspace", str(db))
    assert proc.returncode == 2
    assert f"{bad}/train.json, record 1, field 'obj_end': token index 7 is out of range" in proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "error" and report["steps"][0]["status"] == "failed"
    assert not (tmp_path / "out" / "exports").exists()
    with Workspace(db) as ws:
        assert snapshot(ws) == before


def test_env_values_are_data_and_empty_ones_become_null(monkeypatch, tmp_path):
    monkeypatch.setenv("CURATE_T_JUDGE", "llm")
    monkeypatch.setenv("CURATE_T_EVIL", "x\nformat: tacred")
    got = expand_env({"a": "${CURATE_T_JUDGE:-embedding}", "b": "${CURATE_T_UNSET:-embedding}",
                      "c": "${CURATE_T_UNSET}", "d": ["${CURATE_T_EVIL}"]})
    assert got == {"a": "llm", "b": "embedding", "c": None, "d": ["x\nformat: tacred"]}
    plan = Plan(RECIPES[[r.stem for r in RECIPES].index("retrieval_arhn")], output=tmp_path / "o")
    assert plan.recipe.detect[0].params.judge == "embedding"


def test_recipe_schema_is_json_schema():
    proc = curate("recipe-schema")
    schema = json.loads(proc.stdout)
    assert proc.returncode == 0 and {"ingest", "detect", "exports", "gates"} <= set(schema["properties"])
