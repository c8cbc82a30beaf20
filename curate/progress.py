"""One progress helper over tqdm: on for terminals, silent in CI unless asked, with an optional callback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from typing import Iterator

from tqdm.auto import tqdm

ProgressCallback = Callable[[str, int, int | None], None]

_forced: bool | None = None
_callback: ProgressCallback | None = None


def configure(*, enabled: bool | None = None, callback: ProgressCallback | None = None) -> None:
    """Force bars on/off (None: automatic) and set a callback (stage, done, total) such as a UI progress bar."""
    global _forced, _callback
    _forced, _callback = enabled, callback


def _enabled() -> bool:
    if _forced is not None:
        return _forced
    if os.environ.get("CURATE_PROGRESS"):
        return os.environ["CURATE_PROGRESS"] not in ("0", "false", "no")
    return sys.stderr.isatty() and not os.environ.get("CI")


class Progress:
    """A counter that feeds a tqdm bar and the callback."""

    def __init__(self, stage: str, total: int | None, unit: str) -> None:
        self.stage, self.total, self.done = stage, total, 0
        self.bar = tqdm(total=total, desc=stage, unit=unit, disable=not _enabled(), leave=False, file=sys.stderr)

    def update(self, n: int) -> None:
        """Advance by n."""
        self.done += n
        self.bar.update(n)
        if _callback is not None:
            _callback(self.stage, self.done, self.total)


@contextmanager
def progress(stage: str, total: int | None = None, unit: str = "it") -> Iterator[Progress]:
    """Context manager yielding a Progress for one stage of long work."""
    p = Progress(stage, total, unit)
    try:
        yield p
    finally:
        p.bar.close()


def enabled() -> bool:
    """Whether progress bars show (a terminal, or forced on)."""
    return _enabled()


def stage_line(stage: str, text: str) -> None:
    """One line saying what a finished stage did (counts, seconds): where bars are off, as in CI logs, this is the
    progress a reader sees; with bars on it goes to the callback only."""
    if _callback is not None:
        _callback(stage, 1, 1)
    if not _enabled():
        print(f"{stage}: {text}", file=sys.stderr, flush=True)
