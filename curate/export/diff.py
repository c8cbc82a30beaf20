"""What a variant changes against the ingested data: counts per split and label, and a few examples of each."""

from __future__ import annotations

from typing import Any

from curate.export.base import ExportData
from curate.export.manifest import change_counts


def summarise(data: ExportData, examples: int = 3) -> dict[str, Any]:
    """Counts per split and label, plus up to `examples` examples of each kind of change."""
    frame = data.frame
    changed = frame[frame["change"].notna()]
    shown: dict[str, list[dict[str, Any]]] = {}
    for (kind, before, after), part in changed.groupby(["change", "original_label", "label"], sort=True, dropna=False):
        key = f"removed {before}" if kind == "removed" else f"{before} -> {after}"
        shown[key] = [{"id": r.id, "split": r.split, "text": _short(r.text), "from": r.original_label,
                       "to": None if r.removed else r.label, "by": r.changed_by}
                      for r in part.head(examples).itertuples()]
    total = len(frame)
    return {
        "examples": total, "exported": int((~frame["removed"]).sum()),
        "removed": int((frame["change"] == "removed").sum()), "relabelled": int((frame["change"] == "relabelled").sum()),
        "by_split": change_counts(data), "changes": shown,
    }


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
