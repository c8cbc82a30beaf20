"""Run the shipped recipes once per session, headlessly through the CLI, into one shared workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def curate(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as CI runs it (CI=true, no terminal)."""
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "CI": "true", **(env or {})}, cwd=cwd or ROOT, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def shipped(tmp_path_factory) -> dict:
    """Every recipe in recipes/ run twice (the second time everything should be reused)."""
    root = tmp_path_factory.mktemp("recipes")
    db = root / "shared.duckdb"  # one workspace: the sample corpora are embedded once for all recipes
    runs = {}
    for recipe in RECIPES:
        out = root / recipe.stem
        first = curate("run", str(recipe), "--out", str(out), "--workspace", str(db))
        second = curate("run", str(recipe), "--out", str(out), "--workspace", str(db), "--json")
        runs[recipe.stem] = {"out": out, "first": first, "second": second,
                             "report": json.loads((out / "report.json").read_text()) if (out / "report.json").exists()
                             else None}
    return {"root": root, "db": db, "runs": runs}
