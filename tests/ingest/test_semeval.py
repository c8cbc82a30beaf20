"""Inline entity markers on the real SemEval-2010 Task 8 text."""

from __future__ import annotations

import json

import pytest

from curate.errors import InputError
from curate.ingest import ingest
from curate.relation import marked_text
from tests.conftest import snapshot


def test_real_sentences_become_token_spans(ws, tmp_path, semeval_train_lines):
    p = tmp_path / "TRAIN.TXT"
    p.write_text("\n".join(semeval_train_lines) + "\n")
    ingest(ws, p, "semeval", "sem", split="train")
    rows = ws.examples_frame("sem")
    assert len(rows) == 60
    assert ws.dataset("sem").negative_label == "Other"
    first = json.loads(rows["meta"][0])
    # 1	"The system as described above has its greatest application in an arrayed <e1>configuration</e1> of antenna <e2>elements</e2>."
    assert first["token"][first["subj_start"]] == "configuration"
    assert first["token"][first["obj_start"]] == "elements"
    assert rows["label"][0] == "Component-Whole(e2,e1)"
    text, subj, obj = marked_text(first)
    assert text[subj[0]:subj[1]] == "configuration" and text[obj[0]:obj[1]] == "elements"
    assert "@ * entity * configuration @" in text
    for meta in map(json.loads, rows["meta"]):
        spans = meta["char_spans"]
        assert spans["subj"][0] < spans["subj"][1]


BAD = [
    ("missing markers", '1\t"A sentence without entities."\nOther\nComment:\n', "line 1", "expected exactly one <e1>"),
    ("no label", '1\t"The <e1>a</e1> b <e2>c</e2>."\n\n', "line 2", "missing label line"),
    ("bad label", '1\t"The <e1>a</e1> b <e2>c</e2>."\nnot a label!\n', "line 2", "not a relation label"),
    ("duplicate id", '1\t"The <e1>a</e1> b <e2>c</e2>."\nOther\n\n1\t"The <e1>d</e1> e <e2>f</e2>."\nOther\n',
     "line 4", "duplicate id '1'"),
    ("empty entity", '1\t"The <e1></e1> b <e2>c</e2>."\nOther\n', "line 1", "empty entity"),
]


@pytest.mark.parametrize("case,content,where,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input(ws, tmp_path, case, content, where, message):
    before = snapshot(ws)
    p = tmp_path / "bad.txt"
    p.write_text(content)
    with pytest.raises(InputError) as exc:
        ingest(ws, p, "semeval", "sem")
    assert where in str(exc.value) and message in str(exc.value)
    assert snapshot(ws) == before


GOOD = '1\t"The <e1>a</e1> b <e2>c</e2>."\nOther\n\n'


@pytest.mark.parametrize("line", ["Comment:", "Comment: foo", "Comment:foo", "comment:", "Comment"])
def test_comment_in_place_of_the_label_is_refused(ws, tmp_path, line):
    # The second record's label line is missing: its sentence is followed directly by the Comment line.
    before = snapshot(ws)
    p = tmp_path / "no_label.txt"
    p.write_text(GOOD + f'7\t"The <e1>d</e1> e <e2>f</e2>."\n{line}\n\n')
    with pytest.raises(InputError) as exc:
        ingest(ws, p, "semeval", "sem")
    msg = str(exc.value)
    assert str(p) in msg and "line 5" in msg and "id '7'" in msg and "missing label line" in msg, msg
    assert snapshot(ws) == before


@pytest.mark.parametrize("label", ["Other:", "per:", "per::title", "per:title:", "Cause-Effect(e1,e1)",
                                   "Cause-Effect(e2,e2)"])
def test_near_miss_labels_are_refused(ws, tmp_path, label):
    before = snapshot(ws)
    p = tmp_path / "bad_label.txt"
    p.write_text(GOOD + f'7\t"The <e1>d</e1> e <e2>f</e2>."\n{label}\nComment:\n\n')
    with pytest.raises(InputError) as exc:
        ingest(ws, p, "semeval", "sem")
    msg = str(exc.value)
    assert str(p) in msg and "line 5" in msg and f"not a relation label for id '7': {label!r}" in msg, msg
    assert snapshot(ws) == before


def test_relation_names_with_colons_and_directions_still_ingest(ws, tmp_path):
    labels = ["per:title", "org:top_members/employees", "no_relation", "Cause-Effect(e2,e1)", "Other"]
    p = tmp_path / "ok.txt"
    p.write_text("".join(f'{n}\t"The <e1>a</e1> b <e2>c{n}</e2>."\n{label}\nComment: fine\n\n'
                         for n, label in enumerate(labels, start=1)))
    ingest(ws, p, "semeval", "sem")
    assert list(ws.examples_frame("sem")["label"]) == labels
