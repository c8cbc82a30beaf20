"""Every st.session_state key the review app uses, named once, and the URL (query params) it keeps in sync.

The URL holds the dataset, the queue filter and the example in focus, so a browser refresh or a server
restart comes back to the same queue; everything that matters beyond that is in the workspace itself.
"""

from __future__ import annotations

import json

import streamlit as st
from pydantic import ValidationError

from curate.review import QueueFilter

REVIEWER = "rv_reviewer"  # who decides
DATASET = "rv_dataset"  # dataset select
FILTER = "rv_filter"  # the QueueFilter in force
QUEUE = "rv_queue"  # (filter key, Queue) as built
FOCUS = "rv_focus"  # example id in focus
SEEN = "rv_seen"  # example id -> latest decision seq shown to the reviewer (conflict check)
CONFLICT = "rv_conflict"  # a pending overwrite: {"action", "label", "message"}
NEW_LABEL = "rv_new_label"  # a relabel waiting for "yes, it is a new label"
FLASH = "rv_flash"  # one-line message shown after an action
BULK = "rv_bulk"  # the previewed bulk action waiting for confirmation
LAST_BATCH = "rv_last_batch"  # the last bulk batch id (undo as one step)
SIMILAR = "rv_similar"  # find-similar result for the focus
NOTE = "rv_note"  # note text input
PICK = "rv_pick"  # relabel picker
TYPED = "rv_typed_label"  # a label typed by hand (may be new)
LABELS = "rv_labels"  # the dataset's labels as the focus panel last loaded them (for the bulk panel)
APPLIED = "rv_keys_applied"  # nonce of the last key press from the focus card that was applied
MINE = "rv_mine"  # example id -> seq of this session's latest decision on it (not a conflict with ourselves)


def filter_from_url(default_dataset: str) -> QueueFilter:
    """The queue filter the URL names, or the default queue of a dataset."""
    raw = st.query_params.get("q")
    if raw:
        try:
            return QueueFilter.model_validate_json(raw)
        except (ValidationError, ValueError):
            pass
    return QueueFilter(dataset=st.query_params.get("ds", default_dataset))


def sync_url(flt: QueueFilter, focus: str | None) -> None:
    """Write the queue and the focus into the URL (only when they changed: every write is a browser event)."""
    wanted = {"q": json.dumps(flt.model_dump(exclude_defaults=True) | {"dataset": flt.dataset},
                              separators=(",", ":"), sort_keys=True)}
    if focus:
        wanted["id"] = focus
    if {k: st.query_params.get(k) for k in ("q", "id")} != {**{"id": None}, **wanted}:
        st.query_params.from_dict(wanted)
