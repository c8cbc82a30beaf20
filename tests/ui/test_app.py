"""The review app through Streamlit's AppTest, widgets found by key: every flow appends decisions to the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curate.store import Workspace

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")


def app(db: Path, monkeypatch, reviewer: str = "ann", **query) -> AppTest:
    monkeypatch.setenv("CURATE_DB", str(db))
    monkeypatch.setenv("CURATE_REVIEWER", reviewer)
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def card(at: AppTest) -> dict:
    """The data the focus card was mounted with: the focus id, its window of cards, the last applied key."""
    def walk(node):
        proto = getattr(node, "proto", None)
        if type(proto).__name__ == "BidiComponent" and proto.component_name == "curate_focus_card":
            return json.loads(proto.json)
        for child in getattr(node, "children", {}).values():
            found = walk(child)
            if found:
                return found
        return None

    found = walk(at.main)
    assert found is not None, "the focus card is not on the page"
    return found


def focus(at: AppTest) -> str:
    data = card(at)
    shown = next(c for c in data["cards"] if c["id"] == data["focus"])
    assert f"<code>{data['focus']}</code>" in shown["html"]
    return data["focus"]


def decisions(db: Path) -> list[tuple]:
    with Workspace(db) as ws:
        return ws.con.execute("SELECT example_id, action, new_label, reviewer, source, batch FROM decisions "
                              "ORDER BY seq").fetchall()


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_dataset(at: AppTest, name: str) -> AppTest:
    at.selectbox(key="rv_dataset").select(name).run()
    return at


def test_loads_queue_and_keep_relabel_remove_each_append_one_decision(review_path, monkeypatch):
    at = open_dataset(app(review_path, monkeypatch), "rel")
    data = card(at)
    assert " 1 of " in next(c["html"] for c in data["cards"] if c["id"] == data["focus"])
    first = focus(at)
    click(at, "rv_keep")
    second = focus(at)
    assert second != first
    click(at, "rv_accept")
    third = focus(at)
    click(at, "rv_remove")
    rows = decisions(review_path)
    assert [(r[0], r[1]) for r in rows] == [(first, "keep"), (second, "relabel"), (third, "remove")]
    assert rows[1][2] is not None and all(r[3] == "ann" and r[4] == "ui" for r in rows)
    assert any("3 reviewed" in p.proto.text for p in at.get("progress"))


def test_filter_narrows_the_queue_and_counts_follow(review_path, monkeypatch):
    at = open_dataset(app(review_path, monkeypatch), "rel")
    total = int(at.get("progress")[0].proto.text.split(" in queue")[0].split()[-1])
    at.multiselect(key="rv_f_detectors").select("knn-vote").run()
    at.slider(key="rv_f_score").set_range(0.9, 1.0).run()
    narrowed = int(at.get("progress")[0].proto.text.split(" in queue")[0].split()[-1])
    assert 0 < narrowed < total
    assert '"detectors":["knn-vote"]' in at.query_params["q"]
    at.text_input(key="rv_f_text").input("zzzz-no-such-text").run()
    assert any("No findings match" in s.value for s in at.success)


def test_relabel_with_picker_and_new_label_needs_confirmation(review_path, monkeypatch):
    at = open_dataset(app(review_path, monkeypatch), "rel")
    first = focus(at)
    at.selectbox(key="rv_pick").select("per:title").run()
    click(at, "rv_relabel")
    second = focus(at)
    at.text_input(key="rv_typed_label").input("per:pet_name").run()
    click(at, "rv_relabel")
    assert any("is not a label of 'rel'" in w.value for w in at.warning)
    assert decisions(review_path) == [(first, "relabel", "per:title", "ann", "ui", None)]
    click(at, "rv_confirm_new")
    assert decisions(review_path)[-1][:3] == (second, "relabel", "per:pet_name")


def test_undo_and_history(review_path, monkeypatch):
    at = open_dataset(app(review_path, monkeypatch), "rel")
    first = focus(at)
    at.text_input(key="rv_note").input("obviously a title").run()
    click(at, "rv_remove")
    click(at, "rv_undo")
    assert focus(at) == first  # undo brings the example back into focus
    rows = decisions(review_path)
    assert [r[1] for r in rows] == ["remove", "reset"] and rows[1][4] == "undo"
    hist = next(d.value for d in at.dataframe if "reviewer" in d.value.columns)  # the history panel
    assert list(hist["action"]) == ["remove", "reset"] and hist["note"].iloc[0] == "obviously a title"


def test_bulk_action_previews_confirms_and_undoes_as_one_step(review_path, monkeypatch):
    at = open_dataset(app(review_path, monkeypatch), "rel")
    at.multiselect(key="rv_f_detectors").select("knn-vote").run()
    at.slider(key="rv_f_score").set_range(0.8, 1.0).run()
    click(at, "rv_bulk_preview")
    assert not decisions(review_path)  # a preview writes nothing
    text = next(m.value for m in at.sidebar.markdown if "examples (" in m.value)
    n = int(text.split("on **")[1].split("**")[0])
    assert n > 0
    click(at, "rv_bulk_confirm")
    rows = decisions(review_path)
    assert len(rows) == n and len({r[5] for r in rows}) == 1 and rows[0][4].startswith("bulk ")
    assert all(r[1] == "relabel" for r in rows)
    click(at, "rv_bulk_undo")
    rows = decisions(review_path)
    assert len(rows) == 2 * n and all(r[4] == "undo" for r in rows[n:])
    with Workspace(review_path) as ws:
        assert ws.one("SELECT count(*) FROM current_examples WHERE dataset = 'rel' AND last_action IS NOT NULL")[0] == 0


def test_conflict_with_another_reviewer_is_shown_before_overwriting(review_path, monkeypatch):
    at = open_dataset(app(review_path, monkeypatch), "rel")
    eid = focus(at)
    from curate.review import decide

    with Workspace(review_path) as ws:  # bob decides the same example in another session meanwhile
        decide(ws, "rel", eid, "keep", reviewer="bob")
    click(at, "rv_remove")
    assert any("keep by bob" in w.value for w in at.warning)
    assert [r[3] for r in decisions(review_path)] == ["bob"]
    click(at, "rv_overwrite")
    assert decisions(review_path)[-1][:4] == (eid, "remove", None, "ann")


def test_refresh_resumes_at_first_unreviewed_of_the_same_queue(review_path, monkeypatch):
    at = open_dataset(app(review_path, monkeypatch), "topics")
    click(at, "rv_keep")
    click(at, "rv_keep")
    nxt = focus(at)
    q = at.query_params["q"]
    again = app(review_path, monkeypatch, q=q)  # a new browser session on the same URL, without the focus id
    assert focus(again) == nxt


@pytest.mark.parametrize("with_dataset", [False, True])
def test_empty_workspace_says_what_to_run(tmp_path, monkeypatch, with_dataset):
    db = tmp_path / "empty.duckdb"
    with Workspace(db) as ws:
        if with_dataset:
            ws.create_dataset("d", "classification", negative_label=None, source="x", fmt="jsonl")
    at = app(db, monkeypatch)
    assert at.title[0].value == "Nothing to review yet"
    code = at.code[0].value
    assert ("curate detect d" in code) if with_dataset else ("curate ingest" in code)


def test_the_page_says_when_the_queue_re_ranked_from_decisions(review_path, monkeypatch):
    """75 decisions that confirm one label: the page says the queue re-ranked and the sidebar can turn it off."""
    from curate.decisions import Decision, record
    from curate.review import QueueFilter, build_queue
    from curate.store import Workspace

    with Workspace(review_path) as ws:
        first = build_queue(ws, QueueFilter(dataset="topics", flagged_only=False)).items.head(75)
        target = first["label"].value_counts().index[0]
        record(ws, "topics", [Decision(i, "remove" if lab == target else "keep")
                              for i, lab in zip(first["id"], first["label"])], reviewer="ann", source="ui")
    at = app(review_path, monkeypatch, q='{"dataset":"topics","flagged_only":false}')
    notes = [c.value for c in at.caption if "re-ranked" in c.value]
    assert notes and notes[0].startswith("queue re-ranked from your 75 decisions; estimated precision of the next 50")
    at.sidebar.checkbox(key="rv_f_learn").uncheck().run()
    assert not [c.value for c in at.caption if "re-ranked" in c.value]
