"""Map one input record (a dict) to an example row, for every record-shaped format."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field

from curate.ingest.base import IngestOptions, Sink, Where, text_hash
from curate.relation import SPAN_KEYS, check_spans, marked_text, spans_from_chars, token_spans
from curate.spans import MARK_CLOSE, MARK_OPEN, check_span, marked_span_text

RELATION_ROLES = ("token", *SPAN_KEYS, "subj_type", "obj_type")


class FieldOptions(IngestOptions):
    """Field mapping for generic record formats (JSONL, CSV, Parquet, Hugging Face)."""

    task: Literal["auto", "classification", "relation", "span"] = Field(
        "auto", description="auto: span when each of the first records marks one span in its text "
        "([E] ... [/E], or span_markers), else classification")
    text_field: str = "text"
    label_field: str = "label"
    id_field: str = "id"
    split_field: str | None = None
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="role=column for relation fields: token, subj_start, subj_end, obj_start, obj_end, "
        "subj_type, obj_type; for spans: token, span_start, span_end (char offsets with end exclusive unless a "
        "token list is given; without span fields a span is marked in the text: [E] ... [/E])",
    )
    span_markers: tuple[str, str] = Field((MARK_OPEN, MARK_CLOSE), description="the markers around a span in the "
                                          "text (task span, when no span_start/span_end fields are given)")


def _str_field(rec: dict[str, Any], key: str, where: Where, *, required: bool = True,
               nonempty: bool = False) -> str | None:
    if key not in rec or rec[key] is None:
        if required:
            raise where.error("missing", key)
        return None
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise where.error(f"expected a string, got {type(v).__name__}", key)
    if nonempty and isinstance(v, str) and not v.strip():
        raise where.error("is empty", key)
    return str(v)


def _int_field(rec: dict[str, Any], key: str, where: Where) -> int:
    if key not in rec or rec[key] is None:
        raise where.error("missing", key)
    v = rec[key]
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise where.error(f"expected an integer, got {v!r}", key)
    return v


def add_relation_tokens(
    sink: Sink, rec: dict[str, Any], where: Where, *, id_key: str, label_key: str, roles: dict[str, str],
    split: str | None = None,
) -> None:
    """Add a TACRED-shaped record (token list + inclusive token spans); unmapped keys go to meta.extra."""
    ex_id = _str_field(rec, id_key, where)
    label = _str_field(rec, label_key, where, nonempty=True)
    meta: dict[str, Any] = {}
    for role in RELATION_ROLES:
        col = roles.get(role, role)
        if col in rec:
            meta[role] = rec[col]
        elif role not in ("subj_type", "obj_type"):
            raise where.error("missing", col)
    check_spans(meta, where)
    used = {id_key, label_key, *(roles.get(r, r) for r in RELATION_ROLES)}
    extra = {k: v for k, v in rec.items() if k not in used}
    if extra:
        meta["extra"] = extra
    meta["keys"] = list(rec)  # the record's field order, so a TACRED export writes it back as it came
    text = " ".join(meta["token"])
    sink.add_example(ex_id, text, label, meta, where, split=split, hash_text=marked_text(meta)[0])


SNIFF_RECORDS = 200


class _Enough(Exception):
    """Raised by the sniffing sink once it holds enough texts."""


class _SniffSink:
    """Takes the first texts a reader would ingest as classification, and stops the read."""

    default_split = None

    def __init__(self, n: int):
        self.n, self.texts = n, []

    def split_for(self, split: str | None) -> str:
        return split or "train"

    def add_example(self, id: str, text: str, *args: Any, **kwargs: Any) -> None:
        self.texts.append(text)
        if len(self.texts) >= self.n:
            raise _Enough


def sniff_task(read: Callable[[Path, FieldOptions, Any], None], path: Path,
               opts: FieldOptions) -> tuple[str, str | None]:
    """The task for task=auto from the first records of path: span when every one marks exactly one span in its
    text, else classification. Returns (task, a note for the user or None)."""
    sink = _SniffSink(SNIFF_RECORDS)
    try:
        read(path, opts.model_copy(update={"task": "classification"}), sink)
    except _Enough:
        pass
    open_, close = opts.span_markers
    marked = sum(t.count(open_) == 1 and t.count(close) == 1 for t in sink.texts)
    if sink.texts and marked == len(sink.texts):
        return "span", (f"read as span data (task auto): each of the first {marked} texts marks one span with "
                        f"{open_} ... {close}; pass --task classification to read them as plain texts")
    return "classification", None


def add_record(sink: Sink, rec: dict[str, Any], where: Where, opts: FieldOptions, record_no: int) -> None:
    """Add one generic record according to the field mapping."""
    if not isinstance(rec, dict):
        raise where.error(f"expected an object, got {type(rec).__name__}")
    split = _str_field(rec, opts.split_field, where) if opts.split_field else None
    if opts.id_field not in rec and opts.id_field == "id":
        rec = {**rec, "id": f"{sink.split_for(split)}-{record_no}"}
    if opts.task == "span":
        add_span_record(sink, rec, where, opts, split)
        return
    if opts.task == "relation" and opts.fields.get("token", "token") in rec:
        add_relation_tokens(
            sink, rec, where, id_key=opts.id_field, label_key=opts.label_field, roles=opts.fields, split=split
        )
        return
    ex_id = _str_field(rec, opts.id_field, where)
    text = _str_field(rec, opts.text_field, where)
    label = _str_field(rec, opts.label_field, where, nonempty=True)
    used = {opts.id_field, opts.text_field, opts.label_field, opts.split_field}
    meta: dict[str, Any] = {}
    hash_text = None
    if opts.task == "relation":
        cols = {r: opts.fields.get(r, r) for r in RELATION_ROLES}
        subj = (_int_field(rec, cols["subj_start"], where), _int_field(rec, cols["subj_end"], where))
        obj = (_int_field(rec, cols["obj_start"], where), _int_field(rec, cols["obj_end"], where))
        meta = spans_from_chars(text, subj, obj, where)
        for role in ("subj_type", "obj_type"):
            meta[role] = _str_field(rec, cols[role], where, required=False)
        if meta["subj_start"] <= meta["obj_end"] and meta["obj_start"] <= meta["subj_end"]:
            raise where.error(f"subject span {subj} overlaps object span {obj}", cols["obj_start"])
        meta["char_spans"] = {"subj": list(subj), "obj": list(obj)}
        used |= set(cols.values())
        hash_text = marked_text(meta)[0]
    extra = {k: v for k, v in rec.items() if k not in used}
    if extra:
        meta["extra"] = extra
    sink.add_example(ex_id, text, label, meta, where, split=split, hash_text=hash_text)


def add_span_record(sink: Sink, rec: dict[str, Any], where: Where, opts: FieldOptions, split: str | None) -> None:
    """One span example from a record: a token list with inclusive token indices, character offsets into the
    text (end exclusive), or a span marked in the text ([E] Alex Turner [/E] ...); the markers are removed."""
    cols = {r: opts.fields.get(r, r) for r in ("token", "span_start", "span_end")}
    ex_id = _str_field(rec, opts.id_field, where)
    label = _str_field(rec, opts.label_field, where, nonempty=True)
    used = {opts.id_field, opts.label_field, opts.split_field, opts.text_field}
    if cols["token"] in rec:
        meta = {"token": rec[cols["token"]], "span_start": _int_field(rec, cols["span_start"], where),
                "span_end": _int_field(rec, cols["span_end"], where)}
        check_span(meta, where)
        text = " ".join(meta["token"])
        used |= set(cols.values())
    else:
        text = _str_field(rec, opts.text_field, where)
        if cols["span_start"] in rec:
            start, end = _int_field(rec, cols["span_start"], where), _int_field(rec, cols["span_end"], where)
            used |= {cols["span_start"], cols["span_end"]}
        else:
            text, start, end = _unmark(text, opts.span_markers, where, opts.text_field)
        meta = token_spans(text, {"span": (start, end)}, where)
        meta["char_span"] = [start, end]
    # Records of one sentence (one per span) share a sentence key, so a CoNLL export writes it once.
    meta["sentence"] = "s-" + text_hash(" ".join(meta["token"]))[:16]
    extra = {k: v for k, v in rec.items() if k not in used}
    if extra:
        meta["extra"] = extra
    sink.add_example(ex_id, text, label, meta, where, split=split, hash_text=marked_span_text(meta)[0])


def _unmark(text: str, markers: tuple[str, str], where: Where, field: str) -> tuple[str, int, int]:
    """The text without its one pair of span markers, and the span's character offsets in it."""
    open_, close = markers
    if text.count(open_) != 1 or text.count(close) != 1 or text.index(open_) > text.index(close):
        raise where.error(f"expected one span marked {open_} ... {close} in the text (or span_start/span_end "
                          "fields)", field)
    before, rest = text.split(open_, 1)
    inner, after = rest.split(close, 1)
    before, inner, after = before.rstrip(), inner.strip(), after.lstrip()
    if not inner:
        raise where.error(f"the span between {open_} and {close} is empty", field)
    head = before + " " if before else ""
    start = len(head)
    clean = head + inner + (" " + after if after else "")
    return clean, start, start + len(inner)
