"""Everything one draw of the review page reads, in one call (one short connection)."""

from __future__ import annotations

from dataclasses import dataclass

from curate.decisions import label_set
from curate.review.example import ExampleView, load_example
from curate.review.queue import Queue, progress
from curate.store import Workspace


@dataclass
class PageState:
    """Progress of the queue, the example in focus (if any) and the labels a reviewer can pick."""

    progress: dict
    view: ExampleView | None
    labels: list[str]


def page_state(ws: Workspace, queue: Queue, focus: str | None, *, reviewer: str | None = None) -> PageState:
    """Read what the review page draws: progress and live precision, the focus example, the label set."""
    view = load_example(ws, queue.filter.dataset, focus) if focus else None
    return PageState(progress(ws, queue, reviewer=reviewer), view, label_set(ws, queue.filter.dataset))
