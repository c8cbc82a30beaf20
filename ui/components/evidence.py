"""Why an example was flagged: every detector's score, suggestion and reason, and the evidence behind it."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from curate.review import ExampleView
from curate.review.example import referenced_ids

from .example import evidence_facts


def render_findings(view: ExampleView, *, on_open: Callable[[str], None], key: str = "rv_ev") -> None:
    """One block per detector (flagged ones first) with its evidence: neighbours with text, probabilities,
    LLM snippet and ranks. on_open(id) is called when a neighbour is opened."""
    if not view.findings:
        st.info("No detector scored this example.")
        return
    summary = pd.DataFrame([{"detector": f["detector"], "flagged": "yes" if f["flagged"] else "",
                             "score": round(f["score"], 3), "suggested": f["suggested"] or "", "reason": f["reason"]}
                            for f in view.findings])
    st.dataframe(summary, hide_index=True, width="stretch", key=f"{key}_summary")
    for n, f in enumerate(view.findings):
        ev = f["evidence"]
        if not ev:
            continue
        with st.expander(f"{f['detector']} evidence — {f['reason']}", expanded=n == 0 and f["flagged"]):
            facts = evidence_facts(ev)
            if facts:
                st.markdown(" · ".join(f"**{k}** {v}" for k, v in facts.items()))
            if ev.get("snippet"):
                st.markdown(f"**LLM snippet:** “{ev['snippet']}”")
            if isinstance(ev.get("runs"), dict):
                st.dataframe(pd.DataFrame([{"run": r, "rank score": s} for r, s in ev["runs"].items()]),
                             hide_index=True, key=f"{key}_{n}_runs")
            refs = referenced_ids(ev)
            if refs:
                render_neighbours(view, refs, on_open=on_open, key=f"{key}_{n}_nb")


def render_neighbours(view: ExampleView, refs: list[dict], *, on_open: Callable[[str], None], key: str) -> None:
    """Neighbours (or copies) with their current labels, similarities and text in one table; selecting a
    row opens that example. One table instead of a row of widgets per neighbour: the page draws ~3x faster."""
    rows = []
    for ref in refs[:10]:
        info = view.referenced.get(ref["id"], {})
        rows.append({"id": ref["id"], "label": info.get("label", ref.get("label")),
                     "removed": bool(info.get("removed")), "similarity": ref.get("similarity"),
                     "split": info.get("split", ref.get("split")), "text": info.get("text", "")[:300]})
    table = pd.DataFrame(rows)

    def opened() -> None:
        picked = st.session_state[key].selection.rows
        if picked:
            on_open(table["id"].iloc[picked[0]])

    st.caption("select a row to open that example")
    st.dataframe(table, hide_index=True, key=key, on_select=opened, selection_mode="single-row")
