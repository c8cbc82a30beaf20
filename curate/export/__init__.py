"""Export: a cleaning variant of a dataset written in a training format, atomically, with a manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.version import __version__
from curate.decisions import decision_state
from curate.errors import CurateError
from curate.registry import instantiate, load_plugins
from curate.export.base import REGISTRY, ExportData, Exporter, ExportOptions
from curate.export.diff import summarise
from curate.export.manifest import MANIFEST, build_manifest, read_manifest, verify
from curate.export.variants import NAMED, Policy, build_variant, variant_policy
from curate.store import Workspace

load_plugins(__name__, __path__)  # each format's module registers itself

log = logging.getLogger(__name__)

Q_STATE = """
    SELECT count(*), coalesce(sum(hash(id, split, text_hash, label, meta)), 0) FROM examples WHERE dataset = ?
"""
Q_TEXT_STATE = "SELECT count(*), coalesce(sum(hash(kind, id, text, meta)), 0) FROM texts WHERE dataset = ?"


@dataclass
class ExportResult:
    """What one export wrote (or found already written)."""

    out: str
    dataset: str
    variant: str
    format: str
    files: list[str]
    summary: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)
    reused: bool = False


def formats() -> dict[str, str]:
    """Registered export formats with their descriptions."""
    return {name: cls.description for name, cls in sorted(REGISTRY.items())}


def variants() -> list[str]:
    """The named variants (any DETECTOR-E / DETECTOR-R works too)."""
    return list(NAMED)


def make_exporter(fmt: str, options: dict[str, Any] | None) -> tuple[Exporter, ExportOptions]:
    """The exporter for fmt with validated options; unknown formats or keys raise CurateError."""
    return instantiate(REGISTRY, fmt, "export format", "Options", options, "not an option of this format")


def prepare(ws: Workspace, dataset: str, variant: str = "reviewed", *, run: str | None = None,
            policy: Policy | None = None) -> tuple[ExportData, dict[str, Any]]:
    """The variant's data and what went into it, without writing anything."""
    return build_variant(ws, dataset, policy if policy is not None else variant_policy(variant, run))


def export(
    ws: Workspace, dataset: str, out: str | Path, *, variant: str = "reviewed", fmt: str = "jsonl",
    run: str | None = None, policy: Policy | None = None, options: dict[str, Any] | None = None,
    overwrite: bool = False, reuse: bool = False,
) -> ExportResult:
    """Write a variant of dataset to the folder out in format fmt; all files appear at once or not at all.

    An existing out is refused unless overwrite; with reuse, an identical earlier export (same fingerprint,
    files intact) is kept as it is.
    """
    exporter, opts = make_exporter(fmt, options)
    info = ws.dataset(dataset)
    if info.task not in exporter.tasks:
        raise CurateError(f"format '{fmt}' exports {' or '.join(exporter.tasks)} datasets; "
                          f"'{dataset}' is a {info.task} dataset")
    data, used = prepare(ws, dataset, variant, run=run, policy=policy)
    used.update(exporter.attach(ws, data, opts))
    if not len(data.kept):
        raise CurateError(f"variant '{variant}' of '{dataset}' keeps no example; nothing to export")
    fp = _fingerprint(ws, dataset, variant, fmt, opts, used)
    out = Path(out)
    summary = summarise(data)
    if out.exists():
        prior = read_manifest(out)
        if reuse and prior and prior.get("fingerprint") == fp and verify(out, prior):
            return ExportResult(str(out), dataset, variant, fmt, [f["path"] for f in prior["files"]], summary,
                                prior, reused=True)
        if not overwrite:
            raise CurateError(f"output folder {out} exists; pass --overwrite to replace it")
        if not out.is_dir():
            raise CurateError(f"{out} exists and is not a folder")
    manifest = _write_atomically(out, lambda tmp: _write(exporter, data, tmp, opts, variant, fmt, used, fp,
                                                         summary["by_split"]))
    return ExportResult(str(out), dataset, variant, fmt, [f["path"] for f in manifest["files"]], summary, manifest)


def _write(exporter, data, tmp: Path, opts, variant, fmt, used, fp, counts) -> dict[str, Any]:
    files = exporter.write(data, tmp, opts)
    manifest = build_manifest(data, counts=counts, variant=variant, fmt=fmt, used=used, files=files, root=tmp, fingerprint=fp,
                              options=opts.model_dump(), reads_back=exporter.ingest_args(data, opts))
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n",
                                encoding="utf-8")
    return manifest


def _write_atomically(out: Path, write) -> dict[str, Any]:
    """Write into a hidden sibling folder, then rename it into place: a failure leaves nothing that looks done."""
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp = out.parent / f".{out.name}.partial-{tag}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        manifest = write(tmp)
        if out.exists():
            old = out.parent / f".{out.name}.old-{tag}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
        return manifest
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = exc.strerror or str(exc)
        raise CurateError(f"cannot write the export to {out}: {reason}"
                          f"{f' ({exc.filename})' if exc.filename else ''}; nothing was written") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fingerprint(ws: Workspace, dataset: str, variant: str, fmt: str, opts: ExportOptions, used: dict[str, Any]) -> str:
    parts = {"version": __version__, "variant": variant, "format": fmt, "options": opts.model_dump(),
             "policy": used["policy"], "runs": [r["run_id"] for r in used["runs"]],
             "decisions": decision_state(ws, dataset),
             "examples": ws.one(Q_STATE, [dataset]), "texts": ws.one(Q_TEXT_STATE, [dataset]),
             "scores": used.get("scores")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


__all__ = ["ExportResult", "Policy", "export", "formats", "make_exporter", "prepare", "summarise", "variants",
           "REGISTRY"]
