"""One example as HTML for its card: relation spans with types, classification text, retrieval pairs side by side.

All user text is HTML-escaped before it is placed in markup: it is data, never markup.
"""

from __future__ import annotations

import html
import re
from typing import Any

from curate.review.example import referenced_ids
from curate.spans import bio_spans

# Evidence keys shown as facts (the rest, such as neighbour lists, is drawn as a table).
SCALARS = ("prediction", "p_negative", "given_prob", "predicted", "negative_score", "positive_score", "margin",
           "relevant_prob", "similarity", "rank", "positive_rank", "candidates", "judge", "action", "scorer", "clean")
NEIGHBOURS_SHOWN = 5


def evidence_facts(ev: dict[str, Any]) -> dict[str, str]:
    """The scalar facts of an evidence record, as name -> text (vote, probabilities, margins, ranks, ...)."""
    facts = {k: str(ev[k]) for k in SCALARS if ev.get(k) is not None}
    if isinstance(ev.get("vote"), dict):
        facts["vote"] = f"{ev['vote'].get('label')} ({ev['vote'].get('share', 0):.0%})"
    if isinstance(ev.get("errors"), list) and ev["errors"]:
        facts["errors"] = ", ".join(e.get("kind", "?") for e in ev["errors"] if isinstance(e, dict))
    if isinstance(ev.get("issues"), list) and isinstance(ev.get("tokens"), list) and ev["issues"]:
        facts["suspect words"] = ", ".join(str(ev["tokens"][j]) for j in ev["issues"][:8]
                                           if isinstance(j, int) and 0 <= j < len(ev["tokens"]))
    if isinstance(ev.get("closest_positive"), dict):
        cp = ev["closest_positive"]
        facts["closest positive"] = f"{cp.get('id')} ({cp.get('similarity')})"
    return facts


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


def span_html(meta: dict, text: str) -> str:
    """Tokens with the one span in question marked."""
    tokens = meta.get("token") or text.split()
    try:
        start, end = int(meta["span_start"]), int(meta["span_end"])
    except (KeyError, TypeError, ValueError):
        return html.escape(text)
    return " ".join([*map(html.escape, tokens[:start]), _span(tokens, start, end, "subj", None),
                     *map(html.escape, tokens[end + 1:])])


def highlight(text: str, snippet: str | None) -> str:
    """Escaped text with the snippet marked where it occurs (case-insensitive)."""
    if not snippet:
        return html.escape(text)
    m = re.search(re.escape(snippet.strip()), text, flags=re.I)
    if not m:
        return html.escape(text)
    return (html.escape(text[: m.start()]) + f'<mark class="cu-snippet">{html.escape(m.group(0))}</mark>'
            + html.escape(text[m.end():]))


def sentence_html(card: dict) -> str:
    """The words of a sentence unit, each with its current tag and the suggested one (changed ones framed)."""
    tokens = card["meta"].get("token") or card["text"].split()
    now = str(card["label"] or "").split()
    sugg = str(card.get("suggested") or "").split()
    cells = []
    for i, tok in enumerate(tokens):
        cur = now[i] if i < len(now) else "O"
        new = sugg[i] if len(sugg) == len(tokens) else None
        changed = new is not None and new != cur
        tags = f"<i class='{'cu-ent' if cur != 'O' else ''}'>{html.escape(cur)}</i>"
        if new is not None:
            tags += f"<i class='cu-sugg{' cu-ent' if new != 'O' else ''}'>{html.escape(new)}</i>"
        cells.append(f"<span class='cu-tok{' cu-diff' if changed else ''}'><b>{html.escape(tok)}</b>{tags}</span>")
    return f"<div class='cu-toks'>{''.join(cells)}</div>"


def example_html(card: dict) -> str:
    """The example of a card drawn for its task: relation spans typed, classification text, or a retrieval
    pair with the query, the passage (ARHN snippet marked) and the query's known positive side by side."""
    r = card.get("retrieval")
    if card["task"] == "retrieval" and r:
        positives = "".join(f"<div class='cu-text'><code>{html.escape(str(p['id']))}</code> {html.escape(p['text'])}"
                            f"</div>" for p in r["positives"] or [{"id": "—", "text": "(no other positive for this query)"}])
        snippet = (f"<div class='cu-note'>LLM answer snippet: “{html.escape(r['snippet'])}”</div>"
                   if r["snippet"] else "")
        return (f"<p><b>Query</b> <code>{html.escape(str(r['query_id']))}</code>: {html.escape(r['query'])}</p>"
                f"<div class='cu-pair'><div><p><b>This passage</b> <code>{html.escape(str(r['passage_id']))}</code>"
                f" — labelled <span class='cu-label'>{html.escape(str(card['label']))}</span></p>"
                f"<div class='cu-text cu-passage'>{highlight(r['passage'], r['snippet'])}</div>{snippet}</div>"
                f"<div><p><b>The query's known positive</b></p>{positives}</div></div>")
    if card["task"] == "sentence":
        return (f"<div class='cu-text cu-example'>{sentence_html(card)}</div>"
                "<div class='cu-note'>each word with its tags as they stand and, below, the suggested ones "
                "(changed words framed); Accept writes the suggested tags</div>")
    if card["task"] == "span":
        return (f"<div class='cu-text cu-example'>{span_html(card['meta'], card['text'])}</div>"
                "<div class='cu-note'>blue: the span whose label is in question</div>")
    if card["task"] == "relation":
        return (f"<div class='cu-text cu-example'>{relation_html(card['meta'], card['text'])}</div>"
                "<div class='cu-note'>blue: subject · orange: object · small caps: entity type</div>")
    return f"<div class='cu-text cu-example'>{html.escape(card['text'])}</div>"


def evidence_html(card: dict) -> str:
    """Each detector's evidence on the card, flagged ones first: its facts and the examples it points at
    (neighbours, copies) with their current label, similarity and text. It travels with the card, so it is drawn
    with the example at a key press, before the server has answered."""
    blocks = []
    for d in card["detectors"]:
        ev = d.get("evidence")
        if not ev:
            continue
        facts = " · ".join(f"<b>{html.escape(k)}</b> {html.escape(v)}" for k, v in evidence_facts(ev).items())
        rows = []
        for ref in referenced_ids(ev)[:NEIGHBOURS_SHOWN]:
            info = card.get("referenced", {}).get(ref["id"], {})
            label = info.get("label", ref.get("label"))
            gone = " <span class='cu-note'>removed</span>" if info.get("removed") else ""
            sim = ref.get("similarity")
            rows.append(f"<tr><td>{'' if sim is None else f'{sim:.3f}'}</td><td><span class='cu-label'>"
                        f"{html.escape(str(label))}</span>{gone}</td><td>{html.escape(info.get('text', '')[:180])}</td>"
                        "</tr>")
        table = f"<table class='cu-nb'>{''.join(rows)}</table>" if rows else ""
        blocks.append(f"<div class='cu-ev'><span class='cu-det'>{html.escape(d['detector'])}</span> {facts}{table}</div>")
    body = "".join(blocks) or "<div class='cu-note'>no evidence recorded</div>"
    return f"<div class='cu-evidence' data-for='{html.escape(card['id'], quote=True)}'>{body}</div>"


def entities_text(tokens: list[str], tags: str | None) -> str:
    """The entities a tag string makes, as escaped 'words' type pairs ('none' for a sentence without any)."""
    spans = bio_spans(str(tags or "").split())
    return " · ".join(f"{html.escape(' '.join(tokens[s : e + 1]))} <span class='cu-type'>{html.escape(t)}</span>"
                      for s, e, t in spans) or "none"


def card_html(card: dict) -> str:
    """A whole card: the heading (id, split, place in the queue), current / suggested label and status, the
    example, and each detector's score and reason. Every piece of user text is escaped."""
    pos = card.get("position")
    where = f"{pos + 1} of {card['total']}" if pos is not None else "not in this queue (opened from the evidence)"
    label = html.escape(str(card["label"]))
    suggested = html.escape(str(card["suggested"] or "—"))
    if card["task"] == "sentence":  # tags are drawn word by word below; here, the entities they make
        label, suggested = entities_text(card["meta"].get("token") or [], card["label"]), (
            entities_text(card["meta"].get("token") or [], card["suggested"]) if card["suggested"] else "—")
        if card["label"] != card["original_label"]:
            label += " <span class='cu-was'>retagged</span>"
    elif card["label"] != card["original_label"]:
        label += f" <span class='cu-was'>was {html.escape(str(card['original_label']))}</span>"
    facts = "".join(f"<div class='cu-fact'><div class='cu-key'>{k}</div><div class='cu-val'>{v}</div></div>"
                    for k, v in (("current label" if card["task"] != "sentence" else "entities", label),
                                 ("suggested", suggested), ("status", html.escape(card["status"]))))
    why = " · ".join(f"<b>{html.escape(d['detector'])}</b> {d['score']:.3f}{' flagged' if d['flagged'] else ''}"
                     f"{': ' + html.escape(d['reason']) if d['reason'] else ''}" for d in card["detectors"])
    return (f"<h4><code>{html.escape(card['id'])}</code> · {html.escape(str(card['split']))} · {where}</h4>"
            f"<div class='cu-facts'>{facts}</div>{example_html(card)}"
            + (f"<div class='cu-why'>{why}</div>" if why else "") + evidence_html(card))
