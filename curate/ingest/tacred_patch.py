"""TACRED-style patch (TACRED-revisited / Re-TACRED): id -> corrected relation, stored as a clean subset."""

from __future__ import annotations

from pathlib import Path

from curate.ingest.base import IngestOptions, Ingestor, Sink, Where, register
from curate.ingest.tacred import load_json


class PatchOptions(IngestOptions):
    """Patch options: the source name recorded with each clean label."""

    source: str | None = None


@register
class TacredPatchIngestor(Ingestor):
    name = "tacred-patch"
    description = (
        "patch for an ingested relation dataset: a JSON object {id: relation} or a list of {id, relation}; "
        "marks those examples as the clean subset with their verified label (labels are not overwritten)"
    )
    task = "relation"
    creates_dataset = False
    Options = PatchOptions

    def read(self, path: Path, options: PatchOptions, sink: Sink) -> None:
        data = load_json(path)
        source = options.source or f"patch:{path.name}"
        if isinstance(data, dict):
            items = [(Where(str(path), record=i), k, v) for i, (k, v) in enumerate(data.items(), start=1)]
        elif isinstance(data, list):
            items = []
            for i, rec in enumerate(data, start=1):
                where = Where(str(path), record=i)
                if not isinstance(rec, dict):
                    raise where.error(f"expected an object, got {type(rec).__name__}")
                for key in ("id", "relation"):
                    if key not in rec:
                        raise where.error("missing", key)
                items.append((where, rec["id"], rec["relation"]))
        else:
            raise Where(str(path)).error("expected a JSON object {id: relation} or a list of {id, relation}")
        if not items:
            raise Where(str(path)).error("the patch holds no entries")
        for where, ex_id, label in items:
            if not isinstance(label, str) or not label.strip():
                field = f"{ex_id}" if isinstance(data, dict) else "relation"  # a dict entry is named by its key
                raise where.error(f"expected a relation name for id '{ex_id}', got {label!r}", field)
            sink.add_clean_label(str(ex_id), label, source, where)
