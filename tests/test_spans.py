"""Span helpers: BIO tags to spans and back, untagged candidate spans, marked text."""

from __future__ import annotations

import pytest

from curate.spans import bio_spans, bio_tags, candidate_spans, marked_span_text


@pytest.mark.parametrize("tags,spans", [
    (["B-PER", "I-PER", "O", "B-LOC"], [(0, 1, "PER"), (3, 3, "LOC")]),
    (["I-PER", "I-PER", "O", "I-LOC", "B-LOC"], [(0, 1, "PER"), (3, 3, "LOC"), (4, 4, "LOC")]),  # IOB1
    (["B-PER", "I-LOC", "O"], [(0, 0, "PER"), (1, 1, "LOC")]),  # a type change starts a span
    (["S-ORG", "B-PER", "E-PER", "O"], [(0, 0, "ORG"), (1, 2, "PER")]),  # BIOES
    (["O", "O"], []),
    (["B-creative-work", "I-creative-work"], [(0, 1, "creative-work")]),  # types with a hyphen
])
def test_bio_spans(tags, spans):
    assert bio_spans(tags) == spans


def test_bio_tags_round_trip_and_o_spans_stay_o():
    tags = ["B-person", "I-person", "O", "B-location", "O"]
    assert bio_tags(5, bio_spans(tags)) == tags
    assert bio_tags(3, [(0, 1, "O"), (2, 2, "group")]) == ["O", "O", "B-group"]


def test_candidates_are_untagged_capitalised_runs_not_sentence_case_or_function_words():
    tokens = "The band played with Arctic Monkeys in Sheffield . It was great , said Alex Turner .".split()
    tagged = [(7, 7, "location")]  # Sheffield
    got = [" ".join(tokens[s : e + 1]) for s, e in candidate_spans(tokens, tagged)]
    assert got == ["Arctic Monkeys", "Alex Turner"]  # not "The" / "It" (function words), not Sheffield (tagged)
    assert candidate_spans(["Paris", "is", "big"], []) == []  # a lone first word: sentence case
    assert candidate_spans(["Paris", "Hilton", "is", "here"], []) == [(0, 1)]


def test_marked_span_text_marks_the_span_and_gives_its_characters():
    meta = {"token": ["Alex", "Turner", "sings", "."], "span_start": 0, "span_end": 1}
    text, (lo, hi) = marked_span_text(meta)
    assert text == "[E] Alex Turner [/E] sings ." and text[lo:hi] == "Alex Turner"
    text, (lo, hi) = marked_span_text({**meta, "span_start": 3, "span_end": 3})
    assert text == "Alex Turner sings [E] . [/E]" and text[lo:hi] == "."
