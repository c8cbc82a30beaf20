"""Shared helpers for retrieval ingestors: pair rows of (query, passage, positive/negative)."""

from __future__ import annotations

from typing import Any

from curate.ingest.base import Sink, Where, text_hash

POSITIVE, NEGATIVE = "positive", "negative"
# A mined candidate that a margin or score limit kept from being a negative: probably relevant, never exported as
# either until a reviewer labels it (curate mine keeps them for review instead of dropping them silently).
UNJUDGED = "unjudged"


def content_id(prefix: str, text: str) -> str:
    """A stable id for a text that came without one."""
    return f"{prefix}{text_hash(text)[:12]}"


def passage_text(title: str, body: str) -> str:
    """A passage as the encoder reads it: its title (if any) before its text, as BEIR corpora are read."""
    return f"{title} {body}".strip() if title else body


def pair_id(query_id: str, passage_id: str) -> str:
    """The example id of a (query, passage) pair."""
    return f"{query_id}::{passage_id}"


def add_pair(
    sink: Sink, query_id: str, query: str, passage_id: str, passage: str, label: str, where: Where,
    *, split: str | None = None, extra: dict[str, Any] | None = None,
) -> bool:
    """Add one pair unless it is already there; returns False for a repeat."""
    ex_id = pair_id(query_id, passage_id)
    if sink.has_example(ex_id):
        return False
    meta = {"query_id": query_id, "passage_id": passage_id, "query": query, **(extra or {})}
    sink.add_example(ex_id, passage, label, meta, where, split=split, hash_text=passage)
    return True
