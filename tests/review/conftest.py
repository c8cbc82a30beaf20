"""A small review workspace built once per session: a relation, a classification and a retrieval dataset,
each embedded with the real model and run through real detectors; every test gets its own copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curate.detect import run_detector
from curate.embed import embed_dataset
from curate.ingest import ingest
from curate.store import Workspace
from tests.conftest import SAMPLE


def build_review_db(root: Path, retrieval_db: Path | None = None) -> Path:
    """Write the review workspace under root and return its path."""
    src = root / "rel"
    src.mkdir()
    for split, n in {"train": 500, "dev": 200}.items():
        rows = json.loads((SAMPLE / "relation" / f"{split}.json").read_text())[:n]
        (src / f"{split}.json").write_text(json.dumps(rows))
    topics = root / "topics.jsonl"
    topics.write_text("".join((SAMPLE / "classification" / "train.jsonl").read_text().splitlines(True)[:400]))
    db = root / "review.duckdb"
    if retrieval_db is not None:
        shutil.copy(retrieval_db, db)
    with Workspace(db) as ws:
        ingest(ws, src, "tacred", "rel")
        ingest(ws, topics, "jsonl", "topics")
        for name in ("rel", "topics"):
            embed_dataset(ws, name)
        # The review tests are not about the model: the linear one keeps this session fixture quick.
        for d in ("tacred-is", "knn-vote", "confident-learning"):
            run_detector(ws, "rel", d, {"classifier": "linear"} if d == "confident-learning" else None)
        for d in ("knn-vote", "confident-learning"):
            run_detector(ws, "topics", d, {"classifier": "linear"} if d == "confident-learning" else None)
        if retrieval_db is not None:
            run_detector(ws, "ret", "false-negatives")
    return db


@pytest.fixture(scope="session")
def review_db(tmp_path_factory, retrieval_db) -> Path:
    """The session's review workspace file (never written by tests: they copy it)."""
    return build_review_db(tmp_path_factory.mktemp("review"), retrieval_db[0])


@pytest.fixture
def review_path(review_db, tmp_path) -> Path:
    """A private copy of the review workspace file."""
    copy = tmp_path / "review.duckdb"
    shutil.copy(review_db, copy)
    return copy


@pytest.fixture
def rws(review_path):
    """An open private copy of the review workspace."""
    w = Workspace(review_path)
    yield w
    w.close()
