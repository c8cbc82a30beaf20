"""The recipe report: report.json for machines, report.md for people (a GitHub Actions job summary), PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.recipe.plan import REPORT_JSON, Plan
from curate.recipe.results import RecipeResult, Step

REPORT_MD = "report.md"


def write_report(plan: Plan, result: RecipeResult) -> None:
    """Write report.json, report.md and (unless turned off or nothing ran) the plots into the output folder."""
    out = plan.output
    out.mkdir(parents=True, exist_ok=True)
    plots: list[str] = []
    if plan.recipe.report.plots and result.runs:
        from curate.recipe.plots import make_plots

        try:
            with _workspace(result) as ws:
                plots = make_plots(ws, result, out / "plots")
        except Exception as exc:  # a plot must never hide the run's outcome
            result.steps.append(_failed_plot(exc))
    data = result.to_dict()
    data["plots"] = plots
    _atomic_write(out / REPORT_JSON, json.dumps(data, indent=2, default=str) + "\n")
    _atomic_write(out / REPORT_MD, markdown(plan, data))


def _failed_plot(exc: Exception) -> Step:
    return Step("report", "plots", "failed", 0.0, {"error": f"{type(exc).__name__}: {exc}"})


def _workspace(result: RecipeResult):
    from curate.store import Workspace

    return Workspace(result.workspace, read_only=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown(plan: Plan, r: dict[str, Any]) -> str:
    """report.md: outcome first, then gates, detector runs, evaluation, exports, steps and plots."""
    badge = {"passed": "✅ passed", "gate failed": "❌ a gate failed", "error": "⛔ error"}.get(r["status"], r["status"])
    title = plan.recipe.report.title or f"curate recipe `{r['name']}`"
    parts = [f"# {title}", "",
             f"**{badge}** (exit {r['exit_code']}) in {r['seconds']:.1f} s · curate {r['curate_version']} · "
             f"workspace `{r['workspace']}`", ""]
    if plan.recipe.description:
        parts += [plan.recipe.description.strip(), ""]
    if r["error"]:
        parts += ["```", r["error"], "```", ""]
    if r["gates"]:
        parts += ["## Gates", "", _table(["gate", "value", "rule", "result"], [
            [g["name"], g["value"], g["condition"], "❌ failed" if g["failed"] else "✅ passed"] for g in r["gates"]]), ""]
    if r["runs"]:
        parts += ["## Detector runs", "", _table(["detector", "dataset", "flagged", "scored", "share", "run", "reused"], [
            [x["detector"], x["dataset"], x["counts"]["flagged"], x["counts"]["scored"],
             f"{x['counts']['flagged'] / max(1, x['counts']['scored']):.1%}", f"`{x['run_id']}`",
             "yes" if x["reused"] else "no"] for x in r["runs"]]), ""]
        for run_id, rows in r["findings"].items():
            if rows:
                parts += [f"<details><summary>Top findings of <code>{run_id}</code></summary>", "",
                          _table(["id", "score", "label", "suggested", "reason"],
                                 [[f["id"], f["score"], f["label"], f["suggested"], f["reason"]] for f in rows]),
                          "", "</details>", ""]
    for ev in r["evaluations"]:
        parts += [f"## Against known errors: {ev['dataset']} (`{ev['gold']}`)", "",
                  _table(["run", "detector", "errors", "precision@k", "AUPRC", "random AUPRC", "flagged", "flagged precision"],
                         [[x["run"], x["detector"], x["errors"], x["precision_at_k"], x["auprc"], x["random_auprc"],
                           x.get("flagged"), x.get("flagged_precision")] for x in ev["results"]]), ""]
    if r["exports"]:
        parts += ["## Exports", "", _table(["export", "variant", "format", "exported", "removed", "relabelled", "path", "reused"], [
            [e["name"], e["variant"], e["format"], f"{e['exported']} / {e['examples']}", e["removed"], e["relabelled"],
             f"`{e['path']}`", "yes" if e["reused"] else "no"] for e in r["exports"]]), ""]
    reused = sum(s["status"] == "reused" for s in r["steps"])
    parts += ["## Steps", "", f"{reused} of {len(r['steps'])} steps reused from an earlier run.", "",
              _table(["step", "what", "status", "seconds"],
                     [[s["kind"], s["name"], s["status"], s["seconds"]] for s in r["steps"]]), ""]
    if r.get("plots"):
        parts += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in r["plots"]] + [""]
    return "\n".join(parts)
