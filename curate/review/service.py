"""The review app's access to a workspace: one short connection per call, so other processes can write too.

DuckDB allows one writing process per file. The app therefore holds the file only while a reviewer is
active: the connection opened by the first call is reused by the calls that follow (opening costs ~30 ms,
a reused one ~1 ms), and released after a second without calls, or after a few seconds of continuous use
with a pause, so a recipe or CLI command waiting for the file (they wait up to $CURATE_LOCK_WAIT) gets in.
A decision that still cannot get the file goes to a journal beside it (fsynced before the call returns) and
is appended to the decisions on the next call that gets in, so a click is never lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from curate.decisions import Decision, record
from curate.errors import CurateError, WorkspaceLocked
from curate.store import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")


IDLE_RELEASE = 1.0  # seconds without a call before the file is released
MAX_HOLD = 5.0  # seconds of continuous use after which the file is released and re-taken after a pause
YIELD_PAUSE = 0.3  # that pause: longer than a waiting process's poll interval


class _Held:
    """One process-wide connection per workspace file, released when idle (see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ws: Workspace | None = None
        self.opened = self.last = 0.0
        self.watcher: threading.Thread | None = None

    def release(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def watch(self) -> None:
        while True:
            time.sleep(0.2)
            with self.lock:
                if self.ws is None:
                    self.watcher = None
                    return
                now = time.monotonic()
                if now - self.last > IDLE_RELEASE or now - self.opened > MAX_HOLD:
                    self.release()


_HELD: dict[str, _Held] = {}
_HELD_LOCK = threading.Lock()


def journal_path(db: str | Path) -> Path:
    """Where decisions wait while another process holds the workspace."""
    return Path(f"{db}.pending.jsonl")


def refused_path(db: str | Path) -> Path:
    """Where journalled decisions the workspace refused when they were applied are kept (with the reason)."""
    return Path(f"{db}.refused.jsonl")


class ReviewService:
    """The UI's workspace access: a connection reused while active and released when idle, with a durable
    journal for decisions made while another process holds the file."""

    def __init__(self, db: str | Path, *, reviewer: str | None = None, wait: float = 3.0) -> None:
        self.db = str(db)
        self.key = str(Path(self.db).resolve())  # one held connection per file, however the path is spelt
        self.reviewer = reviewer
        self.wait = wait

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Workspace]:
        """The workspace for one call (calls of this process are serialised); pending journal entries first."""
        with _HELD_LOCK:
            held = _HELD.setdefault(self.key, _Held())
        with held.lock:
            now = time.monotonic()
            if held.ws is not None and now - held.opened > MAX_HOLD:
                held.release()
                time.sleep(YIELD_PAUSE)  # let a process that waits for the file take it
            if held.ws is None:
                held.ws = Workspace(self.db, wait=self.wait)
                held.opened = time.monotonic()
            if held.watcher is None:
                held.watcher = threading.Thread(target=held.watch, daemon=True, name="curate-release")
                held.watcher.start()
            try:
                self._flush(held.ws)
                yield held.ws
            finally:
                held.last = time.monotonic()

    def release(self) -> None:
        """Close this process's connection to the workspace now (it reopens on the next call)."""
        held = _HELD.get(self.key)
        if held is not None:
            with held.lock:
                held.release()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn(workspace, *args, **kwargs) on this process's connection to the workspace."""
        with self.workspace() as ws:
            return fn(ws, *args, **kwargs)

    def pending(self) -> int:
        """How many journalled decisions wait for the workspace."""
        path = journal_path(self.db)
        return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0

    def journal(self, dataset: str, decision: Decision, *, source: str) -> None:
        """Append a decision to the journal and fsync it (used when the workspace stays busy)."""
        entry = {"dataset": dataset, "example_id": decision.example_id, "action": decision.action,
                 "new_label": decision.new_label, "note": decision.note, "reviewer": self.reviewer,
                 "source": source, "at": datetime.now(timezone.utc).isoformat()}
        with open(journal_path(self.db), "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def decide(self, dataset: str, example_id: str, action: str, *, new_label: str | None = None,
               note: str | None = None, **kwargs: Any) -> int | None:
        """Record a UI decision (see review.actions.decide); if the workspace stays locked, journal it and
        return None instead of a seq."""
        from curate.review.actions import decide

        try:
            with self.workspace() as ws:
                return decide(ws, dataset, example_id, action, new_label=new_label, note=note,
                              reviewer=self.reviewer, source="ui", **kwargs)
        except WorkspaceLocked:
            self.journal(dataset, Decision(example_id, action, new_label, note), source="ui")
            log.warning("workspace %s busy: decision on %s journalled", self.db, example_id)
            return None

    def _flush(self, ws: Workspace) -> None:
        path = journal_path(self.db)
        if not path.exists():
            return
        with open(path, "r+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            entries = [json.loads(line) for line in fh.read().splitlines() if line.strip()]
            refused = []
            for e in entries:  # one at a time: a decision the workspace refuses must not hold up the rest
                note = ((e.get("note") or "") + f" (journalled {e['at'][:19]})").strip()
                try:
                    record(ws, e["dataset"], [Decision(e["example_id"], e["action"], e["new_label"], note)],
                           reviewer=e["reviewer"], source=e["source"])
                except CurateError as exc:
                    refused.append({**e, "refused": str(exc)})
                    log.warning("journalled decision on %s refused: %s", e["example_id"], exc)
            if refused:  # kept, never lost: beside the workspace for a person to look at
                with open(refused_path(self.db), "a", encoding="utf-8") as out:
                    out.writelines(json.dumps(r) + "\n" for r in refused)
            fh.seek(0)
            fh.truncate()
        path.unlink(missing_ok=True)
        if entries:
            log.info("applied %d journalled decisions (%d refused)", len(entries) - len(refused), len(refused))
