"""Contract for every registered ingestor: a description, an options model, a task, and a test file."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.ingest import REGISTRY
from curate.store import TASKS

TESTS = Path(__file__).parent
# Formats sharing one test module (one module per family of the same code).
TEST_FILE = {"jsonl": "test_generic", "csv": "test_generic", "parquet": "test_generic",
             "triplets": "test_retrieval", "beir": "test_retrieval", "tacred-patch": "test_tacred_patch"}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_ingestor_contract(name):
    cls = REGISTRY[name]
    assert cls.name == name
    assert len(cls.description) > 20
    assert cls.Options.model_config.get("extra") == "forbid"
    assert cls.task is None or cls.task in TASKS
    module = TEST_FILE.get(name, f"test_{name.replace('-', '_')}")
    assert (TESTS / f"{module}.py").exists(), f"{name} has no test file {module}.py"
