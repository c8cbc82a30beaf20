"""A recipe file made ready to run: parsed and validated, ${VAR}s expanded, paths resolved, and checked against the
workspace before anything runs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.recipe.schema import RecipeError, locate, parse_recipe
from curate.store import Workspace

REPORT_JSON = "report.json"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any) -> Any:
    """${VAR} and ${VAR:-default} in string values (never re-parsed as YAML); an empty result becomes null."""
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, str) and "${" in value:
        out = _ENV.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
        return out or None
    return value


class Plan:
    """A validated recipe with its paths resolved; check() finds what would fail before anything runs."""

    def __init__(self, path: str | Path, *, output: str | Path | None = None, workspace: str | Path | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise RecipeError(self.path, "no such recipe file")
        text = self.path.read_text(encoding="utf-8")
        self.recipe, self.node = parse_recipe(self.path, text, transform=expand_env)
        self.base = self.path.resolve().parent
        self.name = self.recipe.name or self.path.stem
        self.output = Path(output) if output else (self.resolve(self.recipe.output) if self.recipe.output
                                                   else Path("out") / self.name)
        self.workspace = Path(workspace) if workspace else (self.resolve(self.recipe.workspace)
                                                            if self.recipe.workspace else self.output / "curate.duckdb")

    def resolve(self, p: str) -> Path:
        """A recipe path: relative to the recipe's folder."""
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else self.base / q

    def error(self, loc: tuple[Any, ...], message: str) -> RecipeError:
        """A RecipeError at the line of loc."""
        line, where = locate(self.node, loc)
        return RecipeError(self.path, f"{'.'.join(where)}: {message}" if where else message, line)

    def dataset_of(self, step: Any, key: str = "dataset") -> str:
        """The dataset a step works on."""
        return getattr(step, key) or self.recipe.dataset

    def check(self, *, overwrite: bool = False) -> None:
        """Everything that can be known before running: inputs exist, detectors fit the tasks, gates resolve."""
        from curate.detect.base import REGISTRY as DETECTORS
        from curate.export.base import REGISTRY as EXPORTERS
        from curate.export.variants import variant_policy
        from curate.ingest import make_options, task_of

        tasks: dict[str, str] = {}
        if self.workspace.exists():
            try:
                with Workspace(self.workspace, read_only=True, wait=1) as ws:
                    tasks = {d["name"]: d["task"] for d in ws.datasets()}
            except CurateError:
                pass
        for i, step in enumerate(self.recipe.ingest):
            src = self.resolve(step.path)
            if not src.exists():
                raise self.error(("ingest", i, "path"), f"no such file or folder: {src}")
            for key, value in step.options.model_dump().items():
                if key.endswith("_file") and value and not self.resolve(value).exists():
                    raise self.error(("ingest", i, "options", key), f"no such file: {self.resolve(value)}")
            ingestor, opts = make_options(step.format, step.options.model_dump(exclude_unset=True))
            if ingestor.creates_dataset:
                tasks[self.dataset_of(step, "name")] = task_of(ingestor, opts, step.format, src)
        for i, step in enumerate(self.recipe.detect):
            ds = self.dataset_of(step)
            task = tasks.get(ds)
            if task is None:
                raise self.error(("detect", i), f"dataset '{ds}' is neither ingested by this recipe nor in "
                                 f"{self.workspace}")
            if task not in DETECTORS[step.detector].tasks:
                raise self.error(("detect", i, "detector"), f"'{step.detector}' works on "
                                 f"{' or '.join(DETECTORS[step.detector].tasks)} datasets; '{ds}' is {task}")
        for i, ev in enumerate(self.recipe.evaluate):
            if not self.resolve(ev.gold).is_file():
                raise self.error(("evaluate", i, "gold"), f"no such file: {self.resolve(ev.gold)}")
        names = set()
        for i, step in enumerate(self.recipe.exports):
            ds = self.dataset_of(step)
            if ds not in tasks:
                raise self.error(("exports", i), f"dataset '{ds}' is neither ingested by this recipe nor in "
                                 f"{self.workspace}")
            if tasks[ds] not in EXPORTERS[step.format].tasks:
                raise self.error(("exports", i, "format"), f"format '{step.format}' exports "
                                 f"{' or '.join(EXPORTERS[step.format].tasks)} datasets; '{ds}' is {tasks[ds]}")
            if step.variant is not None:
                try:
                    variant_policy(step.variant, step.run)
                except CurateError as exc:
                    raise self.error(("exports", i, "variant"), str(exc)) from None
            names.add(step.name or step.path)
            target = self.export_path(step)
            if target.exists() and not self.inside_output(target) and not overwrite and not _ours(target):
                raise self.error(("exports", i, "path"), f"{target} exists; pass --overwrite to replace it")
        for i, gate in enumerate(self.recipe.gates):
            cond = gate.fail_if
            if hasattr(cond, "export") and cond.export not in names:
                raise self.error(("gates", i, "fail_if", "export"), f"no export named '{cond.export}' "
                                 f"(exports: {', '.join(sorted(names)) or 'none'})")
            detector = getattr(cond, "detector", None)
            if detector and not any(s.detector == detector and (cond.dataset is None or self.dataset_of(s) == cond.dataset)
                                    for s in self.recipe.detect):
                raise self.error(("gates", i, "fail_if"), f"needs a '{detector}' step in detect")
        if self.output.exists() and not overwrite and not _report_of(self.output, self.name):
            raise RecipeError(self.path, f"output folder {self.output} exists and holds no report of recipe "
                              f"'{self.name}'; pass --overwrite to use it anyway or --out to pick another")

    def export_path(self, step: Any) -> Path:
        """Where an export goes: relative paths land in the output folder."""
        p = Path(os.path.expanduser(step.path))
        return p if p.is_absolute() else self.output / p

    def inside_output(self, p: Path) -> bool:
        """Whether p lies in the recipe's own output folder."""
        return self.output.resolve() in p.resolve().parents


def _report_of(output: Path, name: str) -> bool:
    try:
        return json.loads((output / REPORT_JSON).read_text())["name"] == name
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _ours(target: Path) -> bool:
    return (target / "manifest.json").is_file()
