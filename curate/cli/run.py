"""`curate run` and `recipe-schema`: a YAML recipe run headlessly, for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from curate.cli.app import JsonOpt, app, emit_json, err, handle_errors, out


@app.command()
@handle_errors
def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML file (see recipes/)."),
    check: bool = typer.Option(False, "--check", help="Validate the recipe and its inputs; run nothing."),
    force: bool = typer.Option(False, "--force", help="Recompute every step, even unchanged ones."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Use an output folder or export path that exists."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: the recipe's, else out/NAME)."),
    db: Optional[Path] = typer.Option(None, "--workspace", help="Workspace file (default: OUTPUT/curate.duckdb)."),
    as_json: bool = JsonOpt,
) -> None:
    """Run a recipe: ingest, embed, detect, evaluate, export, gates, report. Exit 0 pass, 1 gate failed, 2 error."""
    from curate.recipe.runner import Plan, run_recipe

    if check:
        plan = Plan(recipe, output=out_dir, workspace=db)
        plan.check(overwrite=overwrite)
        r = plan.recipe
        summary = {"recipe": str(recipe), "name": plan.name, "valid": True, "output": str(plan.output),
                   "workspace": str(plan.workspace), "ingest": len(r.ingest), "detect": len(r.detect),
                   "exports": len(r.exports), "gates": len(r.gates)}
        if as_json:
            emit_json(summary)
        else:
            out.print(f"{recipe}: valid ({summary['ingest']} ingest, {summary['detect']} detect, "
                      f"{summary['exports']} export steps, {summary['gates']} gates); output {plan.output}")
        return
    echo = err.print if as_json else out.print
    result = run_recipe(recipe, force=force, overwrite=overwrite, output=out_dir, workspace=db, echo=echo)
    if as_json:
        emit_json(result.to_dict())
    else:
        reused = sum(s.status == "reused" for s in result.steps)
        failed = [g["name"] for g in result.gates if g["failed"]]
        out.print(f"{result.status}: {len(result.steps)} steps ({reused} reused) in {result.seconds:.1f} s; "
                  f"report: {Path(result.output) / 'report.md'}" + (f"; failed gates: {', '.join(failed)}" if failed else ""))
    raise typer.Exit(result.exit_code)


@app.command(name="recipe-schema")
def recipe_schema() -> None:
    """Print the recipe JSON Schema (for editor completion and validation)."""
    from curate.recipe.schema import json_schema

    emit_json(json_schema())
