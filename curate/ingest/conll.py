"""CoNLL-2003-style column files (one token per line, the NER tag in a column, blank lines between
sentences, -DOCSTART- lines between documents) as span examples, plus the sentences they come from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field

from curate.ingest.base import IngestOptions, Ingestor, Sink, Where, read_text, register
from curate.spans import BACKGROUND, bio_spans, candidate_spans, marked_span_text

TAG = re.compile(r"^(O|[BIES]-\S+)$")


class SpanOptions(IngestOptions):
    """Options of the span formats."""

    candidates: bool = Field(True, description="add untagged capitalised runs as O examples (finds missed entities)")


class ConllOptions(SpanOptions):
    """CoNLL column layout."""

    token_column: int = Field(0, description="column of the token (0-based)")
    tag_column: int = Field(-1, description="column of the BIO/IOB tag (negative counts from the end)")


def add_sentence(sink: Sink, sent_id: str, tokens: list[str], spans: list[tuple[int, int, str]], where: Where, *,
                 split: str | None, candidates: bool, meta: dict[str, Any] | None = None) -> None:
    """Add one sentence (kept as a text, so an export can write every sentence back) and one example per
    entity span, plus its untagged candidate spans labelled O."""
    text = " ".join(tokens)
    sink.add_text("sentence", sent_id, text, {"token": tokens, "split": sink.split_for(split), **(meta or {})}, where)
    found = [(s, e, t) for s, e, t in spans]
    if candidates:
        found += [(s, e, BACKGROUND) for s, e in candidate_spans(tokens, spans)]
    for s, e, label in sorted(found):
        span_meta = {"token": tokens, "span_start": s, "span_end": e, "sentence": sent_id}
        if label == BACKGROUND:
            span_meta["candidate"] = True
        sink.add_example(f"{sent_id}:{s}-{e}", text, label, span_meta, where, split=split,
                         hash_text=marked_span_text(span_meta)[0])


@register
class ConllIngestor(Ingestor):
    name = "conll"
    split_suffixes = (".conll",)
    description = "CoNLL-2003-style NER columns (token ... tag, BIO/IOB/BIOES; blank line between sentences)"
    task = "span"
    default_negative_label = BACKGROUND
    Options = ConllOptions

    def read(self, path: Path, options: ConllOptions, sink: Sink) -> None:
        split = sink.split_for(None)
        tokens: list[str] = []
        tags: list[str] = []
        columns: list[list[str]] = []
        first_line = 0
        n = 0

        def close() -> None:
            nonlocal tokens, tags, columns, n
            if tokens:
                n += 1
                where = Where(str(path), line=first_line)
                extra = {"columns": columns} if any(columns) else {}
                add_sentence(sink, f"{split}-{n:06d}", tokens, bio_spans(tags), where, split=None,
                             candidates=options.candidates, meta={"ord": n, **extra})
            tokens, tags, columns = [], [], []

        for lineno, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip():
                close()
                continue
            if line.startswith("-DOCSTART-"):
                close()
                continue
            cols = line.split("\t") if "\t" in line else line.split()
            where = Where(str(path), line=lineno)
            if len(cols) < 2:
                raise where.error("expected a token and a tag separated by a tab or spaces", "tag")
            try:
                token, tag = cols[options.token_column], cols[options.tag_column]
            except IndexError:
                raise where.error(f"line has {len(cols)} columns; expected the token in column "
                                  f"{options.token_column} and the tag in column {options.tag_column}", "tag") from None
            if not TAG.match(tag):
                raise where.error(f"'{tag}' is not a BIO/IOB tag (O, B-type, I-type, E-type or S-type)", "tag")
            if not tokens:
                first_line = lineno
            tokens.append(token)
            tags.append(tag)
            keep = [c for i, c in enumerate(cols) if i not in {options.token_column % len(cols),
                                                                options.tag_column % len(cols)}]
            columns.append(keep)
        close()
        if n == 0:
            raise Where(str(path)).error("no sentences found (expected token and tag columns)")
