"""JSONL, CSV and Parquet with a field mapping, including relations from character offsets."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.errors import InputError
from curate.ingest import ingest
from curate.ingest.mapping import SNIFF_RECORDS
from tests.conftest import SAMPLE, snapshot


def test_jsonl_sample_classification(ws):
    ingest(ws, SAMPLE / "classification" / "train.jsonl", "jsonl", "cls")
    s = ws.stats("cls")
    assert s["examples"] == 3000 and s["task"] == "classification"
    assert set(s["labels"]["train"]) == {"sports", "business", "politics", "science", "entertainment"}


def test_field_mapping_split_field_and_generated_ids(ws, tmp_path):
    p = tmp_path / "d.jsonl"
    rows = [{"body": "great phone", "stars": 5, "part": "train", "lang": "en"},
            {"body": "awful", "stars": 1, "part": "test", "lang": "en"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(ws, p, "jsonl", "rev", options={"text_field": "body", "label_field": "stars", "split_field": "part"})
    df = ws.examples_frame("rev")
    assert sorted(zip(df["split"], df["label"], df["text"])) == [("test", "1", "awful"), ("train", "5", "great phone")]
    assert all(json.loads(m)["extra"] == {"lang": "en"} for m in df["meta"])
    assert df["id"].str.match(r"^(train|test)-\d+$").all()


def test_relation_from_char_offsets_tokenized_with_spacy(ws, tmp_path):
    text = "Marie Curie was born in Warsaw, Poland."
    p = tmp_path / "rel.jsonl"
    p.write_text(json.dumps({"id": "r1", "text": text, "label": "per:city_of_birth", "s0": 0, "s1": 11,
                             "o0": 24, "o1": 30, "st": "PERSON", "ot": "CITY"}) + "\n")
    fields = {"subj_start": "s0", "subj_end": "s1", "obj_start": "o0", "obj_end": "o1",
              "subj_type": "st", "obj_type": "ot"}
    ingest(ws, p, "jsonl", "rel", options={"task": "relation", "fields": fields})
    meta = json.loads(ws.examples_frame("rel")["meta"][0])
    toks = meta["token"]
    assert toks[meta["subj_start"]:meta["subj_end"] + 1] == ["Marie", "Curie"]
    assert toks[meta["obj_start"]:meta["obj_end"] + 1] == ["Warsaw"]
    assert toks[meta["obj_end"] + 1] == ","  # spaCy split the comma off
    assert meta["subj_type"] == "PERSON" and ws.dataset("rel").task == "relation"


def test_csv_and_parquet_read_the_same_rows(ws, tmp_path):
    rows = [{"id": f"x{i}", "text": f"sentence number {i}", "label": "a" if i % 2 else "b"} for i in range(5)]
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("id,text,label\n" + "".join(f'{r["id"]},"{r["text"]}",{r["label"]}\n' for r in rows))
    pq_path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pq_path)
    ingest(ws, csv_path, "csv", "c")
    ingest(ws, pq_path, "parquet", "p")
    cols = ["id", "text", "label", "text_hash"]
    assert ws.examples_frame("c")[cols].equals(ws.examples_frame("p")[cols])


BAD = [
    ("jsonl", "malformed line", b'{"id": "1", "text": "a", "label": "x"}\n{"id": "2", "text": \n', "line 2", "invalid JSON"),
    ("jsonl", "not an object", b'["a", "b"]\n', "line 1", "expected an object"),
    ("jsonl", "missing label", b'{"id": "1", "text": "a"}\n', "field 'label'", "missing"),
    ("jsonl", "mistyped text", b'{"id": "1", "text": ["a"], "label": "x"}\n', "field 'text'", "expected a string"),
    ("jsonl", "duplicate id", b'{"id": "1", "text": "a", "label": "x"}\n{"id": "1", "text": "b", "label": "y"}\n',
     "line 2", "duplicate id '1' (first seen at line 1)"),
    ("jsonl", "empty", b"\n\n", "", "file is empty"),
    ("jsonl", "non utf8", b'{"id": "1", "text": "a", "label": "x"}\n{"id": "2", "text": "\xff", "label": "x"}\n',
     "line 2", "not valid UTF-8"),
    ("csv", "wrong header", b"id,sentence,label\n1,a,x\n", "field 'text'", "CSV header lacks column(s) text"),
    ("csv", "ragged row", b"id,text,label\n1,a,x,extra\n", "line 2", "row has 4 cells"),
    ("csv", "header only", b"id,text,label\n", "", "no rows"),
    # The unclosed quote runs to the end of the file: the row it opens has no label.
    ("csv", "unclosed quote", b'id,text,label\n1,a,x\n2,"b,y\n3,c,z\n', "line 4, field 'label'", "missing"),
    ("csv", "non utf8", b"id,text,label\n1,a,x\n2,\"two\nlines \xff\",x\n", "line 4", "not valid UTF-8"),
    ("csv", "empty", b"\n \n", "", "file is empty"),
    ("jsonl", "empty label", b'{"id": "1", "text": "a", "label": " "}\n', "field 'label'", "is empty"),
    ("parquet", "not parquet", b"this is not parquet", "", "not a readable Parquet file"),
]


@pytest.mark.parametrize("fmt,case,data,where,message", BAD, ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_bad_input(ws, tmp_path, fmt, case, data, where, message):
    before = snapshot(ws)
    p = tmp_path / f"bad.{fmt}"
    p.write_bytes(data)
    with pytest.raises(InputError) as exc:
        ingest(ws, p, fmt, "bad")
    assert where in str(exc.value) and message in str(exc.value) and "bad." in str(exc.value)
    assert snapshot(ws) == before


def test_relation_span_out_of_range(ws, tmp_path):
    p = tmp_path / "rel.jsonl"
    p.write_text(json.dumps({"id": "r1", "text": "short", "label": "x", "subj_start": 0, "subj_end": 2,
                             "obj_start": 3, "obj_end": 40}) + "\n")
    with pytest.raises(InputError, match="line 1, field 'obj_start': character span 3-40 is out of range"):
        ingest(ws, p, "jsonl", "rel", options={"task": "relation"})


def test_csv_fields_longer_than_the_csv_module_default_are_read(ws, tmp_path):
    long_text = "word " * 40_000  # 200 kB in one cell; the csv module stops at 128 KiB by default
    p = tmp_path / "long.csv"
    p.write_text(f'id,text,label\n1,"{long_text}",x\n2,short,y\n')
    ingest(ws, p, "csv", "long")
    assert ws.examples_frame("long")["text"].str.len().max() == len(long_text)


def test_parquet_text_column_of_integers_is_refused(ws, tmp_path):
    p = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": [1, 2], "label": ["x", "y"]}), p)
    before = snapshot(ws)
    with pytest.raises(InputError, match=r"ints.parquet, field 'text': the text column holds int64, not strings"):
        ingest(ws, p, "parquet", "ints")
    assert snapshot(ws) == before


def test_span_records_from_markers_offsets_or_tokens(ws, tmp_path):
    p = tmp_path / "spans.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"id": "m", "text": "Yesterday [E] Alex Turner [/E] played Sheffield", "label": "person"},
        {"id": "c", "text": "Arctic Monkeys played Sheffield", "label": "group", "span_start": 0, "span_end": 14},
        {"id": "t", "token": ["They", "love", "Sheffield"], "span_start": 2, "span_end": 2, "label": "location"},
    ]) + "\n")
    ingest(ws, p, "jsonl", "sp", options={"task": "span"})
    assert ws.dataset("sp").task == "span"
    rows = {r[0]: (r[1], json.loads(r[2])) for r in ws.con.execute(
        "SELECT id, text, meta FROM examples WHERE dataset = 'sp'").fetchall()}
    text, meta = rows["m"]
    assert text == "Yesterday Alex Turner played Sheffield"  # the markers are gone from the stored text
    assert meta["token"][meta["span_start"]:meta["span_end"] + 1] == ["Alex", "Turner"]
    assert meta["char_span"] == [10, 21] and text[10:21] == "Alex Turner"
    _, meta = rows["c"]
    assert meta["token"][meta["span_start"]:meta["span_end"] + 1] == ["Arctic", "Monkeys"]
    _, meta = rows["t"]
    assert (meta["span_start"], meta["span_end"]) == (2, 2)


@pytest.mark.parametrize("text,message", [
    ("no marker here", "expected one span marked"),
    ("[E] one [/E] and [E] two [/E]", "expected one span marked"),
    ("[/E] reversed [E]", "expected one span marked"),
    ("empty [E]  [/E] span", "is empty"),
])
def test_bad_span_markers_name_the_record_and_field(ws, tmp_path, text, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"id": "a", "text": "fine [E] span [/E]", "label": "x"}) + "\n"
                 + json.dumps({"id": "b", "text": text, "label": "x"}) + "\n")
    before = snapshot(ws)
    with pytest.raises(InputError, match=message) as err:
        ingest(ws, p, "jsonl", "bad", options={"task": "span"})
    assert err.value.line == 2 and err.value.field == "text"
    assert snapshot(ws) == before


def test_task_auto_reads_marked_texts_as_spans_and_says_so(ws, tmp_path):
    marked = [{"id": f"r{i}", "text": f"Yesterday [E] Band {i} [/E] played Sheffield", "label": "group"}
              for i in range(SNIFF_RECORDS + 5)]
    p = tmp_path / "marked.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in marked))
    res = ingest(ws, p, "jsonl", "auto")  # no task given
    assert ws.dataset("auto").task == "span" and res.task == "span"
    assert res.hints and "read as span data (task auto)" in res.hints[0]
    text, meta = ws.con.execute("SELECT text, meta FROM examples WHERE id = 'r3'").fetchone()
    assert text == "Yesterday Band 3 played Sheffield" and json.loads(meta)["char_span"] == [10, 16]
    # Explicit classification keeps the markers in the text.
    ingest(ws, p, "jsonl", "cls", options={"task": "classification"})
    assert ws.dataset("cls").task == "classification"
    # Unmarked texts among the first records: classification, as before.
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in [*marked[:5], {"id": "x", "text": "plain", "label": "O"}]))
    assert ingest(ws, mixed, "jsonl", "mixed").task == "classification"


def test_task_auto_names_itself_when_a_later_record_breaks_the_guess(ws, tmp_path):
    rows = [{"id": f"r{i}", "text": f"[E] Band {i} [/E] played", "label": "group"} for i in range(SNIFF_RECORDS)]
    rows.append({"id": "late", "text": "no marker in this one", "label": "O"})
    p = tmp_path / "late.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = snapshot(ws)
    with pytest.raises(InputError, match="expected one span marked.*read as span from the first records") as err:
        ingest(ws, p, "jsonl", "late")
    assert err.value.line == SNIFF_RECORDS + 1 and err.value.field == "text"
    assert snapshot(ws) == before


def test_task_auto_on_csv_reads_only_the_first_rows(ws, tmp_path):
    from curate.ingest.generic import CsvIngestor
    from curate.ingest.mapping import SNIFF_RECORDS, FieldOptions

    p = tmp_path / "big.csv"
    rows = "".join(f"{i},[E]Paris[/E] is here {i},location\n" for i in range(SNIFF_RECORDS + 50))
    p.write_bytes(b"id,text,label\n" + rows.encode() + b"9999,bad \xff byte,x\n")
    # The guess stops before the bad byte far below (the file is streamed); the ingest itself reaches it.
    settled, note = CsvIngestor().settle(p, FieldOptions(task="auto"))
    assert settled.task == "span" and "task auto" in note
    with pytest.raises(InputError, match=f"line {SNIFF_RECORDS + 52}.*not valid UTF-8"):
        ingest(ws, p, "csv", "big")
