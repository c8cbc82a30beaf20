"""Running a recipe: ingest, embed, detect, evaluate, export, gates, report; unchanged steps are reused.

Exit codes: 0 every gate passed, 1 a gate failed, 2 an error (bad recipe, bad input, a failed step).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from curate.version import __version__
from curate.errors import CurateError
from curate.recipe.plan import REPORT_JSON, Plan, expand_env
from curate.recipe.results import RecipeResult, Step
from curate.store import Workspace

__all__ = ["Plan", "RecipeResult", "Step", "expand_env", "input_fingerprint", "run_recipe"]


def input_fingerprint(paths: list[Path], step: dict[str, Any]) -> str:
    """Content hash of every input file and the step's settings: an unchanged ingest is reused."""
    h = hashlib.sha256(json.dumps(step, sort_keys=True, default=str).encode())
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def run_recipe(
    path: str | Path, *, force: bool = False, overwrite: bool = False, output: str | Path | None = None,
    workspace: str | Path | None = None, echo: Callable[[str], None] = print,
) -> RecipeResult:
    """Run a recipe end to end and write its report; never raises for a failed step (see exit_code)."""
    plan = Plan(path, output=output, workspace=workspace)
    plan.check(overwrite=overwrite)
    started = time.perf_counter()
    result = RecipeResult(str(plan.path), plan.name, str(plan.output), str(plan.workspace),
                          datetime.now(timezone.utc).isoformat(timespec="seconds"))
    plan.output.mkdir(parents=True, exist_ok=True)
    try:
        with Workspace(plan.workspace) as ws:
            _Runner(plan, ws, result, force, overwrite, echo).run()
            result.exit_code = 1 if any(g["failed"] for g in result.gates) else 0
            result.status = "gate failed" if result.exit_code else "passed"
    except CurateError as exc:
        result.status, result.error, result.exit_code = "error", str(exc), 2
        echo(f"error: {exc}")
    finally:
        result.seconds = round(time.perf_counter() - started, 2)
        from curate.recipe.report import write_report

        write_report(plan, result)
    return result


class _Runner:
    def __init__(self, plan: Plan, ws: Workspace, result: RecipeResult, force: bool, overwrite: bool, echo):
        self.plan, self.ws, self.result, self.force, self.overwrite, self.echo = plan, ws, result, force, overwrite, echo
        self.recipe = plan.recipe
        self.contexts: dict[str, Any] = {}
        self.reingested: set[str] = set()
        try:
            self.previous = json.loads((plan.output / REPORT_JSON).read_text())
        except (OSError, ValueError):
            self.previous = {}

    def run(self) -> None:
        for i, step in enumerate(self.recipe.ingest):
            self._step("ingest", f"{self.plan.dataset_of(step, 'name')} <- {step.path}", self._ingest, step)
        datasets = list(dict.fromkeys([*(self.plan.dataset_of(s) for s in self.recipe.detect),
                                       *(self.plan.dataset_of(s, "name") for s in self.recipe.ingest
                                         if self._creates(s))]))
        for ds in datasets:
            self._step("embed", ds, self._embed, ds)
        for step in self.recipe.detect:
            self._step("detect", f"{step.detector} on {self.plan.dataset_of(step)}", self._detect, step)
        for ev in self.recipe.evaluate:
            self._step("evaluate", f"{self.plan.dataset_of(ev)} vs {ev.gold}", self._evaluate, ev)
        for step in self.recipe.exports:
            self._step("export", step.name or step.path, self._export, step)
        from curate.recipe.gates import evaluate_gate

        for gate in self.recipe.gates:
            g = evaluate_gate(self.ws, gate, self.result.runs, self.result.exports)
            self.result.gates.append(g)
            self.echo(f"[gate] {g['name']}: {g['value']:g} ({g['condition']}) -> {'FAILED' if g['failed'] else 'passed'}")

    def _step(self, kind: str, name: str, fn, *args) -> None:
        t = time.perf_counter()
        try:
            status, details, line = fn(*args)
        except CurateError as exc:
            self.result.steps.append(Step(kind, name, "failed", round(time.perf_counter() - t, 2), {"error": str(exc)}))
            raise CurateError(f"step {kind} '{name}' failed: {exc}") from None
        seconds = round(time.perf_counter() - t, 2)
        self.result.steps.append(Step(kind, name, status, seconds, details))
        self.echo(f"[{kind}] {name}: {line} ({'reused, ' if status == 'reused' else ''}{seconds:.1f} s)")

    @staticmethod
    def _creates(step: Any) -> bool:
        from curate.ingest.base import REGISTRY

        return REGISTRY[step.format].creates_dataset

    def _ingest(self, step):
        from curate.ingest import ingest

        name = self.plan.dataset_of(step, "name")
        opts = step.options.model_dump(exclude_unset=True)
        paths = [self.plan.resolve(step.path)]
        for key, value in list(opts.items()):
            if key.endswith("_file") and value:
                opts[key] = str(self.plan.resolve(value))
                paths.append(Path(opts[key]))
        fp = input_fingerprint(paths, {"format": step.format, "options": opts, "split": step.split,
                                       "version": __version__})
        creates = self._creates(step)
        key = "input_fingerprint" if creates else f"patch_fingerprint:{step.format}:{paths[0].name}"
        if not self.force and self.ws.has_dataset(name) and name not in self.reingested \
                and self.ws.dataset(name).meta.get(key) == fp:
            return "reused", {"fingerprint": fp}, "input unchanged"
        res = ingest(self.ws, paths[0], step.format, name, split=step.split, replace=True, options=opts)
        if creates:
            self.reingested.add(name)
        self.ws.update_dataset_meta(name, **{key: fp})
        what = ", ".join(f"{v} {k}" for k, v in res.counts.items() if v)
        return "ran", {"counts": res.counts, "splits": res.splits, "fingerprint": fp}, what

    def _embed(self, ds):
        from curate.embed import embed_dataset

        cfg = self.recipe.embed
        r = embed_dataset(self.ws, ds, model=cfg.model, batch_size=cfg.batch_size, backend=cfg.backend, force=cfg.force,
                          engine=self.recipe.engine)
        status = "reused" if r.computed == 0 else "ran"
        return status, asdict(r), f"{r.computed} embedded ({r.backend}), {r.cached} from the cache"

    def _detect(self, step):
        from curate.detect import Context, run_detector

        ds = self.plan.dataset_of(step)
        if ds not in self.contexts:
            self.contexts[ds] = Context(self.ws, ds, model=self.recipe.embed.model, engine=self.recipe.engine)
        r = run_detector(self.ws, ds, step.detector, step.params.model_dump(exclude_unset=True),
                         model=self.recipe.embed.model, force=self.force, ctx=self.contexts[ds])
        run = {"run_id": r.run_id, "detector": r.detector, "dataset": ds, "counts": r.counts, "reused": r.reused}
        self.result.runs.append(run)
        top = self.recipe.report.top_findings
        if top:
            rows = self.ws.con.execute(
                "SELECT f.example_id, f.score, c.label, f.suggested_label, f.reason FROM findings f "
                "JOIN current_examples c ON c.dataset = ? AND c.id = f.example_id WHERE f.run_id = ? AND f.flagged "
                "ORDER BY f.score DESC, f.example_id LIMIT ?", [ds, r.run_id, top]).fetchall()
            self.result.findings[r.run_id] = [dict(zip(("id", "score", "label", "suggested", "reason"), x)) for x in rows]
        c = r.counts
        return ("reused" if r.reused else "ran"), run, f"{c['flagged']} flagged of {c['scored']} scored ({r.run_id})"

    def _evaluate(self, ev):
        from curate.evaluate import evaluate

        ds = self.plan.dataset_of(ev)
        runs = [r["run_id"] for r in self.result.runs if r["dataset"] == ds]
        if not runs:
            raise CurateError(f"no detector run on '{ds}' to evaluate")
        gold = self.plan.resolve(ev.gold)
        rows = evaluate(self.ws, ds, gold, runs, id_field=ev.id_field)
        entry = {"dataset": ds, "gold": ev.gold, "gold_sha256": input_fingerprint([gold], {}), "runs": runs,
                 "results": rows}
        self.result.evaluations.append(entry)
        best = max(rows, key=lambda r: r.get("precision_at_k") or 0)
        # Cheap to recompute; "reused" says the figures cannot differ from the last run's (same runs, same gold).
        same = any(p.get("runs") == runs and p.get("gold_sha256") == entry["gold_sha256"]
                   for p in self.previous.get("evaluations", []))
        return ("reused" if same else "ran"), {"runs": runs}, \
            f"best precision@k {best['precision_at_k']} ({best['detector']})"

    def _export(self, step):
        from curate.export import export

        ds = self.plan.dataset_of(step)
        target = self.plan.export_path(step)
        res = export(self.ws, ds, target, variant=step.variant or "policy", fmt=step.format, run=step.run,
                     policy=step.policy, options=step.options.model_dump(exclude_unset=True),
                     overwrite=self.overwrite or self.plan.inside_output(target),
                     reuse=not self.force)
        s = res.summary
        row = {"name": step.name or step.path, "dataset": ds, "variant": res.variant, "format": res.format,
               "path": str(target), "examples": s["examples"], "exported": s["exported"], "removed": s["removed"],
               "relabelled": s["relabelled"], "by_split": s["by_split"], "reused": res.reused,
               "files": res.files}
        self.result.exports.append(row)
        return ("reused" if res.reused else "ran"), {"path": str(target)}, \
            f"{s['exported']} of {s['examples']} exported, {s['removed']} removed, {s['relabelled']} relabelled"
