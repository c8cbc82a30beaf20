"""Draw one example for its task: relation spans with types, classification text, retrieval pairs side by side.

All user text is HTML-escaped before it is placed in markup: it is data, never markup.
"""

from __future__ import annotations

import html
import re

import streamlit as st

from curate.review import ExampleView

CSS = """
<style>
.cu-text {font-size: 1.15rem; line-height: 2.1rem; padding: .6rem .9rem; border-radius: .4rem;
          background: rgba(127,127,127,.08);}
.cu-subj {background: #cfe3ff; color: #0b2e5c; border-radius: .25rem; padding: .1rem .3rem;}
.cu-obj {background: #ffe1c4; color: #5c2a00; border-radius: .25rem; padding: .1rem .3rem;}
.cu-type {font-size: .7rem; font-weight: 600; margin-left: .25rem; opacity: .8; text-transform: uppercase;}
.cu-snippet {background: #fff1a8; color: #3d3400; padding: 0 .15rem;}
.cu-label {font-family: monospace; font-weight: 600;}
</style>
"""


def _span(tokens: list[str], start: int, end: int, role: str, etype: str | None) -> str:
    inner = html.escape(" ".join(tokens[start : end + 1]))
    tag = f'<span class="cu-type">{html.escape(etype)}</span>' if etype else ""
    title = "subject" if role == "subj" else "object"
    return f'<span class="cu-{role}" title="{title}">{inner}{tag}</span>'


def relation_html(meta: dict, text: str) -> str:
    """Tokens with the subject and object spans marked and typed."""
    tokens = meta.get("token") or text.split()
    try:
        s0, s1, o0, o1 = (int(meta[k]) for k in ("subj_start", "subj_end", "obj_start", "obj_end"))
    except (KeyError, TypeError, ValueError):
        return html.escape(text)
    parts, i = [], 0
    while i < len(tokens):
        if i == s0:
            parts.append(_span(tokens, s0, s1, "subj", meta.get("subj_type")))
            i = s1 + 1
        elif i == o0:
            parts.append(_span(tokens, o0, o1, "obj", meta.get("obj_type")))
            i = o1 + 1
        else:
            parts.append(html.escape(tokens[i]))
            i += 1
    return " ".join(parts)


def highlight(text: str, snippet: str | None) -> str:
    """Escaped text with the snippet marked where it occurs (case-insensitive)."""
    if not snippet:
        return html.escape(text)
    m = re.search(re.escape(snippet.strip()), text, flags=re.I)
    if not m:
        return html.escape(text)
    return (html.escape(text[: m.start()]) + f'<mark class="cu-snippet">{html.escape(m.group(0))}</mark>'
            + html.escape(text[m.end():]))


def render_example(view: ExampleView, *, key: str = "rv_example") -> None:
    """The example in focus, drawn for its task."""
    st.markdown(CSS, unsafe_allow_html=True)
    if view.task == "retrieval" and view.retrieval:
        r = view.retrieval
        st.markdown(f"**Query** `{html.escape(str(r['query_id']))}`: {html.escape(r['query'])}")
        left, right = st.columns(2)
        with left:
            st.markdown(f"**This passage** `{html.escape(str(r['passage_id']))}` — labelled "
                        f"<span class='cu-label'>{html.escape(str(view.label))}</span>", unsafe_allow_html=True)
            st.markdown(f"<div class='cu-text' id='{key}-passage'>{highlight(r['passage'], r['snippet'])}</div>",
                        unsafe_allow_html=True)
            if r["snippet"]:
                st.caption(f"LLM answer snippet: “{r['snippet']}”")
        with right:
            st.markdown("**The query's known positive**")
            for p in r["positives"] or [{"id": "—", "text": "(no other positive for this query)"}]:
                st.markdown(f"<div class='cu-text'><code>{html.escape(str(p['id']))}</code> "
                            f"{html.escape(p['text'])}</div>", unsafe_allow_html=True)
        return
    body = relation_html(view.meta, view.text) if view.task == "relation" else html.escape(view.text)
    st.markdown(f"<div class='cu-text' id='{key}-text'>{body}</div>", unsafe_allow_html=True)
    if view.task == "relation":
        st.caption("blue: subject · orange: object · small caps: entity type")
