"""Review: the queue of findings, one example in focus, decisions single and bulk, and the UI's access layer."""

from curate.review.actions import SUGGESTED, bulk_apply, bulk_preview, decide
from curate.review.example import ExampleView, load_example
from curate.review.queue import (Queue, QueueFilter, build_queue, datasets_with_findings, filter_choices,
                                 next_unreviewed, progress, statuses)
from curate.review.service import ReviewService

__all__ = [
    "SUGGESTED", "ExampleView", "Queue", "QueueFilter", "ReviewService", "build_queue", "bulk_apply",
    "bulk_preview", "datasets_with_findings", "decide", "filter_choices", "load_example", "next_unreviewed",
    "progress", "statuses",
]
