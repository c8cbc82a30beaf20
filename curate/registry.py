"""One way to register plug-ins (ingestors, detectors, exporters) by name, and to report their options' errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

T = TypeVar("T")


def load_plugins(package: str, path: list[str]) -> None:
    """Import every module of a plug-in package, so each registers itself: a new plug-in is its own module only."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


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


def instantiate(registry: dict[str, Any], name: str, kind: str, options_model: str, options: dict[str, Any] | None,
                unknown: str) -> tuple[Any, Any]:
    """The plug-in registered as name and its validated options model (class attribute options_model);
    an unknown name or a bad option raises CurateError naming the kind ('format', 'detector', ...)."""
    from curate.errors import CurateError

    if name not in registry:
        raise CurateError(f"unknown {kind} '{name}'; known: {', '.join(sorted(registry))}")
    plugin = registry[name]()
    try:
        return plugin, getattr(plugin, options_model)(**(options or {}))
    except ValidationError as exc:
        raise CurateError(f"{kind} '{name}': {option_problems(exc, unknown)}") from None


def option_problems(exc: ValidationError, unknown: str) -> str:
    """A pydantic error as one line: each bad option with what is wrong (`unknown` for keys that do not exist)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: "
                     + (unknown if e["type"] == "extra_forbidden" else e["msg"]) for e in exc.errors())
