"""The UI's workspace access: short connections let other processes write; a busy workspace journals decisions;
two concurrent writer processes lose nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from curate.review import QueueFilter, ReviewService, build_queue, load_example
from curate.review.service import journal_path
from curate.store import Workspace


def test_decision_while_another_process_holds_the_workspace_is_journalled_then_applied(review_path):
    svc = ReviewService(review_path, reviewer="ann", wait=0.3)
    eid = svc.call(build_queue, QueueFilter(dataset="rel")).ids[0]
    svc.release()  # as the app does after a second without calls
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(review_path)!r}); "
                               "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert svc.decide("rel", eid, "remove", note="busy") is None
        assert svc.pending() == 1 and journal_path(review_path).exists()
    finally:
        holder.kill()
        holder.wait()
    view = svc.call(load_example, "rel", eid)  # the next call that gets in applies the journal first
    assert view.status == "removed" and view.history[-1]["reviewer"] == "ann"
    assert "journalled" in view.history[-1]["note"] and svc.pending() == 0


WRITER = textwrap.dedent("""
    import sys
    from curate.review import ReviewService
    db, who, ids = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    svc = ReviewService(db, reviewer=who, wait=30)
    for eid in ids:
        assert svc.decide("rel", eid, "keep" if who == "ann" else "remove") is not None
""")


def test_two_concurrent_writer_processes_lose_no_decision(review_path):
    ids = build_queue(Workspace(review_path, wait=5), QueueFilter(dataset="rel", flagged_only=False)).ids[:120]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(review_path), who, ",".join(part)])
             for who, part in (("ann", ids[0::2]), ("bob", ids[1::2]))]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    with Workspace(review_path) as ws:
        rows = ws.con.execute("SELECT reviewer, count(*), count(DISTINCT example_id) FROM decisions "
                              "GROUP BY reviewer ORDER BY reviewer").fetchall()
    assert rows == [("ann", 60, 60), ("bob", 60, 60)]


def test_the_app_releases_the_file_when_idle_so_a_command_gets_in(review_path):
    svc = ReviewService(review_path, reviewer="ann")
    svc.call(build_queue, QueueFilter(dataset="rel"))
    code = f"from curate.store import Workspace; Workspace({str(review_path)!r}, wait=10).close(); print('in')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "in", out.stderr


def test_a_journalled_decision_the_workspace_refuses_is_kept_aside_not_blocking(review_path):
    import json

    from curate.review.service import refused_path

    svc = ReviewService(review_path, reviewer="ann", wait=0.3)
    ids = svc.call(build_queue, QueueFilter(dataset="rel")).ids[:2]
    svc.release()
    entries = [{"dataset": "rel", "example_id": "no-such-example", "action": "remove", "new_label": None,
                "note": None, "reviewer": "ann", "source": "ui", "at": "2026-12-07T05:00:00"},
               {"dataset": "rel", "example_id": ids[1], "action": "keep", "new_label": None, "note": None,
                "reviewer": "ann", "source": "ui", "at": "2026-12-07T05:00:01"}]
    journal_path(review_path).write_text("".join(json.dumps(e) + "\n" for e in entries))
    view = svc.call(load_example, "rel", ids[1])  # applies the journal: the good entry lands, the bad one is set aside
    assert view.status == "kept" and svc.pending() == 0
    refused = [json.loads(line) for line in refused_path(review_path).read_text().splitlines()]
    assert [r["example_id"] for r in refused] == ["no-such-example"] and "has no example" in refused[0]["refused"]
    assert svc.call(load_example, "rel", ids[0]).status == "unreviewed"  # later calls work
