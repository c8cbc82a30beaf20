"""Exporter contract and registry, the data an exporter receives, and the shapes of a record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from curate.registry import registrar
from curate.relation import SPAN_KEYS
from curate.store import DatasetInfo, Workspace


class ExportOptions(BaseModel):
    """Options shared by every exporter; each format extends this (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ExportData:
    """One variant of a dataset, ready to write: every example with its exported label and fate."""

    info: DatasetInfo
    # Columns: id, split, text, label (after the variant), original_label, meta (dict), removed (bool),
    # change (None | 'relabelled' | 'removed'), changed_by (what changed it), weight (float or NaN).
    frame: pd.DataFrame
    labels: list[str] = field(default_factory=list)  # every label the dataset knows, sorted
    texts: dict[str, dict[str, tuple[str, dict[str, Any]]]] = field(default_factory=dict)  # kind -> id -> (text, meta)
    # (query ids, passage ids) -> their similarity, when the exporter asked for it (Exporter.attach)
    similarity: Callable[[list[str], list[str]], np.ndarray] | None = None
    # span data: sentence id -> the tags a sentence-level decision or rule gave it (None: the sentence is removed);
    # they win over the tags its spans' labels make (curate.sentences)
    sentence_tags: dict[str, list[str] | None] = field(default_factory=dict)

    @property
    def kept(self) -> pd.DataFrame:
        """The examples that stay in the export."""
        return self.frame[~self.frame["removed"]]

    def splits(self) -> list[tuple[str, pd.DataFrame]]:
        """Kept examples per split, in ingest order, splits sorted."""
        kept = self.kept
        return [(str(s), part) for s, part in kept.groupby("split", sort=True)]

    @property
    def weighted(self) -> bool:
        """Whether the variant carries per-example weights."""
        return bool(self.frame["weight"].notna().any())


class Exporter:
    """One output format: writes an ExportData into a folder; registered by name."""

    name: ClassVar[str]
    description: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]] = ("classification", "relation", "span", "retrieval")
    Options: ClassVar[type[ExportOptions]] = ExportOptions
    # How `curate ingest` reads the output back: (format, path relative to the output folder, options).
    reads_back: ClassVar[tuple[str, str, dict[str, Any]] | None] = None

    def write(self, data: ExportData, out: Path, options: ExportOptions) -> list[Path]:
        """Write the files into the (empty, temporary) folder out; return the files written."""
        raise NotImplementedError

    def attach(self, ws: Workspace, data: ExportData, options: ExportOptions) -> dict[str, Any]:
        """Read what these options need beyond the variant's rows into data; returns what it read, for the
        manifest and the export's fingerprint ({}: nothing)."""
        return {}

    def ingest_args(self, data: ExportData, options: ExportOptions) -> tuple[str, str, dict[str, Any]] | None:
        """How to ingest this export again (format, relative path, options), for the manifest and round trips."""
        return self.reads_back


REGISTRY: dict[str, type[Exporter]] = {}


register = registrar(REGISTRY, "exporter")


def union_columns(records: list[dict[str, Any]]) -> list[str]:
    """Every key of the records, in first-seen order (rows differ when inputs had optional fields)."""
    columns: dict[str, None] = {}
    for rec in records:
        columns.update(dict.fromkeys(rec))
    return list(columns)


# -- record shapes shared by several formats --------------------------------------------------------------

def relation_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """TACRED-style relation fields of an example: token list, inclusive token spans, entity types."""
    out = {"token": meta["token"], **{k: meta[k] for k in SPAN_KEYS}}
    for key in ("subj_type", "obj_type"):
        if meta.get(key) is not None:
            out[key] = meta[key]
    return out


def char_spans(meta: dict[str, Any]) -> dict[str, list[int]]:
    """Character spans [start, end) of subject and object in the space-joined or original text."""
    if "char_spans" in meta:
        return meta["char_spans"]
    tokens = meta["token"]
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t) + 1
    spans = {}
    for role in ("subj", "obj"):
        s, e = meta[f"{role}_start"], meta[f"{role}_end"]
        spans[role] = [starts[s], starts[e] + len(tokens[e])]
    return spans


def extra_fields(meta: dict[str, Any], drop: set[str] = frozenset()) -> dict[str, Any]:
    """The input's own fields curate did not interpret, kept so an export carries them on."""
    return {k: v for k, v in (meta.get("extra") or {}).items() if k not in drop}


def flat_record(row: Any, task: str, *, lists: bool = True) -> dict[str, Any]:
    """One example as a flat record: id, text, label, then task fields and the input's extra fields.

    With lists=False (CSV) a relation carries character offsets instead of the token list.
    """
    meta = row.meta
    rec: dict[str, Any] = {"id": row.id, "text": row.text, "label": row.label}
    if task == "relation":
        # Text with character offsets stays that way (spaCy tokens joined by spaces would change the text).
        if lists and "char_spans" not in meta:
            rec.update(relation_fields(meta))
        else:
            spans = char_spans(meta)
            rec.update(subj_start=spans["subj"][0], subj_end=spans["subj"][1],
                       obj_start=spans["obj"][0], obj_end=spans["obj"][1])
            rec.update({k: meta[k] for k in ("subj_type", "obj_type") if meta.get(k) is not None})
    elif task == "span":
        if lists and "char_span" not in meta:
            rec.update(token=meta["token"], span_start=meta["span_start"], span_end=meta["span_end"])
        else:  # character offsets into the text, end exclusive
            start, end = meta.get("char_span") or token_chars(meta["token"], meta["span_start"], meta["span_end"])
            rec.update(span_start=start, span_end=end)
    elif task == "retrieval":
        rec.update(query_id=meta.get("query_id"), passage_id=meta.get("passage_id"), query=meta.get("query"))
    rec.update({k: v for k, v in extra_fields(meta).items() if k not in rec})
    if not pd.isna(row.weight):
        rec["weight"] = float(row.weight)
    return rec


def token_chars(tokens: list[str], start: int, end: int) -> tuple[int, int]:
    """Character offsets [start, end) of an inclusive token span in the tokens joined by spaces."""
    lo = sum(len(t) + 1 for t in tokens[:start])
    return lo, lo + len(" ".join(tokens[start : end + 1]))


def json_line(rec: dict[str, Any]) -> str:
    """One JSON object on one line, UTF-8 kept readable."""
    return json.dumps(rec, ensure_ascii=False, default=str)


def write_splits(data: ExportData, out: Path, name: str, write_one) -> list[Path]:
    """Call write_one(path, part) for each split's kept examples, path being out / name.format(split=...)."""
    files = []
    for split, part in data.splits():
        path = out / name.format(split=split)
        write_one(path, part)
        files.append(path)
    return files


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Records as JSON Lines."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json_line(rec) + "\n" for rec in records)


def write_parquet(path: Path, records: list[dict[str, Any]]) -> None:
    """Records as one Parquet table; a key missing from a record is a null cell."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({c: [rec.get(c) for rec in records] for c in union_columns(records)}), path)
