"""What a recipe run did, step by step: the types the runner fills and the report reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from curate.version import __version__


@dataclass
class Step:
    """One step's outcome, for the log line and the report."""

    kind: str
    name: str
    status: str  # ran | reused | failed
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecipeResult:
    """Everything a recipe run did: steps, runs, evaluations, exports, gates and the exit code."""

    recipe: str
    name: str
    output: str
    workspace: str
    started_at: str
    status: str = "running"
    exit_code: int = 2
    seconds: float = 0.0
    error: str | None = None
    steps: list[Step] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    exports: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    curate_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """The report.json content."""
        return asdict(self)
