"""The sidebar: who reviews, which dataset and which findings (the queue filter), with live counts."""

from __future__ import annotations

import streamlit as st

from curate.review import QueueFilter, ReviewService, filter_choices
from .. import state as S  # relative: the package is ui in a checkout, curate._ui when installed

STATUS_CHOICES = ["all", "unreviewed", "reviewed", "kept", "relabelled", "removed"]
ANY = "(any)"


def render_filters(svc: ReviewService, datasets: list[str]) -> QueueFilter:
    """Draw the filter widgets (seeded from the URL on first load) and return the filter they describe."""
    sb = st.sidebar
    sb.text_input("Reviewer", key=S.REVIEWER)
    svc.reviewer = st.session_state[S.REVIEWER] or svc.reviewer
    url = S.filter_from_url(datasets[0])
    if "rv_f_seeded" not in st.session_state:  # first run of this browser session: take the URL's queue
        st.session_state["rv_f_seeded"] = True
        st.session_state[S.DATASET] = url.dataset if url.dataset in datasets else datasets[0]
        if url.dataset == st.session_state[S.DATASET]:
            st.session_state.update({
                "rv_f_detectors": url.detectors, "rv_f_split": url.split or ANY, "rv_f_label": url.label or ANY,
                "rv_f_suggested": url.suggested or ANY, "rv_f_score": (url.min_score, url.max_score),
                "rv_f_flagged": url.flagged_only, "rv_f_status": url.status, "rv_f_text": url.text or "",
                "rv_f_learn": url.learn})
    dataset = sb.selectbox("Dataset", datasets, key=S.DATASET)
    cached = st.session_state.get("rv_choices")
    if cached is None or cached[0] != dataset:  # labels, splits and detectors change only with new runs
        cached = st.session_state["rv_choices"] = (dataset, svc.call(filter_choices, dataset))
    ch = cached[1]
    for k, allowed in (("rv_f_detectors", ch["kinds"]),):
        st.session_state[k] = [d for d in st.session_state.get(k, []) if d in allowed]
    for k, allowed in (("rv_f_split", ch["splits"]), ("rv_f_label", ch["labels"]), ("rv_f_suggested", ch["labels"])):
        if st.session_state.get(k, ANY) not in [ANY, *allowed]:
            st.session_state[k] = ANY
    detectors = sb.multiselect("Detectors (default: latest run of each, per model variant)", ch["kinds"], key="rv_f_detectors")
    split = sb.selectbox("Split", [ANY, *ch["splits"]], key="rv_f_split")
    label = sb.selectbox("Current label", [ANY, *ch["labels"]], key="rv_f_label")
    suggested = sb.selectbox("Suggested label", [ANY, *ch["labels"]], key="rv_f_suggested")
    st.session_state.setdefault("rv_f_score", (0.0, 1.0))
    st.session_state.setdefault("rv_f_flagged", True)
    lo, hi = sb.slider("Score", 0.0, 1.0, step=0.05, key="rv_f_score")
    flagged = sb.checkbox("Flagged only", key="rv_f_flagged")
    status = sb.selectbox("Status", STATUS_CHOICES, key="rv_f_status")
    text = sb.text_input("Text contains", key="rv_f_text")
    st.session_state.setdefault("rv_f_learn", True)
    learn = sb.checkbox("Re-rank from my decisions", key="rv_f_learn", help="After every 25 decisions, the next 100 "
                        "findings are re-ordered by what reviewers confirmed, once that predicts errors better than "
                        "the detectors' order (status 'all' only)")
    flt = QueueFilter(dataset=dataset, detectors=detectors, split=None if split == ANY else split,
                      label=None if label == ANY else label, suggested=None if suggested == ANY else suggested,
                      min_score=lo, max_score=hi, flagged_only=flagged, status=status, text=text or None,
                      learn=learn)
    if sb.button("Refresh queue", key="rv_refresh"):
        st.session_state[S.QUEUE] = None
        st.session_state.pop("rv_choices", None)
    return flt
