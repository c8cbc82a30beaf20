"""The card window the browser draws ahead of the server: queue order, live labels and statuses, and the same
suggestion the focus view offers."""

from __future__ import annotations

import html

from curate.review import QueueFilter, build_queue, decide, load_example
from curate.review.cards import cards, window
from ui.components.example import card_html


def test_window_holds_the_previous_the_focus_and_the_next_ones_in_queue_order(rws):
    q = build_queue(rws, QueueFilter(dataset="rel"))
    assert window(q, q.ids[0], ahead=3) == q.ids[:4]
    assert window(q, q.ids[5], ahead=2, behind=1) == q.ids[4:8]
    assert window(q, q.ids[-1], ahead=6) == q.ids[-2:]
    outside = rws.one("SELECT id FROM examples WHERE dataset = 'rel' AND id NOT IN (SELECT unnest(?::VARCHAR[]))",
                      [q.ids])[0]
    assert window(q, outside) == [outside]  # a neighbour opened from the evidence: just that one
    assert window(q, None) == []


def test_cards_carry_live_label_status_seq_and_the_views_suggestion(rws):
    q = build_queue(rws, QueueFilter(dataset="rel"))
    second, third = q.ids[1], q.ids[2]
    was = rws.one("SELECT label FROM examples WHERE dataset = 'rel' AND id = ?", [second])[0]
    new = "per:title" if was != "per:title" else "no_relation"
    seq = decide(rws, "rel", second, "relabel", new_label=new, reviewer="ann")
    decide(rws, "rel", third, "remove", reviewer="ann")
    got = cards(rws, q, q.ids[0], ahead=3)
    assert [c["id"] for c in got] == q.ids[:4]
    assert [c["position"] for c in got] == [0, 1, 2, 3] and all(c["total"] == len(q) for c in got)
    by_id = {c["id"]: c for c in got}
    assert by_id[second]["label"] == new and by_id[second]["status"] == "relabelled"
    assert by_id[second]["seq"] == seq and by_id[second]["original_label"] == was
    assert by_id[third]["status"] == "removed" and by_id[q.ids[0]]["status"] == "unreviewed"
    for c in got:
        view = load_example(rws, "rel", c["id"])
        assert c["suggested"] == view.suggested and c["label"] == view.label and c["text"] == view.text
        assert [d["detector"] for d in c["detectors"]] == [f["detector"] for f in view.findings]
        assert c["task"] == "relation" and {"subj_start", "obj_end"} <= set(c["meta"])


def test_retrieval_cards_have_the_pair_and_card_html_escapes_user_text(rws):
    q = build_queue(rws, QueueFilter(dataset="ret"))
    card = cards(rws, q, q.ids[0], ahead=0)[0]
    assert card["retrieval"]["query"] and card["retrieval"]["passage"] and card["retrieval"]["positives"]
    page = card_html(card)
    assert f"<code>{card['id']}</code>" in page and " 1 of " in page
    card = {**card, "task": "classification", "text": "<script>alert(1)</script> & more", "retrieval": None}
    page = card_html(card)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def test_a_span_card_marks_the_span_in_question():
    card = {"id": "s:2-3", "position": 0, "total": 1, "split": "train", "task": "span", "text": "Alex met Paris Hilton",
            "meta": {"token": ["Alex", "met", "Paris", "<Hilton>"], "span_start": 2, "span_end": 3},
            "label": "person", "original_label": "person", "status": "unreviewed", "suggested": "O",
            "detectors": []}
    page = card_html(card)
    assert '<span class="cu-subj" title="subject">Paris &lt;Hilton&gt;</span>' in page
    assert "Alex met <span" in page


def test_every_card_of_the_window_carries_its_evidence_and_the_examples_it_points_at(rws):
    q = build_queue(rws, QueueFilter(dataset="rel"))
    got = cards(rws, q, q.ids[0], ahead=4)
    assert len(got) == 5
    for c in got:  # the ones ahead too: read before the reviewer gets there
        view = load_example(rws, "rel", c["id"])
        assert [d["evidence"] for d in c["detectors"]] == [f["evidence"] for f in view.findings]
        assert c["referenced"] and set(c["referenced"]) <= set(view.referenced)
        assert all(c["referenced"][i] == view.referenced[i] for i in c["referenced"])
        page = card_html(c)
        assert f"class='cu-evidence' data-for='{c['id']}'" in page
        first = next(iter(c["referenced"].values()))
        assert html.escape(first["text"][:20]) in page  # escaped char by char: a prefix of the escaped text
