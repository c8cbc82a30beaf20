"""Span (NER / entity typing) examples: BIO tags to spans and back, untagged candidate spans, marked text.

A span example is one entity mention in its sentence: meta holds the sentence's tokens and the inclusive token
span (span_start, span_end); the label is the entity type, or the background label O for a candidate span
that no annotator tagged (so a missed entity can be found like a relation hidden under no_relation).
"""

from __future__ import annotations

from typing import Any

BACKGROUND = "O"
MARK_OPEN, MARK_CLOSE = "[E]", "[/E]"


def bio_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Entity spans (start, end inclusive, type) of a BIO / IOB1 / IOB2 / BIOES tag sequence.

    An I- tag that does not continue a span of its type starts one (IOB1, and sloppy BIO); E-/S- close one."""
    spans: list[tuple[int, int, str]] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, BACKGROUND]):
        prefix, _, typ = tag.partition("-") if tag != BACKGROUND else (BACKGROUND, "", "")
        continues = prefix in ("I", "E") and start is not None and typ == kind
        if start is not None and not continues:
            spans.append((start, i - 1, kind))
            start, kind = None, None
        if prefix in ("B", "S") or (prefix in ("I", "E") and not continues):
            start, kind = i, typ
        if prefix in ("E", "S") and start is not None:
            spans.append((start, i, kind))
            start, kind = None, None
    return spans


def bio_tags(n: int, spans: list[tuple[int, int, str]]) -> list[str]:
    """IOB2 tags for n tokens with the given (start, end inclusive, type) spans; O spans stay O."""
    tags = [BACKGROUND] * n
    for start, end, typ in sorted(spans):
        if typ == BACKGROUND:
            continue
        tags[start] = f"B-{typ}"
        for i in range(start + 1, end + 1):
            tags[i] = f"I-{typ}"
    return tags


def _capitalised(token: str) -> bool:
    return bool(token) and token[0].isalpha() and token[0].isupper()


SENTENCE_END = {".", "!", "?", ":", ";", "\"", "...", "…"}


def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def candidate_spans(tokens: list[str], tagged: list[tuple[int, int, str]], max_len: int = 6) -> list[tuple[int, int]]:
    """Untagged runs of capitalised tokens (the proper-noun shape of a missed entity), not touching a tagged
    span. Skipped, since case says nothing about them: a lone capitalised word that opens a sentence, and runs
    of function words only ("It", "I", "The")."""
    busy = {i for s, e, _ in tagged for i in range(s, e + 1)}
    stop = _stop_words()
    out, i = [], 0
    while i < len(tokens):
        if _capitalised(tokens[i]) and i not in busy:
            j = i
            while j + 1 < len(tokens) and _capitalised(tokens[j + 1]) and j + 1 not in busy and j + 1 - i < max_len:
                j += 1
            opens = i == 0 or tokens[i - 1] in SENTENCE_END
            only_stop = all(t.lower() in stop for t in tokens[i : j + 1])
            if not only_stop and not (opens and i == j):
                out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def marked_span_text(meta: dict[str, Any]) -> tuple[str, tuple[int, int]]:
    """The sentence with the span between markers, `... [E] span words [/E] ...`, and the span's char range."""
    tokens: list[str] = meta["token"]
    s, e = int(meta["span_start"]), int(meta["span_end"])
    before = " ".join(tokens[:s])
    inner = " ".join(tokens[s : e + 1])
    head = (before + " " if before else "") + MARK_OPEN + " "
    lo = len(head)
    text = head + inner + " " + MARK_CLOSE + ("" if e + 1 >= len(tokens) else " " + " ".join(tokens[e + 1 :]))
    return text, (lo, lo + len(inner))


def check_span(meta: dict[str, Any], where) -> None:
    """Refuse a span outside its sentence or reversed, naming the field."""
    tokens = meta.get("token")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise where.error("expected a non-empty list of token strings", "token")
    for key in ("span_start", "span_end"):
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise where.error(f"expected an integer token index, got {v!r}", key)
    if not 0 <= meta["span_start"] <= meta["span_end"] < len(tokens):
        raise where.error(f"span {meta['span_start']}-{meta['span_end']} is outside the sentence's "
                          f"{len(tokens)} tokens", "span_start")
