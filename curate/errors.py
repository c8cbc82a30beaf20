"""Typed user-facing errors; the CLI turns each into one line and exit code 2."""

from __future__ import annotations

from pathlib import Path


class CurateError(Exception):
    """A problem the user can fix (bad input, wrong option, busy workspace)."""

    exit_code = 2


class InputError(CurateError):
    """Bad input data, located by file, line or record, and field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        record: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.record = record
        self.field = field
        self.reason = message
        where = []
        if self.path:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(f"record {record}")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class WorkspaceLocked(CurateError):
    """The DuckDB file is held by another writer process."""


class NotFound(CurateError):
    """A named dataset, run or model does not exist."""
