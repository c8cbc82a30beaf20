"""Bad exports: clear errors naming the path, exit 2, nothing that looks complete left behind."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys

import pytest

from curate.errors import CurateError
from curate.export import export
from tests.conftest import snapshot


def _cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


def test_existing_output_is_refused_unless_overwrite(rel_ws, tmp_path):
    ws, _ = rel_ws
    out = tmp_path / "out"
    first = export(ws, "rel", out, fmt="jsonl")
    with pytest.raises(CurateError, match=f"output folder {out} exists; pass --overwrite"):
        export(ws, "rel", out, fmt="jsonl", variant="original")
    again = export(ws, "rel", out, fmt="jsonl", variant="original", overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["variant"] == "original"
    assert again.summary["removed"] == 0 and first.summary["removed"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp or old folders left


def test_reuse_keeps_an_identical_export_and_notices_a_tampered_file(rel_ws, tmp_path):
    ws, _ = rel_ws
    out = tmp_path / "out"
    export(ws, "rel", out, fmt="csv")
    assert export(ws, "rel", out, fmt="csv", reuse=True).reused
    (out / "train.csv").write_text("tampered\n")
    with pytest.raises(CurateError, match="exists"):
        export(ws, "rel", out, fmt="csv", reuse=True)


def test_unwritable_location_fails_cleanly(rel_ws, tmp_path):
    ws, _ = rel_ws
    before = snapshot(ws)
    with pytest.raises(CurateError, match=r"cannot write the export to /proc/curate-export.*nothing was written"):
        export(ws, "rel", "/proc/curate-export/out", fmt="jsonl")
    assert snapshot(ws) == before


def test_full_disk_mid_export_leaves_no_partial_output(rel_ws, tmp_path):
    ws, _ = rel_ws
    db = ws.path
    ws.close()

    def small_disk():  # files may grow to 20 kB: the first split file hits the limit part-way
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "exports" / "full"
    proc = _cli("--db", db, "export", "rel", "--format", "tacred", "--out", str(out), preexec_fn=small_disk)
    assert proc.returncode == 2, proc.stderr
    assert f"cannot write the export to {out}" in proc.stderr and "File too large" in proc.stderr
    assert not out.exists() and list((tmp_path / "exports").iterdir()) == []


def test_cli_errors_name_the_problem(rel_ws, tmp_path):
    ws, _ = rel_ws
    db = ws.path
    ws.close()
    bad_fmt = _cli("--db", db, "export", "rel", "--format", "xml", "--out", str(tmp_path / "a"))
    assert bad_fmt.returncode == 2 and "unknown export format 'xml'; known: beir, conll, csv" in bad_fmt.stderr
    bad_task = _cli("--db", db, "export", "rel", "--format", "beir", "--out", str(tmp_path / "b"))
    assert bad_task.returncode == 2 and "format 'beir' exports retrieval datasets; 'rel' is a relation" in bad_task.stderr
    bad_opt = _cli("--db", db, "export", "rel", "--format", "triplets", "-o", "colour=red", "--out", str(tmp_path / "c"))
    assert bad_opt.returncode == 2
    assert not any((tmp_path / x).exists() for x in "abc")
    ok = _cli("--db", db, "export", "rel", "--format", "jsonl", "--out", str(tmp_path / "d"), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["summary"]["relabelled"] == 1
    diff = _cli("--db", db, "diff", "rel", "--json")
    removed = [v for k, v in json.loads(diff.stdout)["changes"].items() if k.startswith("removed ")]
    assert diff.returncode == 0 and removed[0][0]["id"] == "train-00002"
