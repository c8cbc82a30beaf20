"""Sample datasets ingested into a real DuckDB file, and the helpers to read an export back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curate.decisions import Decision, record
from curate.detect import run_detector
from curate.ingest import ingest
from curate.export.base import token_chars
from curate.store import Workspace
from tests.conftest import SAMPLE


def write_slice(src: Path, dst: Path, n: int) -> Path:
    """The first n records of a TACRED JSON file, in the same layout."""
    records = json.loads(src.read_text())[:n]
    dst.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n")
    return dst


@pytest.fixture
def rel_ws(tmp_path: Path):
    """The relation sample (train 400 / dev 100 / test 100) with a relabel, a removal and a keep decided."""
    src = tmp_path / "rel"
    src.mkdir()
    for split, n in (("train", 400), ("dev", 100), ("test", 100)):
        write_slice(SAMPLE / "relation" / f"{split}.json", src / f"{split}.json", n)
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest(ws, src, "tacred", "rel")
    record(ws, "rel", [Decision("train-00001", "relabel", "per:title"), Decision("train-00002", "remove"),
                       Decision("train-00003", "keep")], reviewer="t", source="test")
    yield ws, src
    ws.close()


def rows_of(ws: Workspace, name: str, *, drop_sentences: bool = False) -> list[tuple]:
    """(id, split, text, label) of every example, or for retrieval (split, query, passage, label), or for
    spans the entities (split, sentence, span text, type); ids and O candidates are rebuilt when span data is
    read again. drop_sentences leaves out every span of a sentence that holds a removed one (CoNLL exports)."""
    task = ws.dataset(name).task
    if task == "span":
        rows = ws.con.execute("SELECT split, text, label, meta, removed FROM current_examples WHERE dataset = ?",
                              [name]).fetchall()
        metas = [json.loads(r[3]) for r in rows]
        gone = {m["sentence"] for r, m in zip(rows, metas) if r[4]} if drop_sentences else set()
        out = []
        for (split, text, label, _, removed), m in zip(rows, metas):
            if removed or label == "O" or m["sentence"] in gone:
                continue
            lo, hi = m.get("char_span") or token_chars(m["token"], m["span_start"], m["span_end"])
            out.append((split, text, text[lo:hi], label))
        return sorted(out)
    if task == "retrieval":
        return sorted(ws.con.execute(
            "SELECT split, json_extract_string(meta, '$.query'), text, label FROM examples WHERE dataset = ?",
            [name]).fetchall())
    return sorted(ws.con.execute("SELECT id, split, text, label FROM current_examples WHERE dataset = ? "
                                 "AND NOT removed", [name]).fetchall())


@pytest.fixture(scope="session")
def ret_runs(retrieval_db, tmp_path_factory):
    """The retrieval slice with a false-negatives run, an ARHN run (offline embedding judge) and a relevance-model
    run (what the weighted export weighs by)."""
    db, _ = retrieval_db
    copy = tmp_path_factory.mktemp("ret_export") / "ret.duckdb"
    shutil.copy(db, copy)
    ws = Workspace(copy)
    fn = run_detector(ws, "ret", "false-negatives")
    arhn = run_detector(ws, "ret", "arhn", {"judge": "embedding", "answer_threshold": 0.5, "max_negatives": 5})
    run_detector(ws, "ret", "relevance-model")
    yield ws, fn.run_id, arhn.run_id
    ws.close()
