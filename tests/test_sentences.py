"""Sentences of span data as review units: token-issues findings in the queue and on cards, retag decisions
(validated, undone, overlaid by later span decisions), and the CoNLL / spaCy exports that write them."""

from __future__ import annotations

import pytest

from curate.decisions import history, undo
from curate.detect import run_detector
from curate.errors import CurateError
from curate.export import export
from curate.ingest import ingest
from curate.review import QueueFilter, build_queue, decide
from curate.review.cards import cards
from curate.sentences import load_sentences
from ui.components.example import card_html

ROWS = [
    ("Alex Turner played Sheffield last night", "B-person I-person O B-location O O"),
    ("Arctic Monkeys visit New York soon", "B-group I-group O B-location I-location O"),
    ("i love my new iphone from apple", "O O O O B-product O B-corporation"),
    ("Taylor Swift sings in London tonight", "B-person I-person O O B-location O"),
    ("Google bought YouTube years ago", "B-corporation O B-corporation O O"),
    ("we met Lionel Messi at Barcelona", "O O B-person I-person O B-location"),
    ("Paris is lovely in spring", "B-location O O O O"),
    ("the Beatles played Liverpool again", "O B-group O B-location O"),
]


@pytest.fixture
def ner(ws, tmp_path):
    """Eight tagged sentences and one token-issues run over them."""
    p = tmp_path / "train.conll"
    p.write_text("".join("".join(f"{t}\t{g}\n" for t, g in zip(s.split(), tags.split())) + "\n" for s, tags in ROWS))
    ingest(ws, p, "conll", "ner")
    run = run_detector(ws, "ner", "token-issues", {"folds": 2})
    return ws, run


def read_conll(path) -> list[list[str]]:
    return [[line.split("\t")[-1] for line in block.splitlines()] for block in path.read_text().split("\n\n")
            if block.strip()]


def test_sentence_findings_reach_the_queue_and_cards(ner):
    ws, run = ner
    q = build_queue(ws, QueueFilter(dataset="ner", detectors=["token-issues"], flagged_only=False))
    assert sorted(q.ids) == [f"train-{n:06d}" for n in range(1, 9)]
    assert set(q.items["status"]) == {"unreviewed"}
    found = cards(ws, q, q.ids[0], ahead=8)
    assert [c["id"] for c in found] == q.ids[: len(found)] and len(found) == 8
    first = found[0]
    assert first["task"] == "sentence" and len(first["label"].split()) == len(first["meta"]["token"])
    html = card_html({**first, "suggested": " ".join(["B-person"] * len(first["meta"]["token"]))})
    assert "cu-toks" in html and "cu-diff" in html and "entities" in html


def test_retag_is_validated_stored_repaired_and_undone(ner):
    ws, _ = ner
    sid = "train-000003"
    with pytest.raises(CurateError, match="have 2 tags for 7 tokens"):
        decide(ws, "ner", sid, "relabel", new_label="O O", reviewer="r")
    with pytest.raises(CurateError, match="'X-thing' .* not an IOB2 tag"):
        decide(ws, "ner", sid, "relabel", new_label="O O O O X-thing O O", reviewer="r")
    with pytest.raises(CurateError, match="is an example, not a sentence"):
        decide(ws, "ner", "train-000001:0-1", "retag", new_label="B-person I-person", reviewer="r")
    assert history(ws, "ner", sid) == []
    # A lower-case entity nobody tagged ('apple' was; 'iphone' loses its tag here): an I- that opens a span
    # is stored as B-.
    decide(ws, "ner", sid, "relabel", new_label="O O O I-product I-product O B-corporation", reviewer="r")
    last = history(ws, "ner", sid)[-1]
    assert (last["action"], last["new_label"]) == ("retag", "O O O B-product I-product O B-corporation")
    assert load_sentences(ws, "ner", [sid])[sid].tags == last["new_label"].split()
    q = build_queue(ws, QueueFilter(dataset="ner", detectors=["token-issues"], flagged_only=False))
    row = q.items.set_index("id").loc[sid]
    assert row["status"] == "relabelled" and row["label"] == last["new_label"]
    # The label set the detectors and the picker use holds entity types, not tag strings.
    from curate.decisions import label_set

    assert all(" " not in lab for lab in label_set(ws, "ner"))
    undo(ws, "ner", sid, reviewer="r")
    assert load_sentences(ws, "ner", [sid])[sid].tags == "O O O O B-product O B-corporation".split()


def test_exports_write_retags_removals_and_later_span_decisions(ner, tmp_path):
    ws, _ = ner
    decide(ws, "ner", "train-000002", "relabel", new_label="B-group I-group O B-location I-location B-time",
           reviewer="r")
    decide(ws, "ner", "train-000007", "remove", reviewer="r")
    decide(ws, "ner", "train-000004", "retag", new_label="B-person I-person O O B-location O", reviewer="r")
    decide(ws, "ner", "train-000004:0-1", "relabel", new_label="group", reviewer="r")  # after the retag: it wins
    export(ws, "ner", tmp_path / "conll", fmt="conll")
    tags = read_conll(tmp_path / "conll" / "train.conll")
    assert len(tags) == 7  # the removed sentence is gone
    assert tags[1] == "B-group I-group O B-location I-location B-time".split()
    assert tags[3] == "B-group I-group O O B-location O".split()
    assert tags[0] == ROWS[0][1].split()
    export(ws, "ner", tmp_path / "spacy", fmt="spacy")
    import spacy
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(tmp_path / "spacy" / "train.spacy").get_docs(spacy.blank("en").vocab))
    assert [[t.text for t in d] for d in docs][1] == ROWS[1][0].split()
    for doc, want in zip(docs, tags):
        got = ["O"] * len(doc)
        for e in doc.ents:
            got[e.start : e.end] = [f"B-{e.label_}"] + [f"I-{e.label_}"] * (len(e) - 1)
        assert got == want
    ingest(ws, tmp_path / "spacy", "spacy", "back")  # the DocBin reads back as span data
    assert ws.one("SELECT count(*) FROM texts WHERE dataset = 'back' AND kind = 'sentence'")[0] == 7


def test_span_decisions_around_a_retag(ner):
    ws, _ = ner
    sid = "train-000006"  # we met Lionel Messi at Barcelona
    decide(ws, "ner", f"{sid}:5-5", "remove", reviewer="r")  # before the retag: the retag supersedes it
    decide(ws, "ner", sid, "retag", new_label="O O B-person I-person O B-group", reviewer="r")
    sent = load_sentences(ws, "ner", [sid])[sid]
    assert not sent.removed and sent.tags[5] == "B-group"
    # A span relabelled after the retag lies over it; undoing that relabel, or keeping the span, does not
    # undo the retag.
    decide(ws, "ner", f"{sid}:2-3", "relabel", new_label="group", reviewer="r")
    assert load_sentences(ws, "ner", [sid])[sid].tags[2:4] == ["B-group", "I-group"]
    undo(ws, "ner", f"{sid}:2-3", reviewer="r")
    decide(ws, "ner", f"{sid}:2-3", "keep", reviewer="r")
    assert load_sentences(ws, "ner", [sid])[sid].tags == "O O B-person I-person O B-group".split()
    decide(ws, "ner", f"{sid}:2-3", "remove", reviewer="r")  # after the retag: the sentence goes
    assert load_sentences(ws, "ner", [sid])[sid].removed


def test_rules_and_bulk_actions_respect_sentence_units(ner, tmp_path):
    from curate.export.variants import AutoRule, Policy
    from curate.review import bulk_apply, bulk_preview

    ws, run = ner
    flagged = [r[0] for r in ws.con.execute("SELECT example_id FROM findings WHERE run_id = ? AND suggested_label IS "
                                            "NOT NULL", [run.run_id]).fetchall()]
    assert flagged, "the tiny run suggests tags somewhere"
    kept = flagged[0]
    decide(ws, "ner", kept, "keep", reviewer="r")
    policy = Policy(reviewed=True, auto=[AutoRule(detector="token-issues", action="relabel", min_score=0.0)])
    export(ws, "ner", tmp_path / "auto", fmt="conll", policy=policy)
    tags = read_conll(tmp_path / "auto" / "train.conll")
    n = int(kept.split("-")[1]) - 1
    assert tags[n] == ROWS[n][1].split()  # the kept sentence is as the reviewer left it
    others = [int(s.split("-")[1]) - 1 for s in flagged[1:]]
    sugg = dict(ws.con.execute("SELECT example_id, suggested_label FROM findings WHERE run_id = ?",
                               [run.run_id]).fetchall())
    assert all(tags[i] == sugg[f"train-{i + 1:06d}"].split() for i in others)  # the rule retagged the rest
    flt = QueueFilter(dataset="ner", detectors=["token-issues"], flagged_only=False)
    fixed = bulk_preview(ws, flt, "relabel", "person")
    assert fixed["count"] == 0 and fixed["skipped"]["sentence_units"] == 8
    preview = bulk_preview(ws, flt, "relabel", "@suggested")
    assert preview["new_labels"] == [] and all(e["action"] == "retag" for e in preview["examples"])
    done = bulk_apply(ws, flt, "relabel", "@suggested", reviewer="r", expected_count=preview["count"])
    assert done["applied"] == preview["count"] > 0
