"""The recipe schema, built from the registries: each ingest format, detector and export format brings its own
options model, so an unknown key or a bad value is caught before anything runs, with its line in the file."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, ValidationInfo, create_model,
                      field_validator, model_validator)

from curate.backends import BACKENDS
from curate.engine.options import EngineOptions
from curate.encode import BATCH_SIZE
from curate.errors import CurateError

_CONDITION = re.compile(r"^\s*(<=|>=|<|>|==|!=)\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")


class RecipeError(CurateError):
    """A recipe that cannot be read or is not valid: names the file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path, self.line, self.reason = str(path), line, message
        super().__init__(f"{path}{f', line {line}' if line else ''}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def parse_condition(text: Any) -> tuple[str, float]:
    """A comparison such as '> 0.05', '<= 10' or '> 5%' as (operator, number); percentages become shares."""
    m = _CONDITION.match(str(text))
    if not m:
        raise ValueError(f"expected a comparison such as '> 0.05' or '<= 10', got {text!r}")
    return m.group(1), float(m.group(2)) / (100 if m.group(3) else 1)


class _MetricGate(_Strict):
    """A gate on exactly one of its METRICS, each a comparison such as '> 0.05'."""

    METRICS: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _condition(cls, v: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.METRICS and v is not None:
            parse_condition(v)  # per field, so a bad comparison names its own key
            return str(v)
        return v

    @model_validator(mode="after")
    def _one_metric(self) -> _MetricGate:
        if len(self.METRICS) > 1 and sum(getattr(self, m) is not None for m in self.METRICS) != 1:
            raise ValueError(f"give exactly one of {', '.join(self.METRICS)}")
        return self

    @property
    def metric(self) -> tuple[str, str]:
        """(the metric gated, its condition text)."""
        name = next(m for m in self.METRICS if getattr(self, m) is not None)
        return name, getattr(self, name)


class DetectorGate(_MetricGate):
    """Fail when a detector's run crosses a limit."""

    METRICS = ("flagged_share", "flagged", "mean_score")
    detector: str
    dataset: str | None = None
    flagged_share: str | None = None
    flagged: str | None = None
    mean_score: str | None = None


class LeakGate(_MetricGate):
    """Fail on copies of examples across train and an evaluation split (from a near-duplicates run)."""

    METRICS = ("leaks",)
    leaks: str
    dataset: str | None = None

    @property
    def detector(self) -> str:
        """The detector whose run the leak count reads."""
        from curate.detect.near_duplicates import NearDuplicates

        return NearDuplicates.name


class ExportGate(_MetricGate):
    """Fail when an export changes too much of its dataset."""

    METRICS = ("removed_share", "relabelled_share", "changed_share")
    export: str = Field(description="the export's name (its path when unnamed)")
    removed_share: str | None = None
    relabelled_share: str | None = None
    changed_share: str | None = None


class Gate(_Strict):
    """A named check for CI: the recipe exits 1 when one fails."""

    name: str | None = None
    fail_if: Annotated[Union[Annotated[DetectorGate, Tag("detector gate")], Annotated[LeakGate, Tag("leaks gate")],
                             Annotated[ExportGate, Tag("export gate")]],
                       Discriminator(lambda v: next((f"{k} gate" for k in ("detector", "leaks", "export")
                                                     if isinstance(v, dict) and k in v or hasattr(v, k)), None),
                                     custom_error_type="gate_kind",
                                     custom_error_message="a gate names a 'detector', 'leaks' or an 'export'")]


class Embed(_Strict):
    """Embedding: which model, and whether to embed every ingested dataset or only those detectors use."""

    model: str | None = None
    batch_size: int = Field(BATCH_SIZE, ge=1, description="texts per forward pass")
    backend: Literal[BACKENDS] = Field(
        "auto", description="auto keeps a dataset's backend, else torch-fp16 on a GPU, else onnx fp32 when "
        "onnxruntime is installed, else torch")
    force: bool = Field(False, description="use a backend even when it fails the quality guard against torch")


class Evaluate(_Strict):
    """Measure the recipe's runs against a file of known errors ({id, true_label} per line)."""

    dataset: str | None = None
    gold: str
    id_field: str = Field("id", description="the gold file's field holding example ids")


class Report(_Strict):
    """What the report holds."""

    title: str | None = None
    plots: bool = True
    top_findings: int = Field(5, ge=0, description="findings listed per detector run")


@lru_cache(maxsize=1)
def step_models() -> tuple[Any, Any, Any]:
    """Ingest, detect and export step models: one variant per registered format / detector."""
    from curate.detect.base import REGISTRY as DETECTORS
    from curate.export.base import REGISTRY as EXPORTERS
    from curate.export.variants import Policy
    from curate.ingest.base import REGISTRY as INGESTORS

    def union(models: list[Any], key: str) -> Any:
        return Annotated[Union[tuple(models)], Field(discriminator=key)]

    ingest = [create_model(
        f"Ingest_{name}", __base__=_Strict, format=(Literal[name], ...), path=(str, ...),
        name=(str | None, Field(None, description="dataset name (default: the recipe's dataset)")),
        split=(str | None, None), options=(cls.Options, Field(default_factory=cls.Options)))
        for name, cls in sorted(INGESTORS.items())]
    detect = [create_model(
        f"Detect_{name}", __base__=_Strict, detector=(Literal[name], ...), dataset=(str | None, None),
        params=(cls.Params, Field(default_factory=cls.Params)))
        for name, cls in sorted(DETECTORS.items())]
    export = [create_model(
        f"Export_{name}", __base__=_Strict, format=(Literal[name], ...), path=(str, ...),
        name=(str | None, None), dataset=(str | None, None), variant=(str | None, None),
        run=(str | None, None), policy=(Policy | None, None),
        options=(cls.Options, Field(default_factory=cls.Options)))
        for name, cls in sorted(EXPORTERS.items())]
    return union(ingest, "format"), union(detect, "detector"), union(export, "format")


@lru_cache(maxsize=1)
def recipe_model() -> type[BaseModel]:
    """The whole recipe's pydantic model."""
    IngestStep, DetectStep, ExportStep = step_models()  # noqa: N806

    class Recipe(_Strict):
        """A pipeline run headlessly: ingest, embed, detect, evaluate, export, report, gates."""

        version: Literal[1] = 1
        name: str | None = None
        description: str | None = None
        dataset: str | None = Field(None, description="the dataset steps use unless they name one")
        workspace: str | None = Field(None, description="DuckDB file (default: <output>/curate.duckdb)")
        output: str | None = Field(None, description="folder for the report and relative export paths "
                                   "(default: out/<name> beside the recipes folder's parent)")
        ingest: list[IngestStep] = Field(default_factory=list)
        engine: EngineOptions = Field(default_factory=EngineOptions, description="where embedding and the "
                                      "neighbour searches run: local, or ray with its settings (docs/scale.md)")
        embed: Embed = Field(default_factory=Embed)
        detect: list[DetectStep] = Field(default_factory=list)
        evaluate: list[Evaluate] = Field(default_factory=list)
        exports: list[ExportStep] = Field(default_factory=list)
        report: Report = Field(default_factory=Report)
        gates: list[Gate] = Field(default_factory=list)

        @model_validator(mode="after")
        def _datasets_named(self) -> Recipe:
            for kind, steps in (("ingest", self.ingest), ("detect", self.detect), ("exports", self.exports)):
                for i, step in enumerate(steps):
                    if getattr(step, "dataset" if kind != "ingest" else "name") is None and self.dataset is None:
                        raise ValueError(f"{kind}[{i}] names no dataset and the recipe sets no 'dataset'")
            for i, step in enumerate(self.exports):
                if (step.variant is None) == (step.policy is None):
                    raise ValueError(f"exports[{i}]: give either 'variant' or 'policy'")
            return self

    return Recipe


def load_recipe(path: str | Path, text: str | None = None, transform: Any = None) -> Any:
    """Parse (safe loader) and validate a recipe; every problem raises RecipeError with the file and line."""
    return parse_recipe(path, text, transform)[0]


def parse_recipe(path: str | Path, text: str | None = None, transform: Any = None) -> tuple[Any, Any]:
    """The validated recipe and its YAML node tree (for the lines of later errors), from one parse."""
    path = Path(path)
    if text is None:
        if not path.is_file():
            raise RecipeError(path, "no such recipe file")
        text = path.read_text(encoding="utf-8")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RecipeError(path, f"not valid YAML: {exc.problem or exc.context}",
                          mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise RecipeError(path, "a recipe is a mapping of sections (ingest, detect, exports, gates, ...)", 1)
    if transform is not None:
        data = transform(data)
    try:
        return recipe_model().model_validate(data), node
    except ValidationError as exc:
        first = exc.errors()[0]
        line, where = locate(node, first["loc"])
        raise RecipeError(path, _message(first, where), line) from None


def _message(err: dict[str, Any], path: list[str]) -> str:
    loc = ".".join(path)
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    if err["type"] == "union_tag_invalid":
        ctx = err.get("ctx", {})
        what = "detector" if ctx.get("discriminator") == "'detector'" else "format"
        return f"{loc}: unknown {what} '{str(ctx.get('tag')).strip(chr(39))}'; known: {ctx.get('expected_tags')}"
    if err["type"] == "union_tag_not_found":
        return f"{loc}: needs a '{err.get('ctx', {}).get('discriminator', '').strip(chr(39))}' key"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def locate(node: Any, loc: tuple[Any, ...]) -> tuple[int | None, list[str]]:
    """The 1-based line of the deepest YAML node an error location reaches, and the location as YAML keys
    (pydantic also puts the chosen format or detector in the location; it is not a key of the file)."""
    if node is None:
        return None, [str(p) for p in loc]
    line = node.start_mark.line + 1
    path: list[str] = []
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                tags = {v.value for k, v in node.value if k.value in ("format", "detector")
                        and isinstance(v, yaml.ScalarNode)} | {"detector gate", "leaks gate", "export gate"}
                if part not in tags:
                    path.append(str(part))
                continue
            key, node = match
            line = key.start_mark.line + 1
            path.append(str(part))
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
            path.append(str(part))
    return line, path


def json_schema() -> dict[str, Any]:
    """The recipe's JSON Schema, for editors."""
    return recipe_model().model_json_schema()
