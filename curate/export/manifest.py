"""manifest.json beside an export: source, variant, runs and decisions used, what changed, versions, file hashes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from curate.version import __version__
from curate.export.base import ExportData
from curate.hashing import file_hash

MANIFEST = "manifest.json"


def change_counts(data: ExportData) -> dict[str, Any]:
    """Per split: examples in and out, removed per label, relabelled per (from -> to)."""
    out: dict[str, Any] = {}
    for split, part in data.frame.groupby("split", sort=True):
        removed = part[part["change"] == "removed"]
        relabelled = part[part["change"] == "relabelled"]
        out[str(split)] = {
            "examples": int(len(part)), "exported": int((~part["removed"]).sum()),
            "removed": int(len(removed)), "relabelled": int(len(relabelled)),
            "removed_by_label": {str(k): int(v) for k, v in removed["original_label"].value_counts().sort_index().items()},
            "relabelled_by_label": {f"{a} -> {b}": int(n) for (a, b), n in
                                    relabelled.groupby(["original_label", "label"]).size().sort_index().items()},
        }
    return out


def _embedding_model(params: dict[str, Any]) -> str | None:
    legacy = params.get("model")
    return params.get("embedding_model") or (legacy if isinstance(legacy, str) and "#" in legacy else None)


def build_manifest(data: ExportData, *, counts: dict[str, Any], variant: str, fmt: str, used: dict[str, Any],
                   files: list[Path], root: Path, fingerprint: str, options: dict[str, Any],
                   reads_back: tuple[str, str, dict[str, Any]] | None) -> dict[str, Any]:
    """The manifest's content; counts are change_counts(data), computed once by the caller's summary."""
    # Runs name their embedding model under embedding_model; older stores kept it under model
    # (which a detector's own model parameter, such as an LLM or model=finetune, also uses).
    models = sorted({m for r in used["runs"] for m in [_embedding_model(r.get("params", {}))] if m})
    info = data.info
    return {
        "curate_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"name": info.name, "task": info.task, "source": info.source, "format": info.format,
                    "negative_label": info.negative_label},
        "variant": variant, "format": fmt, "options": options,
        "policy": used["policy"], "runs": used["runs"],
        "decisions_used": used["decisions"], "last_decision_seq": used.get("last_decision"),
        "embedding_models": models,
        "counts": counts,
        "weighted": data.weighted,
        **({"scores": used["scores"]} if used.get("scores") else {}),  # what scored the documents (output_scores)
        "read_back": None if reads_back is None else
        {"format": reads_back[0], "path": reads_back[1], "options": reads_back[2]},
        "fingerprint": fingerprint,
        "files": [{"path": str(p.relative_to(root)), "bytes": p.stat().st_size, "sha256": file_hash(p)}
                  for p in sorted(files)],
    }


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of an existing export, or None."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def verify(out: Path, manifest: dict[str, Any]) -> bool:
    """Whether every file the manifest lists is there with its recorded hash."""
    for f in manifest.get("files", []):
        p = Path(out) / f["path"]
        if not p.is_file() or p.stat().st_size != f["bytes"] or file_hash(p) != f["sha256"]:
            return False
    return True
