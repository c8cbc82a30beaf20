"""The workspace: migrations applied once, a clear message when another process holds the file."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from curate.errors import NotFound, WorkspaceLocked
from curate.store import MIGRATIONS, Workspace


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "w.duckdb"
    with Workspace(path) as ws:
        assert ws.schema_version() == len(MIGRATIONS)
    with Workspace(path) as ws:
        rows = ws.con.execute("SELECT count(*) FROM schema_migrations").fetchall()[0][0]
        assert rows == len(MIGRATIONS)


def test_transaction_rolls_back_on_error(ws):
    with pytest.raises(RuntimeError):
        with ws.transaction():
            ws.create_dataset("d", "classification", negative_label=None, source="s", fmt="jsonl")
            raise RuntimeError("boom")
    assert not ws.has_dataset("d")


def test_unknown_dataset_names_the_known_ones(ws):
    ws.create_dataset("alpha", "classification", negative_label=None, source="s", fmt="jsonl")
    with pytest.raises(NotFound, match="no dataset named 'beta'.*known: alpha"):
        ws.dataset("beta")


def test_locked_by_another_writer(tmp_path):
    path = tmp_path / "w.duckdb"
    Workspace(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceLocked, match="in use by another writer"):
            Workspace(path, wait=0.3)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    Workspace(path).close()  # usable again once the other process is gone


def test_waits_for_a_short_lock(tmp_path):
    """A writer that holds the file briefly (the review UI) delays another process's open, never fails it."""
    path = tmp_path / "w.duckdb"
    Workspace(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
         "time.sleep(1.0); c.close(); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        t = time.monotonic()
        with Workspace(path, wait=10) as w:
            assert w.schema_version() >= 3
        assert 0.5 < time.monotonic() - t < 10
    finally:
        holder.kill()
        holder.wait()
