"""TACRED JSON: an array of {id, token, subj_start, subj_end, obj_start, obj_end, subj_type, obj_type, relation}."""

from __future__ import annotations

import json
from pathlib import Path

from curate.ingest.base import IngestOptions, Ingestor, Sink, Where, read_text, register
from curate.ingest.mapping import add_relation_tokens


def load_json(path: Path):
    """Parse a whole JSON file; syntax errors name the line."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Where(str(path), line=exc.lineno).error(f"invalid JSON: {exc.msg} (column {exc.colno})") from None


@register
class TacredIngestor(Ingestor):
    name = "tacred"
    split_suffixes = (".json",)
    description = "TACRED / Re-TACRED JSON array (token list, inclusive token spans, 'relation' label)"
    task = "relation"
    default_negative_label = "no_relation"
    Options = IngestOptions

    def read(self, path: Path, options: IngestOptions, sink: Sink) -> None:
        data = load_json(path)
        if not isinstance(data, list):
            raise Where(str(path)).error(f"expected a JSON array of examples, got {type(data).__name__}")
        if not data:
            raise Where(str(path)).error("the array holds no examples")
        for i, rec in enumerate(data, start=1):
            where = Where(str(path), record=i)
            if not isinstance(rec, dict):
                raise where.error(f"expected an object, got {type(rec).__name__}")
            add_relation_tokens(sink, rec, where, id_key="id", label_key="relation", roles={})
