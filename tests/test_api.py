"""One documented Python API under the CLI: every command maps to a call in docs/api.md, and every call exists,
is exported by the package and says what it does (as sqlite-utils documents its CLI against its Python API)."""

from __future__ import annotations

import re
from pathlib import Path

from curate import api
from curate.cli import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _table() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `curate ([\w-]+)` \| (.+) \|$", line)
        if m:
            rows[m.group(1)] = re.findall(r"`(curate\.[\w.]+)`", m.group(2))
    return rows


def _resolve(dotted: str) -> object:
    assert dotted.startswith("curate.api."), dotted
    obj: object = api
    for part in dotted.split(".")[2:]:
        obj = getattr(obj, part)
    return obj


def test_every_cli_command_maps_to_a_documented_python_call():
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    table = _table()
    assert len(commands) >= 20
    assert sorted(commands - set(table)) == [], "commands missing from docs/api.md"
    assert sorted(set(table) - commands) == [], "docs/api.md names commands that do not exist"
    for command, calls in table.items():
        assert calls, f"{command}: no Python call named"
        for dotted in calls:
            target = _resolve(dotted)
            if callable(target):
                assert (target.__doc__ or "").strip(), f"{dotted} has no docstring"


def test_the_facade_exports_what_it_names():
    assert len(api.__all__) == len(set(api.__all__)) >= 40
    for name in api.__all__:
        assert getattr(api, name) is not None, name
