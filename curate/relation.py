"""Relation examples: token spans, validation, spaCy tokenization and typed entity-marker text."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

SPAN_KEYS = ("subj_start", "subj_end", "obj_start", "obj_end")


@lru_cache(maxsize=1)
def _nlp():
    import spacy

    return spacy.blank("en")


def tokenize(text: str) -> list[tuple[str, int]]:
    """spaCy blank("en") tokens of text as (token, char offset) pairs."""
    return [(t.text, t.idx) for t in _nlp().make_doc(text)]


def check_spans(meta: dict[str, Any], where) -> None:
    """Validate TACRED-style inclusive token spans; raise where.error naming the field."""
    tokens = meta.get("token")
    if not isinstance(tokens, list) or not tokens:
        raise where.error("expected a non-empty list of tokens", "token")
    if not all(isinstance(t, str) for t in tokens):
        raise where.error("every token must be a string", "token")
    n = len(tokens)
    for key in SPAN_KEYS:
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise where.error(f"expected an integer token index, got {v!r}", key)
        if not 0 <= v < n:
            raise where.error(f"token index {v} is out of range (sentence has {n} tokens)", key)
    for role in ("subj", "obj"):
        if meta[f"{role}_start"] > meta[f"{role}_end"]:
            raise where.error(
                f"{role} span starts after it ends ({meta[f'{role}_start']} > {meta[f'{role}_end']})", f"{role}_end"
            )
    if meta["subj_start"] <= meta["obj_end"] and meta["obj_start"] <= meta["subj_end"]:
        raise where.error(
            f"subject span {meta['subj_start']}-{meta['subj_end']} overlaps object span "
            f"{meta['obj_start']}-{meta['obj_end']}",
            "obj_start",
        )
    for key in ("subj_type", "obj_type"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise where.error(f"expected a string, got {type(meta[key]).__name__}", key)


def spans_from_chars(text: str, subj: tuple[int, int], obj: tuple[int, int], where) -> dict[str, Any]:
    """Tokenize text with spaCy and turn the subject's and object's character spans [start, end) into
    inclusive token spans."""
    return token_spans(text, {"subj": subj, "obj": obj}, where)


def token_spans(text: str, spans: dict[str, tuple[int, int]], where) -> dict[str, Any]:
    """Tokenize text with spaCy and turn each role's character span [start, end) into an inclusive token
    span (meta keys ROLE_start, ROLE_end); a span that covers no token names the role's field."""
    doc = _nlp().make_doc(text)
    meta: dict[str, Any] = {"token": [t.text for t in doc]}
    for role, (start, end) in spans.items():
        if not (0 <= start < end <= len(text)):
            raise where.error(
                f"character span {start}-{end} is out of range (text has {len(text)} characters)", f"{role}_start"
            )
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is None or len(span) == 0:
            raise where.error(f"character span {start}-{end} covers no token", f"{role}_start")
        meta[f"{role}_start"], meta[f"{role}_end"] = span.start, span.end - 1
    return meta


def marked_text(meta: dict[str, Any]) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Typed entity-marker text `@ * type * subj @ ... # ^ type ^ obj #` and the entities' char spans."""
    tokens: list[str] = meta["token"]
    ss, se, os_, oe = (meta[k] for k in SPAN_KEYS)
    st = _type_words(meta.get("subj_type"))
    ot = _type_words(meta.get("obj_type"))
    parts: list[str] = []
    pos = 0
    spans: dict[str, tuple[int, int]] = {}

    def emit(piece: str) -> None:
        nonlocal pos
        if parts:
            pos += 1
        parts.append(piece)
        pos += len(piece)

    i = 0
    while i < len(tokens):
        if i == ss:
            emit(f"@ * {st} *")
            start = pos + 1
            emit(" ".join(tokens[ss : se + 1]))
            spans["subj"] = (start, pos)
            emit("@")
            i = se + 1
        elif i == os_:
            emit(f"# ^ {ot} ^")
            start = pos + 1
            emit(" ".join(tokens[os_ : oe + 1]))
            spans["obj"] = (start, pos)
            emit("#")
            i = oe + 1
        else:
            emit(tokens[i])
            i += 1
    return " ".join(parts), spans["subj"], spans["obj"]


def _type_words(t: str | None) -> str:
    return (t or "entity").replace("_", " ").lower()
