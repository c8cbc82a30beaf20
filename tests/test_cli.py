"""The CLI in-process: exit codes, one-line errors, --json, and help on every command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from curate.cli import app
from tests.conftest import SAMPLE

runner = CliRunner()


def run(tmp_path, *args):
    return runner.invoke(app, ["--db", str(tmp_path / "w.duckdb"), *args])


def test_every_command_has_help():
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"ingest", "datasets", "stats", "embed", "formats", "neighbours"} <= set(names)
    for name in names:
        res = runner.invoke(app, [name, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output
        cmd = next(c for c in app.registered_commands if (c.name or c.callback.__name__) == name)
        assert (cmd.callback.__doc__ or "").strip(), f"{name} has no help text"


def test_ingest_stats_datasets_json(tmp_path):
    res = run(tmp_path, "ingest", str(SAMPLE / "relation"), "--format", "tacred", "--name", "rel", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["counts"]["examples"] == 8000
    res = run(tmp_path, "stats", "rel", "--json")
    stats = json.loads(res.output)
    assert stats["splits"]["train"] == 5000 and stats["negatives"]["label"] == "no_relation"
    res = run(tmp_path, "datasets", "--json")
    assert [d["name"] for d in json.loads(res.output)] == ["rel"]
    human = run(tmp_path, "stats", "rel")
    assert "negatives ('no_relation')" in human.output


def test_db_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_DB", str(tmp_path / "env.duckdb"))
    res = runner.invoke(app, ["ingest", str(SAMPLE / "classification" / "train.jsonl"), "-f", "jsonl", "-n", "c"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "env.duckdb").exists()


@pytest.mark.parametrize("args,message", [
    (["ingest", "nope.json", "-f", "tacred", "-n", "x"], "nope.json: no such file or folder"),
    (["ingest", str(SAMPLE / "relation"), "-f", "xml", "-n", "x"], "unknown format 'xml'"),
    (["stats", "missing"], "no dataset named 'missing'"),
    (["ingest", str(SAMPLE / "relation"), "-f", "tacred", "-n", "x", "--field", "oops"], "not of the form key=value"),
])
def test_errors_are_one_line_exit_2(tmp_path, args, message):
    res = run(tmp_path, *args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_bad_input_through_cli_leaves_store_unchanged(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "a", "label": "x"}\n{"id": "2"\n')
    assert run(tmp_path, "ingest", str(SAMPLE / "classification" / "train.jsonl"), "-f", "jsonl", "-n", "c").exit_code == 0
    res = run(tmp_path, "ingest", str(bad), "-f", "jsonl", "-n", "c", "--replace")
    assert res.exit_code == 2 and "bad.jsonl, line 2: invalid JSON" in res.output
    stats = json.loads(run(tmp_path, "stats", "c", "--json").output)
    assert stats["examples"] == 3000


def test_marked_spans_ingested_as_classification_get_a_hint(tmp_path):
    src = tmp_path / "marked.jsonl"
    rows = [{"id": "a", "text": "Yesterday [E] Alex Turner [/E] played Sheffield", "label": "person"},
            {"id": "b", "text": "They love [E] Sheffield [/E] in May", "label": "location"},
            {"id": "c", "text": "No markers in this one", "label": "O"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run(tmp_path, "ingest", str(src), "-f", "jsonl", "-n", "cls")
    assert res.exit_code == 0, res.output
    assert "hint: 2 of 3 texts mark a span with [E] ... [/E]: ingest them with --task span" in res.output
    as_json = run(tmp_path, "ingest", str(src), "-f", "jsonl", "-n", "cls", "--replace", "--json")
    assert len(json.loads(as_json.output)["hints"]) == 1
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps({**r, "text": r["text"].replace("[E] ", "").replace(" [/E]", "")}) + "\n"
                             for r in rows))
    quiet = run(tmp_path, "ingest", str(plain), "-f", "jsonl", "-n", "plain")
    assert quiet.exit_code == 0 and "hint" not in quiet.output
