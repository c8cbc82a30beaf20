"""One way to register plug-ins (ingestors, detectors, exporters) by name, and to report their options' errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

T = TypeVar("T")


def registrar(registry: dict[str, Any], kind: str) -> Callable[[T], T]:
    """A class decorator adding a class to registry under its `name`; a second class of that name is an error."""

    def register(cls: T) -> T:
        name = cls.name  # type: ignore[attr-defined]
        if name in registry:
            raise ValueError(f"{kind} '{name}' registered twice")
        registry[name] = cls
        return cls

    register.__doc__ = f"Class decorator adding a {kind} to the registry under its name."
    return register


def option_problems(exc: ValidationError, unknown: str) -> str:
    """A pydantic error as one line: each bad option with what is wrong (`unknown` for keys that do not exist)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: "
                     + (unknown if e["type"] == "extra_forbidden" else e["msg"]) for e in exc.errors())
