"""`curate export`, `diff` and `export-formats`: the cleaned data leaves the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from curate.cli.app import JsonOpt, key_values, app, emit_json, handle_errors, out, workspace

VariantOpt = typer.Option("reviewed", "--variant", "-V", help="original, reviewed, weighted, IS-E, IS-R, EN, RN, "
                          "ENP, RNP, R, F, RF, or DETECTOR-E / DETECTOR-R.")
RunOpt = typer.Option(None, "--run", help="Run whose findings an automatic variant applies (default: the newest).")


@app.command(name="export")
@handle_errors
def export_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    out_dir: Path = typer.Option(..., "--out", "-O", help="Output folder (created; refused if it exists)."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="Output format (see `curate export-formats`)."),
    variant: str = VariantOpt,
    run: Optional[str] = RunOpt,
    option: list[str] = typer.Option([], "--option", "-o", help="Format option key=value (e.g. file_format=parquet)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    as_json: bool = JsonOpt,
) -> None:
    """Write a cleaned variant of a dataset in a training format, with manifest.json (all files or none)."""
    from curate.export import export

    with workspace(ctx, read_only=True) as ws:
        result = export(ws, name, out_dir, variant=variant, fmt=fmt, run=run, options=key_values(option, "--option"),
                        overwrite=overwrite)
    if as_json:
        emit_json(dataclasses.asdict(result))
        return
    s = result.summary
    out.print(f"exported {s['exported']} of {s['examples']} examples of '{name}' ({variant}, {fmt}) to {result.out}: "
              f"{s['removed']} removed, {s['relabelled']} relabelled")
    print_changes(s, limit=2)
    out.print(f"files: {', '.join(result.files)} (+ manifest.json)")


@app.command()
@handle_errors
def diff(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    variant: str = VariantOpt,
    run: Optional[str] = RunOpt,
    examples: int = typer.Option(3, "--examples", help="Examples shown per kind of change."),
    as_json: bool = JsonOpt,
) -> None:
    """What a variant would change, per split and label, with a few examples of each change; nothing is written."""
    from curate import api

    with workspace(ctx, read_only=True) as ws:
        s = api.diff(ws, name, variant, run=run, examples=examples)
    if as_json:
        emit_json(s)
        return
    used = s["decisions_used"]
    out.print(f"{variant}: {s['exported']} of {s['examples']} examples kept, {s['removed']} removed, "
              f"{s['relabelled']} relabelled" + (f" (decisions used: {used})" if used else "")
              + "".join(f"; run {r['run_id']} applied to {r['applied']}" for r in s["runs"] if "applied" in r))
    print_changes(s, limit=examples)


def print_changes(summary: dict[str, Any], limit: int) -> None:
    """Counts per split, then a few examples of each change."""
    table = Table("split", "examples", "exported", "removed", "relabelled", "biggest changes", box=None)
    for split, c in summary["by_split"].items():
        top = sorted([*((f"-{k}", v) for k, v in c["removed_by_label"].items()),
                      *c["relabelled_by_label"].items()], key=lambda kv: -kv[1])[:3]
        table.add_row(split, str(c["examples"]), str(c["exported"]), str(c["removed"]), str(c["relabelled"]),
                      ", ".join(f"{k} {v}" for k, v in top))
    out.print(table)
    for change, rows in summary["changes"].items():
        out.print(f"  {change}:")
        for r in rows[:limit]:
            out.print(f"    {r['id']} [{r['split']}] {r['text']}  (by {r['by']})")


@app.command(name="export-formats")
@handle_errors
def export_formats(as_json: bool = JsonOpt) -> None:
    """List the output formats `curate export` writes, and the variants."""
    from curate.export import formats, variants

    found = formats()
    if as_json:
        emit_json({"formats": found, "variants": variants()})
        return
    table = Table("format", "writes", box=None)
    for name, desc in found.items():
        table.add_row(name, desc)
    out.print(table)
    out.print("variants: " + ", ".join(variants()) + ", DETECTOR-E, DETECTOR-R")
