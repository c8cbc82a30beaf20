"""A relation workspace built once per session from the sample corpus (a slice, embedded with the real model);
each test gets its own copy of the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curate.embed import embed_dataset
from curate.ingest import ingest
from curate.store import Workspace
from tests.conftest import SAMPLE

SIZES = {"train": 2500, "dev": 800, "test": 800}


@pytest.fixture(scope="session")
def relation_db(tmp_path_factory) -> tuple[Path, Path]:
    """(workspace file, gold file) for a slice of the sample relation corpus with its planted noise."""
    root = tmp_path_factory.mktemp("relation")
    src = root / "src"
    src.mkdir()
    for split, n in SIZES.items():
        rows = json.loads((SAMPLE / "relation" / f"{split}.json").read_text())[:n]
        (src / f"{split}.json").write_text(json.dumps(rows))
    ids = {r["id"] for r in json.loads((src / "train.json").read_text())}
    gold = root / "gold.jsonl"
    gold.write_text("".join(line for line in open(SAMPLE / "relation" / "gold.jsonl") if json.loads(line)["id"] in ids))
    db = root / "rel.duckdb"
    with Workspace(db) as ws:
        ingest(ws, src, "tacred", "rel")
        embed_dataset(ws, "rel")
    return db, gold


@pytest.fixture
def rel_ws(relation_db, tmp_path):
    """A private copy of the session's relation workspace."""
    db, _ = relation_db
    copy = tmp_path / "rel.duckdb"
    shutil.copy(db, copy)
    w = Workspace(copy)
    yield w
    w.close()


@pytest.fixture
def small_rel(ws, tmp_path):
    """120 train and 30 dev examples of the sample relation corpus, embedded."""
    src = tmp_path / "src"
    src.mkdir()
    for split, n in {"train": 120, "dev": 30}.items():
        (src / f"{split}.json").write_text(json.dumps(json.loads((SAMPLE / "relation" / f"{split}.json").read_text())[:n]))
    ingest(ws, src, "tacred", "rel")
    embed_dataset(ws, "rel")
    return ws


@pytest.fixture
def gold_path(relation_db) -> Path:
    """Gold errors of the slice."""
    return relation_db[1]


def flagged_quality(ws, run_id: str, gold_path: Path) -> dict:
    """Ranking metrics of a run against the slice's gold."""
    from curate.evaluate import evaluate

    return evaluate(ws, "rel", gold_path, [run_id])[0]


@pytest.fixture(scope="session")
def span_db(tmp_path_factory) -> Path:
    """The first 150 sentences of the planted WNUT token-noise sample, ingested as span data and embedded."""
    root = tmp_path_factory.mktemp("span")
    blocks = (SAMPLE / "wnut17_tokens" / "train.conll").read_text().split("\n\n")[:150]
    (root / "train.conll").write_text("\n\n".join(blocks) + "\n\n")
    db = root / "ner.duckdb"
    with Workspace(db) as ws:
        ingest(ws, root / "train.conll", "conll", "ner")
        embed_dataset(ws, "ner")
    return db


@pytest.fixture
def span_ws(span_db, tmp_path):
    """A private copy of the session's span workspace."""
    copy = tmp_path / "ner.duckdb"
    shutil.copy(span_db, copy)
    w = Workspace(copy)
    yield w
    w.close()
