"""Sentences of span data as review units: their current IOB2 tags, and decisions that rewrite them.

A span dataset stores each sentence once (a text of kind 'sentence': its tokens, split and order) and one
example per entity or candidate span. Type-level detectors judge the spans; token-level ones (token-issues)
judge whole sentences, since a boundary error, a lower-case entity nobody tagged or a spurious entity has no
span example of its own. A sentence's findings and decisions are keyed by the sentence id: a 'retag' decision
holds the sentence's new tags, space-separated; 'keep' and 'remove' work as on examples (remove drops the
sentence from exports).

The tags of a sentence are rebuilt from its spans' current labels; a retag replaces them, and span decisions made
after the retag are laid over it (a relabel sets that span's tags, a removal drops the sentence).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from curate.errors import CurateError
from curate.spans import BACKGROUND, bio_spans, bio_tags
from curate.store import Workspace

SENTENCE = "sentence"  # the text kind of a span dataset's sentences
RETAG = "retag"
TAG = re.compile(r"^(O|[BI]-\S+)$")

Q_SENTENCES = """
    SELECT id, text, meta FROM texts WHERE dataset = ? AND kind = 'sentence' {only}
"""
# Span examples with their current label and removal, and the seq of their latest decision (0: none).
Q_SPANS = """
    SELECT c.id, json_extract_string(c.meta, '$.sentence'), CAST(json_extract(c.meta, '$.span_start') AS INTEGER),
           CAST(json_extract(c.meta, '$.span_end') AS INTEGER), c.label, c.removed, coalesce(c.last_seq, 0),
           c.last_action
    FROM current_examples c WHERE c.dataset = ? {only}
"""
Q_SENTENCE_DECISIONS = """
    SELECT example_id, arg_max(action, seq), arg_max_null(new_label, seq), max(seq) FROM decisions
    WHERE dataset = ? AND example_id IN (SELECT id FROM texts WHERE dataset = ? AND kind = 'sentence') {only}
    GROUP BY example_id
"""


@dataclass
class Sentence:
    """One sentence with its tags as they stand (ingested spans, reviewers' decisions applied)."""

    id: str
    tokens: list[str]
    split: str
    ord: int
    tags: list[str]
    removed: bool = False
    action: str | None = None  # the latest decision on the sentence itself
    seq: int | None = None
    meta: dict[str, Any] | None = None

    @property
    def original_tags(self) -> list[str]:
        """The tags before any sentence-level decision (the spans' current labels)."""
        return (self.meta or {}).get("_span_tags", self.tags)


def tags_text(tags: list[str]) -> str:
    """Tags as one space-separated string: the 'label' of a sentence unit."""
    return " ".join(tags)


def parse_tags(text: str, n_tokens: int, sentence_id: str = "") -> list[str]:
    """IOB2 tags from a space-separated string, one per token; a wrong count or tag raises CurateError naming both."""
    tags = (text or "").split()
    where = f" of sentence '{sentence_id}'" if sentence_id else ""
    if len(tags) != n_tokens:
        raise CurateError(f"the new tags{where} have {len(tags)} tags for {n_tokens} tokens")
    bad = next((t for t in tags if not TAG.match(t)), None)
    if bad is not None:
        raise CurateError(f"'{bad}' in the new tags{where} is not an IOB2 tag (O, B-type or I-type)")
    return repair(tags)


def repair(tags: list[str]) -> list[str]:
    """Valid IOB2: an I- tag that does not continue a span of its type opens one (B-)."""
    return bio_tags(len(tags), bio_spans(tags))


def _only(column: str, ids: list[str] | None) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    return f"AND {column} IN (SELECT unnest(?::VARCHAR[]))", [list(ids)]


def load_sentences(ws: Workspace, dataset: str, ids: list[str] | None = None) -> dict[str, Sentence]:
    """The dataset's sentences (or only the given ids) with their current tags, in corpus order."""
    only, args = _only("id", ids)
    out: dict[str, Sentence] = {}
    for sid, _, meta_json in ws.con.execute(Q_SENTENCES.format(only=only), [dataset, *args]).fetchall():
        meta = json.loads(meta_json) if meta_json else {}
        tokens = list(meta.get("token") or [])
        out[sid] = Sentence(sid, tokens, str(meta.get("split", "")), int(meta.get("ord", 0) or 0),
                            [BACKGROUND] * len(tokens), meta=meta)
    if not out:
        return out
    span_only, span_args = ("", []) if ids is None else (
        "AND json_extract_string(c.meta, '$.sentence') IN (SELECT unnest(?::VARCHAR[]))", [list(ids)])
    spans: dict[str, list[tuple[int, int, str, bool, int, str | None]]] = {}
    for _, sid, s, e, label, removed, seq, action in ws.con.execute(Q_SPANS.format(only=span_only),
                                                                    [dataset, *span_args]).fetchall():
        if sid in out:
            spans.setdefault(sid, []).append((s, e, label or BACKGROUND, bool(removed), int(seq), action))
    donly, dargs = _only("example_id", ids)
    latest = {sid: (action, new_label, int(seq)) for sid, action, new_label, seq in ws.con.execute(
        Q_SENTENCE_DECISIONS.format(only=donly), [dataset, dataset, *dargs]).fetchall()}
    for sid, sent in out.items():
        mine = spans.get(sid, [])
        sent.tags = bio_tags(len(sent.tokens), [(s, e, t) for s, e, t, *_ in mine])
        sent.meta["_span_tags"] = list(sent.tags)
        action, new_label, seq = latest.get(sid, (None, None, 0))
        sent.action, sent.seq = action, (seq if action else None)
        after = seq if action == RETAG and new_label else 0  # span decisions before a retag are in its tags
        sent.removed = action == "remove" or any(removed and s_seq > after for *_, removed, s_seq, _ in mine)
        if action == RETAG and new_label:
            tags = new_label.split()
            for s, e, label, _, s_seq, s_action in mine:
                if s_action == "relabel" and s_seq > seq:  # a span relabelled after the retag lies over it
                    tags[s : e + 1] = bio_tags(e - s + 1, [(0, e - s, label)])
            sent.tags = repair(tags)
    return dict(sorted(out.items(), key=lambda kv: (kv[1].split, kv[1].ord, kv[0])))


def fill_tags(ws: Workspace, dataset: str, ids: list[str], labels: list[Any]) -> list[Any]:
    """labels with each sentence unit's missing label filled in with its current tags (example labels kept)."""
    missing = [i for i, lab in zip(ids, labels) if lab is None or (isinstance(lab, float) and lab != lab)]
    if not missing:
        return labels
    found = load_sentences(ws, dataset, missing)
    return [tags_text(found[i].tags) if i in found else lab for i, lab in zip(ids, labels)]


def is_sentence(ws: Workspace, dataset: str, unit_id: str) -> bool:
    """Whether an id names a sentence unit of the dataset (not an example)."""
    return ws.one("SELECT 1 FROM texts WHERE dataset = ? AND kind = 'sentence' AND id = ?", [dataset, unit_id]) is not None


def check_retags(ws: Workspace, dataset: str, retags: dict[str, str]) -> dict[str, str]:
    """The retags' tags as stored (valid IOB2, one space between); tags that do not fit their sentence (count,
    shape) raise CurateError naming the sentence."""
    if not retags:
        return {}
    found = load_sentences(ws, dataset, list(retags))
    out = {}
    for sid, text in retags.items():
        if sid not in found:
            raise CurateError(f"dataset '{dataset}' has no sentence '{sid}' to retag")
        out[sid] = tags_text(parse_tags(text, len(found[sid].tokens), sid))
    return out
