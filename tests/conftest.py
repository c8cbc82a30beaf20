"""Shared fixtures: a fresh workspace per test, the real embedding model once per session, real SemEval text."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# ONNX exports of the model go to a folder of this session's own (subprocesses inherit it), not the user's cache.
if "CURATE_ONNX_CACHE" not in os.environ:
    os.environ["CURATE_ONNX_CACHE"] = tempfile.mkdtemp(prefix="curate-onnx-")
    atexit.register(shutil.rmtree, os.environ["CURATE_ONNX_CACHE"], True)
# The vector store is shared by every workspace on a machine: the session's fixtures keep theirs in a folder of this
# session, and each test gets its own (below), so a test never finds vectors another test paid for.
if "CURATE_CACHE" not in os.environ:
    os.environ["CURATE_CACHE"] = tempfile.mkdtemp(prefix="curate-cache-")
    atexit.register(shutil.rmtree, os.environ["CURATE_CACHE"], True)
# The fake LLM server lives on loopback: never route its requests through a proxy from the environment.
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))

from curate.store import Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SEMEVAL = ROOT.parent / "shared" / "data" / "semeval2010_task8"
TABLES = ("datasets", "examples", "texts", "clean_labels", "embeddings", "runs", "findings", "decisions")


@pytest.fixture(autouse=True)
def _own_vector_store(tmp_path_factory, monkeypatch):
    """A vector store of the test's own (workspaces copied from session fixtures still read the session's)."""
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def ws(tmp_path: Path):
    """A new workspace in a real DuckDB file."""
    w = Workspace(tmp_path / "ws.duckdb")
    yield w
    w.close()


def snapshot(ws: Workspace) -> dict:
    """Everything a failed ingest must leave unchanged: row counts and a content digest of each table."""
    out = {}
    for t in TABLES:
        n = ws.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        digest = ws.con.execute(f"SELECT coalesce(sum(hash(t)), 0) FROM {t} t").fetchall()[0][0]
        out[t] = (n, digest)
    return out


@pytest.fixture(scope="session")
def semeval_train_lines() -> list[str]:
    """The first 60 records (240 lines) of the real SemEval-2010 Task 8 train file."""
    path = SEMEVAL / "TRAIN_FILE.TXT"
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is laid beside the checkout)")
    return path.read_text(encoding="utf-8").splitlines()[:240]


@pytest.fixture(scope="session")
def model():
    """The packaged default model, loaded once."""
    from curate.encode import load_model, resolve_model

    return load_model(resolve_model().source)


RETRIEVAL_ROWS = 150  # queries of the sample triplets in the session slice (6 pairs each)


def _retrieval_workspace(root: Path, queries: int | None) -> tuple[Path, Path]:
    """(workspace file, gold file) for the first queries of the sample triplets (None: all of them), embedded."""
    import json

    from curate.embed import embed_dataset
    from curate.ingest import ingest

    lines = (SAMPLE / "retrieval" / "triplets.jsonl").read_text().splitlines()[:queries]
    src = root / "triplets.jsonl"
    src.write_text("\n".join(lines) + "\n")
    db = root / "ret.duckdb"
    with Workspace(db) as w:
        ingest(w, src, "triplets", "ret")
        embed_dataset(w, "ret")
        ids = {r[0] for r in w.con.execute("SELECT id FROM examples").fetchall()}
    gold = root / "gold.jsonl"
    rows = [json.loads(g) for g in (SAMPLE / "retrieval" / "gold.jsonl").read_text().splitlines()]
    gold.write_text("".join(json.dumps({**g, "id": g["triplets_id"]}) + "\n" for g in rows if g["triplets_id"] in ids))
    return db, gold


@pytest.fixture(scope="session")
def retrieval_db(tmp_path_factory) -> tuple[Path, Path]:
    """(workspace file, gold file) for a slice of the sample retrieval triplets, embedded with the real model."""
    return _retrieval_workspace(tmp_path_factory.mktemp("retrieval"), RETRIEVAL_ROWS)


@pytest.fixture(scope="session")
def retrieval_full_db(tmp_path_factory) -> tuple[Path, Path]:
    """The same for all 600 queries of the sample triplets (slow tests: ~25 s to embed)."""
    return _retrieval_workspace(tmp_path_factory.mktemp("retrieval_full"), None)


@pytest.fixture
def ret_ws(retrieval_db, tmp_path):
    """A private copy of the session's retrieval workspace."""
    import shutil

    copy = tmp_path / "ret.duckdb"
    shutil.copy(retrieval_db[0], copy)
    w = Workspace(copy)
    yield w
    w.close()
