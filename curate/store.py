"""The DuckDB workspace: connection, ordered migrations, transactions and named queries."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from curate.errors import CurateError, NotFound, WorkspaceLocked

log = logging.getLogger(__name__)

DEFAULT_DB = "curate.duckdb"
DEFAULT_LOCK_WAIT = 10.0  # seconds a command waits for another process to release the workspace
TASKS = ("relation", "classification", "retrieval", "span")

# Ordered, named migrations (sqlite-utils style). Never edit a shipped one: append a new one.
# Tables carry no PRIMARY KEY on purpose: DuckDB checks unique constraints eagerly, which breaks
# delete-then-reinsert inside one transaction (--replace); uniqueness is checked on ingest instead.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial schema",
        """
        CREATE TABLE datasets (
            name VARCHAR NOT NULL, task VARCHAR NOT NULL, negative_label VARCHAR,
            source VARCHAR, format VARCHAR, created_at TIMESTAMP DEFAULT current_timestamp,
            meta JSON
        );
        CREATE TABLE examples (
            dataset VARCHAR NOT NULL, id VARCHAR NOT NULL, split VARCHAR NOT NULL,
            text VARCHAR NOT NULL, label VARCHAR, meta JSON, text_hash VARCHAR NOT NULL,
            ord BIGINT NOT NULL
        );
        CREATE TABLE texts (
            dataset VARCHAR NOT NULL, kind VARCHAR NOT NULL, id VARCHAR NOT NULL,
            text VARCHAR NOT NULL, meta JSON, text_hash VARCHAR NOT NULL
        );
        CREATE TABLE clean_labels (
            dataset VARCHAR NOT NULL, example_id VARCHAR NOT NULL, label VARCHAR NOT NULL,
            source VARCHAR NOT NULL, created_at TIMESTAMP DEFAULT current_timestamp
        );
        CREATE TABLE embeddings (
            text_hash VARCHAR NOT NULL, model VARCHAR NOT NULL, vector FLOAT[] NOT NULL,
            created_at TIMESTAMP DEFAULT current_timestamp
        );
        CREATE TABLE runs (
            run_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, dataset VARCHAR, params JSON,
            started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, version VARCHAR,
            counts JSON
        );
        CREATE TABLE findings (
            run_id VARCHAR NOT NULL, example_id VARCHAR NOT NULL, score DOUBLE NOT NULL,
            suggested_label VARCHAR, reason VARCHAR, evidence JSON
        );
        CREATE SEQUENCE decisions_seq START 1;
        CREATE TABLE decisions (
            seq BIGINT DEFAULT nextval('decisions_seq'), dataset VARCHAR NOT NULL,
            example_id VARCHAR NOT NULL, action VARCHAR NOT NULL, new_label VARCHAR,
            reviewer VARCHAR, source VARCHAR, "at" TIMESTAMP DEFAULT current_timestamp, note VARCHAR
        );
        CREATE TABLE llm_cache (
            key VARCHAR NOT NULL, model VARCHAR NOT NULL, request JSON, response JSON,
            "at" TIMESTAMP DEFAULT current_timestamp
        );
        CREATE INDEX embeddings_key ON embeddings (text_hash, model);
        """,
    ),
    (
        "findings flag, run fingerprint, current-label view",
        """
        ALTER TABLE findings ADD COLUMN flagged BOOLEAN DEFAULT false;
        ALTER TABLE runs ADD COLUMN fingerprint VARCHAR;
        CREATE VIEW current_examples AS
            WITH latest AS (
                SELECT dataset, example_id, action, new_label,
                       row_number() OVER (PARTITION BY dataset, example_id ORDER BY seq DESC) AS rn
                FROM decisions
            )
            SELECT e.dataset, e.id, e.split, e.text, e.meta, e.text_hash, e.ord,
                   e.label AS original_label,
                   CASE WHEN l.action = 'relabel' THEN l.new_label ELSE e.label END AS label,
                   coalesce(l.action = 'remove', false) AS removed,
                   l.action AS last_action
            FROM examples e LEFT JOIN latest l
              ON l.dataset = e.dataset AND l.example_id = e.id AND l.rn = 1;
        """,
    ),
    (
        "decision batches and undo links; 'reset' returns an example to unreviewed",
        """
        ALTER TABLE decisions ADD COLUMN batch VARCHAR;
        ALTER TABLE decisions ADD COLUMN undoes BIGINT;
        CREATE OR REPLACE VIEW current_examples AS
            WITH latest AS (
                SELECT dataset, example_id, action, new_label, seq,
                       row_number() OVER (PARTITION BY dataset, example_id ORDER BY seq DESC) AS rn
                FROM decisions
            )
            SELECT e.dataset, e.id, e.split, e.text, e.meta, e.text_hash, e.ord,
                   e.label AS original_label,
                   CASE WHEN l.action = 'relabel' THEN l.new_label ELSE e.label END AS label,
                   coalesce(l.action = 'remove', false) AS removed,
                   nullif(l.action, 'reset') AS last_action,
                   l.seq AS last_seq
            FROM examples e LEFT JOIN latest l
              ON l.dataset = e.dataset AND l.example_id = e.id AND l.rn = 1;
        """,
    ),
    (
        "index on example ids: the review page looks up an example and its neighbours by id",
        # Measured at 1M examples: fetching 20 neighbours by id 70 ms -> 5 ms, one example 7 ms -> 1 ms;
        # building the index takes 0.4 s. Not UNIQUE: DuckDB checks those eagerly (see the note above).
        "CREATE INDEX examples_id ON examples (id);",
    ),
    (
        # Like the embeddings, folds are keyed by content (ids, texts, labels, parameters), so they outlive a
        # re-ingest of the same data (--replace) and are never reused for different data.
        "fine-tuned model folds: out-of-fold probabilities and vectors, one committed fold at a time (resumable)",
        """
        CREATE TABLE tuned_folds (
            dataset VARCHAR NOT NULL, key VARCHAR NOT NULL, fold INTEGER NOT NULL, example_id VARCHAR NOT NULL,
            proba FLOAT[] NOT NULL, vector FLOAT[] NOT NULL, created_at TIMESTAMP DEFAULT current_timestamp
        );
        CREATE INDEX tuned_folds_key ON tuned_folds (key, fold);
        """,
    ),
    (
        # Each detector now names its own variants (Detector.variant); runs stored before get the rule that held
        # when they ran, frozen here.
        "runs.variant: the signal behind a run, as its detector names it",
        """
        ALTER TABLE runs ADD COLUMN variant VARCHAR DEFAULT '';
        UPDATE runs SET variant = CASE
            WHEN json_extract_string(params, '$.predictions') IS NOT NULL THEN 'predictions'
            WHEN json_extract_string(params, '$.judge') = 'embedding' THEN 'embedding'
            WHEN json_exists(params, '$.api_key_env') THEN json_extract_string(params, '$.model')
            WHEN json_extract_string(params, '$.model') = 'finetune' THEN 'finetune' ELSE '' END;
        """,
    ),
    (
        # Vectors live in the shared vector store (curate/vectors.py); a workspace lists the shards it reads. The
        # embeddings table stays readable for the vectors older workspaces kept in it.
        "vector_shards: the vector store's shards a workspace reads its vectors from",
        """
        CREATE TABLE vector_shards (
            key VARCHAR NOT NULL, path VARCHAR NOT NULL, rows BIGINT, added_at TIMESTAMP DEFAULT current_timestamp
        );
        CREATE INDEX vector_shards_key ON vector_shards (key);
        """,
    ),
]

# A run's name for people: its detector, and its variant (the signal behind it, named by the detector) when it has one.
RUN_LABEL = "kind || CASE WHEN coalesce(variant, '') = '' THEN '' ELSE ' (' || variant || ')' END"
Q_DATASET = "SELECT name, task, negative_label, source, format, created_at, meta FROM datasets WHERE name = ?"
Q_DATASETS = """
    SELECT d.name, d.task, d.negative_label, d.source, d.format, d.created_at,
           (SELECT count(*) FROM examples e WHERE e.dataset = d.name) AS examples
    FROM datasets d ORDER BY d.name
"""
Q_SPLITS = "SELECT split, count(*) AS n FROM examples WHERE dataset = ? GROUP BY split ORDER BY split"
Q_LABELS = """
    SELECT split, label, count(*) AS n FROM examples WHERE dataset = ?
    GROUP BY split, label ORDER BY split, n DESC, label
"""
Q_TEXT_KINDS = "SELECT kind, count(*) AS n FROM texts WHERE dataset = ? GROUP BY kind ORDER BY kind"
Q_CLEAN_COUNT = "SELECT count(*) FROM clean_labels WHERE dataset = ?"
Q_DELETE_DATASET = [
    "DELETE FROM examples WHERE dataset = ?",
    "DELETE FROM texts WHERE dataset = ?",
    "DELETE FROM clean_labels WHERE dataset = ?",
    "DELETE FROM datasets WHERE name = ?",
]
Q_INSERT_DATASET = """
    INSERT INTO datasets (name, task, negative_label, source, format, meta) VALUES (?, ?, ?, ?, ?, ?)
"""

_LOCK_RE = re.compile(r"(Could not set lock|Conflicting lock|database is locked)", re.I)


@dataclass(frozen=True)
class DatasetInfo:
    """One row of the datasets table."""

    name: str
    task: str
    negative_label: str | None
    source: str | None
    format: str | None
    meta: dict[str, Any]


class Workspace:
    """A curate workspace: one DuckDB file holding data, vectors, runs, findings and decisions."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False, wait: float | None = None) -> None:
        self.path = str(path or os.environ.get("CURATE_DB") or DEFAULT_DB)
        self.read_only = read_only
        if read_only and not Path(self.path).exists():
            raise NotFound(f"no workspace at {self.path}; run 'curate ingest' first")
        # DuckDB lets one process write at a time. The review UI holds the file only while a reviewer is
        # clicking (review/service.py), so a command that finds it busy waits a little instead of failing.
        wait = float(os.environ.get("CURATE_LOCK_WAIT", DEFAULT_LOCK_WAIT)) if wait is None else wait
        deadline = time.monotonic() + wait
        delay = 0.005
        while True:
            try:
                self.con = duckdb.connect(self.path, read_only=read_only)
                break
            except duckdb.Error as exc:
                if not _LOCK_RE.search(str(exc)):
                    raise CurateError(f"cannot open workspace {self.path}: {exc}") from None
                if time.monotonic() + delay > deadline:
                    holder = re.search(r"PID (\d+)", str(exc))
                    who = f" (process {holder.group(1)})" if holder else ""
                    raise WorkspaceLocked(
                        f"workspace {self.path} is in use by another writer{who}; "
                        "close that curate process or pass another --db"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        self._in_tx = False
        if not read_only:
            self._migrate()

    # -- lifecycle -------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER, name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            with self.transaction():
                for stmt in filter(str.strip, sql.split(";")):
                    self.con.execute(stmt)
                self.con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            log.info("applied migration %d: %s", version, name)

    def schema_version(self) -> int:
        """The number of the last applied migration."""
        return int(self.one("SELECT coalesce(max(version), 0) FROM schema_migrations")[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing block; nested use joins the outer transaction."""
        if self._in_tx:
            yield self.con
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._in_tx = False

    def one(self, sql: str, params: list[Any] | None = None) -> tuple | None:
        """First row of a query, or None; reads the whole result so the connection is free again."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """A query's whole result as an Arrow table."""
        rel = self.con.sql(sql, params=params or None)
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow  # renamed in DuckDB 2.0
        return fetch()

    # -- bulk writes -----------------------------------------------------
    def append_arrow(self, table: str, data: pa.Table) -> None:
        """Bulk-insert an Arrow table whose column names match the target table's."""
        if table not in {"examples", "texts", "clean_labels", "embeddings", "findings", "decisions", "tuned_folds",
                         "vector_shards"}:
            raise ValueError(f"not a bulk-writable table: {table}")
        cols = ", ".join(data.column_names)
        self.con.register("_curate_bulk", data)
        try:
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _curate_bulk")  # noqa: S608
        finally:
            self.con.unregister("_curate_bulk")

    # -- datasets --------------------------------------------------------
    def dataset(self, name: str) -> DatasetInfo:
        """Look up a dataset or raise NotFound naming the ones that exist."""
        row = self.one(Q_DATASET, [name])
        if row is None:
            known = [r[0] for r in self.con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]
            hint = f"; known: {', '.join(known)}" if known else "; the workspace has no datasets yet"
            raise NotFound(f"no dataset named '{name}' in {self.path}{hint}")
        return DatasetInfo(row[0], row[1], row[2], row[3], row[4], json.loads(row[6]) if row[6] else {})

    def has_dataset(self, name: str) -> bool:
        """Whether a dataset of that name exists."""
        return self.one(Q_DATASET, [name]) is not None

    def create_dataset(
        self, name: str, task: str, *, negative_label: str | None, source: str, fmt: str, meta: dict | None = None
    ) -> None:
        """Insert a datasets row (inside the caller's transaction)."""
        if task not in TASKS:
            raise CurateError(f"unknown task '{task}'; expected one of {', '.join(TASKS)}")
        self.con.execute(Q_INSERT_DATASET, [name, task, negative_label, source, fmt, json.dumps(meta or {})])

    def update_dataset_meta(self, name: str, **entries: Any) -> None:
        """Set entries of a dataset's meta (the rest is kept)."""
        meta = {**self.dataset(name).meta, **entries}
        self.con.execute("UPDATE datasets SET meta = ? WHERE name = ?", [json.dumps(meta), name])

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset's data rows (not its runs, findings or decisions, which are history)."""
        for q in Q_DELETE_DATASET:
            self.con.execute(q, [name])

    def datasets(self) -> list[dict[str, Any]]:
        """All datasets with their example counts."""
        cur = self.con.execute(Q_DATASETS)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def stats(self, name: str) -> dict[str, Any]:
        """Sizes, splits, label distribution and negative share of one dataset."""
        info = self.dataset(name)
        splits = {s: n for s, n in self.con.execute(Q_SPLITS, [name]).fetchall()}
        labels: dict[str, dict[str, int]] = {}
        for split, label, n in self.con.execute(Q_LABELS, [name]).fetchall():
            labels.setdefault(split, {})[label if label is not None else "<none>"] = n
        total = sum(splits.values())
        negatives = None
        if info.negative_label is not None:
            neg = sum(c for per in labels.values() for lab, c in per.items() if lab == info.negative_label)
            negatives = {"label": info.negative_label, "count": neg, "share": round(neg / total, 4) if total else 0.0}
        return {
            "name": info.name,
            "task": info.task,
            "format": info.format,
            "source": info.source,
            "examples": total,
            "splits": splits,
            "labels": labels,
            "negatives": negatives,
            "texts": {k: n for k, n in self.con.execute(Q_TEXT_KINDS, [name]).fetchall()},
            "clean_labels": int(self.one(Q_CLEAN_COUNT, [name])[0]),
        }

    def examples_frame(self, name: str, split: str | None = None, columns: str = "id, split, text, label, meta, text_hash"):
        """The examples of a dataset (optionally one split) as a pandas DataFrame, in ingest order."""
        allowed = {"id", "split", "text", "label", "meta", "text_hash"}
        if not set(c.strip() for c in columns.split(",")) <= allowed:
            raise ValueError(f"unknown column in {columns!r}")
        sql = f"SELECT {columns} FROM examples WHERE dataset = ?"  # noqa: S608 - columns checked above
        params: list[Any] = [name]
        if split is not None:
            sql += " AND split = ?"
            params.append(split)
        return self.con.execute(sql + " ORDER BY split, ord", params).df()


def open_workspace(path: str | Path | None = None, *, read_only: bool = False) -> Workspace:
    """Open (and migrate) a workspace; the path defaults to $CURATE_DB or ./curate.duckdb."""
    return Workspace(path, read_only=read_only)
