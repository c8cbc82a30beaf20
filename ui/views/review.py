"""The review page: the queue, one example in focus with its evidence, and the actions on it.

Every action is a button with a key, and a keyboard shortcut handled by the focus card (which draws the next
example in the browser at once); both append one decision through curate.review (nothing is decided in this
file) and move on to the next unreviewed example.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from curate.decisions import Conflict, NewLabel, undo_batch, undo_last
from curate.errors import CurateError
from curate.review import (SUGGESTED, QueueFilter, ReviewService, build_queue, bulk_apply, bulk_preview,
                           next_unreviewed)
from curate.review.cards import cards
from curate.review.page import page_state
from curate.feedback import LEARN_EVERY, Learned
from curate.review.queue import Queue
from curate.similar import similar
# Relative: a checkout imports this package as ui, an installed wheel as curate._ui.
from .. import state as S
from ..components.evidence import render_findings
from ..components.filters import render_filters
from ..components.focus_card import pressed, render_card

SHORTCUTS = [("K", "keep"), ("A", "accept the suggested label"), ("L", "relabel to the picked label"),
             ("D", "remove"), ("S", "skip"), ("N", "next"), ("P", "previous"), ("U", "undo your last step")]


def current_queue(svc: ReviewService, flt: QueueFilter, *, rebuild: bool = False) -> Queue:
    """The queue of a filter, built once and kept while the filter stays the same."""
    cached = st.session_state.get(S.QUEUE)
    if rebuild or cached is None or cached[0] != flt.key():
        q = svc.call(build_queue, flt)
        st.session_state[S.QUEUE] = (flt.key(), q)
        return q
    return cached[1]


def _advance(svc: ReviewService, q: Queue, start: int, step: int = 1) -> None:
    pos = svc.call(next_unreviewed, q, start, step=step)
    if pos is None and step > 0:
        pos = svc.call(next_unreviewed, q, 0)  # wrap: skipped ones further up are still to do
    st.session_state[S.FOCUS] = q.ids[pos] if pos is not None else None


def _act(svc: ReviewService, q: Queue, action: str, label: str | None = None, *, force: bool = False,
         new_ok: bool = False, key: dict | None = None) -> None:
    """Callback of every decision button and key: append the decision, then move to the next unreviewed
    example. key is the browser's record of a key press (example, the decision seq its card showed, and the
    card it already moved to); a conflict, new label or error keeps the example in focus with its prompt."""
    eid = key["id"] if key else st.session_state.get(S.FOCUS)
    if eid is None:
        return
    st.session_state[S.FOCUS] = eid
    note = st.session_state.get(S.NOTE) or None
    seen = key["seq"] if key else st.session_state.get(S.SEEN, {}).get(eid)
    expected = {} if force else {"expected_seq": seen}
    st.session_state[S.CONFLICT] = st.session_state[S.NEW_LABEL] = None
    try:
        seq = svc.decide(q.filter.dataset, eid, action, new_label=label, note=note, allow_new_label=new_ok,
                         **expected)
    except Conflict as exc:
        st.session_state[S.CONFLICT] = {"action": action, "label": label, "message": str(exc)}
        return
    except NewLabel as exc:
        st.session_state[S.NEW_LABEL] = {"action": action, "label": label, "message": str(exc)}
        return
    except CurateError as exc:
        st.session_state[S.FLASH] = ("error", str(exc))
        return
    what = action + (f" → {label}" if label else "")
    if seq is not None:
        st.session_state.setdefault(S.MINE, {})[eid] = seq
    if seq is None:
        st.session_state[S.FLASH] = ("warning", f"{eid}: {what} saved to the journal (the workspace is busy; it is "
                                                f"applied as soon as it frees)")
    else:
        st.session_state[S.FLASH] = ("success", f"{eid}: {what}")
    st.session_state[S.NOTE] = st.session_state[S.TYPED] = ""
    st.session_state[S.PICK] = None
    st.session_state[S.SIMILAR] = None
    if key and q.position(key.get("to")) is not None:
        st.session_state[S.FOCUS] = key["to"]  # where the browser already is
    else:
        pos = q.position(eid)
        _advance(svc, q, (pos + 1) if pos is not None else 0)


def _move(q: Queue, step: int, key: dict | None = None) -> None:
    """Next / previous / skip: the neighbouring example in queue order (skip leaves it unreviewed)."""
    if key and q.position(key.get("to")) is not None:
        st.session_state[S.FOCUS] = key["to"]  # where the browser already is
    else:
        pos = q.position(key["id"] if key else st.session_state.get(S.FOCUS))
        pos = -1 if pos is None and step > 0 else (pos if pos is not None else len(q))
        target = pos + step
        if 0 <= target < len(q):
            st.session_state[S.FOCUS] = q.ids[target]
    st.session_state[S.SIMILAR] = None
    st.session_state[S.CONFLICT] = st.session_state[S.NEW_LABEL] = None


def _undo(svc: ReviewService, dataset: str) -> None:
    try:
        done = svc.call(undo_last, dataset, reviewer=svc.reviewer)
    except CurateError as exc:
        st.session_state[S.FLASH] = ("error", str(exc))
        return
    if done is None:
        st.session_state[S.FLASH] = ("info", "nothing of yours left to undo")
    elif "batch" in done:
        st.session_state[S.FLASH] = ("success", _batch_undone(done["batch"], done))
    else:
        st.session_state[S.FOCUS] = done["example_id"]
        st.session_state[S.FLASH] = ("success", f"undid your decision on {done['example_id']}")


def _on_keys(svc: ReviewService, q: Queue) -> None:
    """Apply the key presses the browser sent, in order and once each. While an example waits for the
    reviewer's answer (a conflict, a new label), keys on other examples are dropped and counted, so the prompt
    cannot be swept away by keys pressed after it; undo and keys on that example still go through."""
    applied = st.session_state.get(S.APPLIED, 0)
    todo = [a for a in pressed() if a.get("nonce", 0) > applied]
    dropped = 0
    for a in todo:
        st.session_state[S.APPLIED] = a["nonce"]
        kind = a.get("kind")
        waiting = st.session_state.get(S.CONFLICT) or st.session_state.get(S.NEW_LABEL)
        if waiting and kind != "undo" and a.get("id") != st.session_state.get(S.FOCUS):
            dropped += 1
            continue
        # Our own decision since the card was drawn is not someone else's: expect its seq, not the card's.
        mine = st.session_state.setdefault(S.MINE, {}).get(a.get("id"))
        if mine is not None and (a.get("seq") is None or mine > a["seq"]):
            a = {**a, "seq": mine}
        if kind in ("keep", "remove"):
            _act(svc, q, kind, key=a)
        elif kind == "accept" and a.get("label"):
            _act(svc, q, "relabel", a["label"], key=a)
        elif kind == "relabel":
            target = (st.session_state.get(S.TYPED) or "").strip() or st.session_state.get(S.PICK)
            if target:
                _act(svc, q, "relabel", target, key=a)
        elif kind in ("next", "skip", "prev"):
            _move(q, -1 if kind == "prev" else 1, key=a)
        elif kind == "undo":
            _undo(svc, q.filter.dataset)
    if dropped:
        st.session_state[S.FLASH] = ("warning", f"{dropped} key press{'es' if dropped > 1 else ''} not applied: "
                                                "this example needs your answer first")


def _open(example_id: str) -> None:
    st.session_state[S.FOCUS] = example_id
    st.session_state[S.SIMILAR] = None


def render(svc: ReviewService, datasets: list[str]) -> None:
    """Draw the review page for the chosen dataset and filter."""
    flt = render_filters(svc, datasets)
    q = current_queue(svc, flt)
    st.sidebar.caption("runs: " + ", ".join(f"{k} ({r[-13:]})" for r, k in q.runs.items()))
    if S.FOCUS not in st.session_state or st.session_state.get("rv_focus_for") != flt.key():
        # A new queue (or a fresh page): the URL's example if it belongs here, else the first unreviewed one.
        wanted = st.query_params.get("id")
        pos = q.position(wanted)
        st.session_state[S.FOCUS] = wanted if pos is not None else None
        if st.session_state[S.FOCUS] is None:
            _advance(svc, q, 0)
        st.session_state["rv_focus_for"] = flt.key()
    focus_panel(svc, flt)
    render_bulk(svc, q, st.session_state.get(S.LABELS, []))


@st.fragment
def focus_panel(svc: ReviewService, flt: QueueFilter) -> None:
    """Progress, the example in focus, its actions and evidence. A fragment: a decision, a key press or an
    opened neighbour reruns only this part, not the sidebar and the app around it (the sidebar's counts catch
    up on the next full run)."""
    t0 = time.perf_counter()
    q = current_queue(svc, flt)
    focus = st.session_state.get(S.FOCUS)
    S.sync_url(flt, focus)

    # The card goes out first (its window is one light query): the browser has the examples after this
    # one and the acknowledgement of the last key before the evidence and progress are even read.
    top = st.container()
    render_card(svc.call(cards, q, focus), focus, st.session_state.get(S.APPLIED, 0),
                on_keys=lambda: _on_keys(svc, q))
    page = svc.call(page_state, q, focus, reviewer=svc.reviewer)
    st.session_state[S.LABELS] = page.labels
    if q.learned is not None and page.progress["reviewed"] // LEARN_EVERY * LEARN_EVERY > q.learned.decisions:
        # A batch of decisions is complete: the queue re-ranks from them. When the order changed, the next example
        # is its first; when it did not, the reviewer stays where they are (examples they skipped stay skipped).
        q = current_queue(svc, flt, rebuild=True)
        if q.learned is not None and q.learned.used:
            pos = svc.call(next_unreviewed, q, 0)
            st.session_state[S.FOCUS] = q.ids[pos] if pos is not None else None
        st.rerun()
    with top:
        render_progress(page.progress, q.learned)
    flash = st.session_state.pop(S.FLASH, None)
    if flash:
        getattr(st, flash[0])(flash[1])
    pending = svc.pending()
    if pending:
        st.warning(f"{pending} decisions wait in the journal for the busy workspace")
    if focus is None:
        st.success("Nothing left to review in this queue." if len(q) else
                   "No findings match this filter: widen it in the sidebar.")
        render_actions(svc, q, None, labels=page.labels)
        return
    view = page.view
    st.session_state.setdefault(S.SEEN, {})[focus] = view.last_seq
    sugg = view.suggested
    render_actions(svc, q, view, sugg, labels=page.labels)
    st.subheader(f"Why `{view.id}` was flagged")
    render_findings(view, on_open=_open)
    c1, c2 = st.columns(2)
    with c1:
        if st.button("Find similar", key="rv_similar_btn"):
            try:
                st.session_state[S.SIMILAR] = svc.call(similar, flt.dataset, focus, 8)
            except CurateError as exc:
                st.session_state[S.FLASH] = ("error", str(exc))
        found = st.session_state.get(S.SIMILAR)
        if found and found["id"] == focus:
            st.dataframe(pd.DataFrame(found["neighbours"]), hide_index=True, key="rv_similar_table")
    with c2:
        with st.expander(f"History ({len(view.history)})", expanded=bool(view.history)):
            if view.history:
                st.dataframe(pd.DataFrame(view.history)[["at", "reviewer", "action", "new_label", "source", "note"]],
                             hide_index=True, key="rv_history")
            else:
                st.caption("no decisions yet")
    st.caption(f"page drawn in {1000 * (time.perf_counter() - t0):.0f} ms")


def render_progress(prog: dict, learned: Learned | None = None) -> None:
    """Reviewed / remaining, throughput, whether the queue learned from the decisions, and each detector's
    confirmed share of its reviewed flags."""
    total = max(prog["total"], 1)
    st.progress(prog["reviewed"] / total, text=f"{prog['reviewed']} reviewed · {prog['remaining']} to go · "
                f"{prog['total']} in queue" + (f" · {prog['throughput_per_hour']:.0f}/hour"
                                              if prog["throughput_per_hour"] else ""))
    if learned is not None and learned.decisions:
        st.caption(learned.note)
    rows = [{"detector": d["detector"], "flagged": d["flagged"], "reviewed": d["reviewed"],
             "confirmed": d["confirmed"], "precision so far": d["precision"]} for d in prog["detectors"]]
    if rows:
        with st.expander("Detector precision on this data (live)", expanded=False):
            st.dataframe(pd.DataFrame(rows), hide_index=True, key="rv_precision")


def render_actions(svc: ReviewService, q: Queue, view, sugg: str | None = None, *, labels: list[str]) -> None:
    """The decision buttons (their keys are bound by the focus card), the label picker, the note, and the
    confirm prompts."""
    conflict = st.session_state.get(S.CONFLICT)
    if conflict:
        st.warning(conflict["message"])
        st.button("Overwrite with my decision", key="rv_overwrite", on_click=_act,
                  args=(svc, q, conflict["action"], conflict["label"]), kwargs={"force": True, "new_ok": True})
    new = st.session_state.get(S.NEW_LABEL)
    if new:
        st.warning(new["message"])
        st.button(f"Yes, add '{new['label']}' as a new label", key="rv_confirm_new", on_click=_act,
                  args=(svc, q, new["action"], new["label"]), kwargs={"new_ok": True})
    enabled = view is not None
    sentence = enabled and view.task == "sentence"  # a sentence unit: its label is its tags, one per word
    cols = st.columns([1, 2.2, 1.1, 1, 1, 1, 1])
    cols[0].button("Keep", key="rv_keep", disabled=not enabled, on_click=_act, args=(svc, q, "keep"),
                   help="the label is right")
    cols[1].button("Accept the suggested tags" if sentence and sugg else f"Accept: {sugg}" if sugg else "Accept",
                   key="rv_accept", type="primary", disabled=not (enabled and sugg and sugg != view.label),
                   on_click=_act, args=(svc, q, "relabel", sugg),
                   help="retag the sentence as suggested" if sentence else "relabel to the suggested label")
    cols[2].button("Remove", key="rv_remove", disabled=not enabled, on_click=_act,
                   args=(svc, q, "remove"), help="drop it from the cleaned data")
    cols[3].button("Skip", key="rv_skip", disabled=not enabled, on_click=_move, args=(q, 1))
    cols[4].button("Prev", key="rv_prev", on_click=_move, args=(q, -1))
    cols[5].button("Next", key="rv_next", on_click=_move, args=(q, 1))
    cols[6].button("Undo", key="rv_undo", on_click=_undo, args=(svc, q.filter.dataset))
    pick_cols = st.columns([3, 2, 2, 1.2])
    pick = pick_cols[0].selectbox("Relabel to (type to search)", labels, index=None, key=S.PICK,
                                  placeholder="pick a label…", disabled=sentence)
    typed = pick_cols[1].text_input("…or the tags, one per word" if sentence else "…or a new label", key=S.TYPED,
                                    help="IOB2 tags separated by spaces, e.g. O B-person I-person O" if sentence
                                    else None)
    pick_cols[2].text_input("Note (optional)", key=S.NOTE)
    target = (typed or "").strip() or pick
    pick_cols[3].button("Relabel", key="rv_relabel", disabled=not (enabled and target),
                        on_click=_act, args=(svc, q, "relabel", target))
    st.caption("Keys: " + " · ".join(f"**{k}** {what}" for k, what in SHORTCUTS))


def render_bulk(svc: ReviewService, q: Queue, labels: list[str]) -> None:
    """Apply one action to everything the current filter matches: preview, then confirm; undo as one step."""
    with st.sidebar.expander("Bulk action on this filter", expanded=bool(st.session_state.get(S.BULK))):
        action = st.selectbox("action", ["relabel", "keep", "remove"], key="rv_bulk_action")
        target = None
        if action == "relabel":
            choice = st.selectbox("to", ["each example's suggested label"] + labels,
                                  key="rv_bulk_target")
            target = SUGGESTED if choice.startswith("each") else choice
        only_unreviewed = st.checkbox("only unreviewed examples", value=True, key="rv_bulk_unreviewed")
        flt = q.filter.model_copy(update={"status": "unreviewed"}) if only_unreviewed else q.filter
        if st.button("Preview", key="rv_bulk_preview"):
            st.session_state[S.BULK] = {"filter": flt, "action": action, "label": target,
                                        "preview": svc.call(bulk_preview, flt, action, target)}
        pending = st.session_state.get(S.BULK)
        if pending:
            p = pending["preview"]
            st.markdown(f"**{pending['action']}{' → ' + str(pending['label']) if pending['label'] else ''}** on "
                        f"**{p['count']}** examples ({p['filter']}); skipped: "
                        + (", ".join(f"{k} {v}" for k, v in p["skipped"].items() if v) or "none"))
            for e in p["examples"]:
                st.caption(f"{e['id']}: {e['new_label'] or e['action']} — {e['text'][:80]}")
            if p["new_labels"]:
                st.warning(f"new labels: {', '.join(p['new_labels'])}")
            st.button(f"Confirm: apply to {p['count']}", key="rv_bulk_confirm", type="primary",
                      disabled=p["count"] == 0, on_click=_bulk, args=(svc, pending))
            st.button("Cancel", key="rv_bulk_cancel", on_click=lambda: st.session_state.update({S.BULK: None}))
        batch = st.session_state.get(S.LAST_BATCH)
        if batch:
            st.button(f"Undo bulk batch {batch}", key="rv_bulk_undo", on_click=_undo_bulk, args=(svc, batch))


def _bulk(svc: ReviewService, pending: dict) -> None:
    try:
        res = svc.call(bulk_apply, pending["filter"], pending["action"], pending["label"], reviewer=svc.reviewer,
                       allow_new_label=True, expected_count=pending["preview"]["count"])
    except CurateError as exc:
        st.session_state[S.FLASH] = ("error", str(exc))
        return
    st.session_state[S.BULK] = None
    st.session_state[S.LAST_BATCH] = res["batch"]
    q = st.session_state[S.QUEUE][1]
    pos = q.position(st.session_state.get(S.FOCUS))
    _advance(svc, q, pos or 0)
    st.session_state[S.FLASH] = ("success", f"bulk {pending['action']} applied to {res['applied']} examples "
                                            f"(batch {res['batch']})")


def _undo_bulk(svc: ReviewService, batch: str) -> None:
    res = svc.call(undo_batch, batch, reviewer=svc.reviewer)
    st.session_state[S.LAST_BATCH] = None
    st.session_state[S.FLASH] = ("success", _batch_undone(batch, res))


def _batch_undone(batch: str, res: dict) -> str:
    """What undoing a bulk batch did, in one line."""
    left = f", {res['changed_since']} changed since and left" if res["changed_since"] else ""
    return f"undid bulk batch {batch}: {res['reverted']} restored{left}"
