"""End to end in a real browser: `curate review` on loopback, headless Chromium driven by Playwright, three
examples reviewed with the keyboard alone, the decisions read back from the DuckDB file, and after a server
restart the same queue resumes at the first unreviewed example."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from curate.review import QueueFilter, build_queue, decide
from curate.store import Workspace

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
CURATE = [sys.executable, "-m", "curate.cli"]


def need_browser() -> None:
    missing = [what for what, ok in (("Debian chromium at /usr/bin/chromium", Path(CHROMIUM).exists()),
                                     ("playwright (pip)", shutil.which("python") is not None and _has_playwright()))
               if not ok]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser test needs {', '.join(missing)}: .ci/run installs them")
        pytest.skip(f"needs {', '.join(missing)} (apt-get install chromium; pip install playwright)")


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(db: Path, port: int, log: Path) -> subprocess.Popen:
    """Start `curate review` and wait until it answers on 127.0.0.1."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen([*CURATE, "--db", str(db), "review", "--port", str(port), "--reviewer", "kbd"],
                            stdout=open(log, "a"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    stop(proc)
    raise AssertionError(f"curate review did not start:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen, port: int | None = None) -> None:
    """Stop the server's whole process group, and wait until its port is free (the streamlit child may
    outlive the curate process by a moment, and would answer a restarted server's health check)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 20
    while port is not None and time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.2)


ACKED = "() => window.__curateCard && window.__curateCard.pending.length === 0"


EVIDENCE_NOW = """() => { const id = document.querySelector('h4').innerText.split(/\\s/)[0];
    const ev = document.querySelector(`.cu-card .cu-evidence[data-for="${CSS.escape(id)}"]`);
    return [id, ev ? ev.innerText : null]; }"""


def settle(page) -> None:
    """Wait until the server has acknowledged every key sent (so the decisions are stored), drawn the whole
    page (its last caption) and stopped running."""
    page.wait_for_function(ACKED, timeout=60_000)
    page.wait_for_selector("text=page drawn in", timeout=60_000)
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
    page.wait_for_timeout(300)


def press(page, key: str, old_id: str, shots: Path, db: Path, count: int) -> str:
    """Press a shortcut and wait for the next example. Under load a first key can reach the page before
    Streamlit has bound its shortcuts: if no decision was stored, the key is pressed once more."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.keyboard.press(key)
    try:
        page.wait_for_function("(old) => { const h = document.querySelector('h4'); "
                               "return h && !h.innerText.includes(old); }", arg=old_id, timeout=10_000)
    except PlaywrightTimeout:
        if stored(db) < count:  # the key never arrived; a slow draw is left to wait_for_new_focus
            page.keyboard.press(key)
    return wait_for_new_focus(page, old_id, shots)


def stored(db: Path) -> int:
    import duckdb

    try:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT count(*) FROM decisions").fetchall()[0][0]
    except duckdb.Error:  # the app holds the file right now
        return 10**6


def heading(page) -> str:
    return page.locator("h4").first.inner_text(timeout=30_000)


def wait_for_new_focus(page, old_id: str, shots: Path) -> str:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("(old) => { const h = document.querySelector('h4'); "
                               "return h && !h.innerText.includes(old); }", arg=old_id, timeout=30_000)
    except PlaywrightTimeout:
        page.screenshot(path=str(shots / "failure.png"), full_page=True)
        raise AssertionError(f"focus stayed on {old_id}; page says:\n{page.inner_text('body')[:1500]}") from None
    # The evidence is part of the card the browser drew from its window: there as soon as the example is.
    shown, evidence = page.evaluate(EVIDENCE_NOW)
    assert evidence and shown not in ("", old_id), (shown, evidence)
    settle(page)
    return heading(page).split()[0]


@contextlib.contextmanager
def served_page(db: Path, port: int, log: Path, url: str):
    """`curate review` on db, and a headless Chromium page on url once the app has drawn it; both stopped after."""
    from playwright.sync_api import sync_playwright

    server = start(db, port, log)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            page.wait_for_selector("text=of", timeout=60_000)
            settle(page)
            yield page
            browser.close()
    finally:
        stop(server, port)


def test_review_three_examples_by_keyboard_then_resume_after_restart(review_path, tmp_path):
    need_browser()
    port, log = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"q": json.dumps({"dataset": "rel"})})
    shots = Path(os.environ.get("CURATE_SCREENSHOTS", tmp_path))
    with served_page(review_path, port, log, url) as page:
        head = heading(page)
        assert " 1 of " in head
        seen = [head.split()[0]]
        page.screenshot(path=str(shots / "review.png"), full_page=False)
        page.locator("h4").first.click()  # the page has the keyboard focus, as after a reviewer's first look
        for n, key in enumerate(("k", "a")):  # keep, accept the suggestion
            seen.append(press(page, key, seen[-1], shots, review_path, n + 1))
        after = press(page, "d", seen[-1], shots, review_path, 3)  # remove
    with Workspace(review_path, wait=10) as ws:
        rows = ws.con.execute("SELECT example_id, action, new_label, reviewer, source FROM decisions ORDER BY seq"
                              ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(seen[0], "keep"), (seen[1], "relabel"), (seen[2], "remove")]
    assert rows[1][2] and all(r[3] == "kbd" and r[4] == "ui" for r in rows)
    assert (shots / "review.png").stat().st_size > 10_000

    with served_page(review_path, port, log, url) as page:  # a restart: nothing in memory, the same queue URL
        assert heading(page).split()[0] == after
        page.wait_for_selector("text=3 reviewed", timeout=15_000)
        # Keys faster than the server answers: each draws the next card at once; all are stored, in order.
        fast = [after]
        for _ in range(3):
            page.keyboard.press("k")
            fast.append(heading(page).split()[0])
        assert len(set(fast)) == 4, fast
        settle(page)
        page.wait_for_selector("text=6 reviewed", timeout=15_000)
        with Workspace(review_path, wait=10) as ws:
            later = ws.con.execute("SELECT example_id, action FROM decisions ORDER BY seq").fetchall()[3:]
        assert later == [(eid, "keep") for eid in fast[:3]]
        assert heading(page).split()[0] == fast[3]
        # Another reviewer decides the next example while this page still shows it as unreviewed: the key
        # on it is refused as a conflict, the page goes back to it and asks before overwriting.
        with Workspace(review_path, wait=10) as ws:
            q = build_queue(ws, QueueFilter(dataset="rel"))
            other = q.ids[q.position(fast[3]) + 1]
            decide(ws, "rel", other, "remove", reviewer="bob")
        page.keyboard.press("k")
        assert heading(page).split()[0] == other
        page.keyboard.press("k")
        page.wait_for_selector(f"text='{other}' was decided since you loaded it: remove by bob", timeout=30_000)
        settle(page)
        assert heading(page).split()[0] == other
        with Workspace(review_path, wait=10) as ws:
            last = ws.con.execute("SELECT example_id, action, reviewer FROM decisions ORDER BY seq").fetchall()[-2:]
        assert last == [(other, "remove", "bob"), (fast[3], "keep", "kbd")]  # nothing of ours on it
        page.keyboard.press("u")  # undo goes to the server first, then shows the example it restored
        page.wait_for_function("(id) => { const h = document.querySelector('h4'); "
                               "return h && h.innerText.startsWith(id + ' '); }", arg=fast[3], timeout=30_000)
        settle(page)
        with Workspace(review_path, wait=10) as ws:
            undo = ws.con.execute("SELECT example_id, action, source FROM decisions ORDER BY seq DESC LIMIT 1").fetchall()
        assert undo == [(fast[3], "reset", "undo")]
        # Evidence: selecting a neighbour's row (its marker cell, left of the first row) opens that example.
        grid = page.locator("[data-testid='stDataFrame']:visible").nth(1)
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.move(box["x"] + 15, box["y"] + 52)
        page.mouse.click(box["x"] + 15, box["y"] + 52)
        wait_for_new_focus(page, after, shots)  # raises unless another example came into focus


def test_a_sentence_is_retagged_from_its_card(tmp_path):
    """token-issues findings in the browser: each word with its current and suggested tags, and the accept key
    storing the suggested tags as the sentence's retag."""
    need_browser()
    from curate.detect import run_detector
    from curate.ingest import ingest
    from tests.conftest import SAMPLE

    blocks = (SAMPLE / "wnut17_tokens" / "train.conll").read_text().split("\n\n")[:150]
    (tmp_path / "train.conll").write_text("\n\n".join(blocks) + "\n\n")
    db = tmp_path / "ner.duckdb"
    with Workspace(db) as ws:
        ingest(ws, tmp_path / "train.conll", "conll", "ner")
        run = run_detector(ws, "ner", "token-issues")
        sid, tags = ws.one("SELECT example_id, suggested_label FROM findings WHERE run_id = ? AND flagged AND "
                           "suggested_label IS NOT NULL ORDER BY score DESC LIMIT 1", [run.run_id])
    port, log = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode(
        {"q": json.dumps({"dataset": "ner", "detectors": ["token-issues"]}), "id": sid})
    shots = Path(os.environ.get("CURATE_SCREENSHOTS", tmp_path))
    with served_page(db, port, log, url) as page:
        assert heading(page).split()[0] == sid
        assert page.locator(".cu-tok").count() >= len(tags.split()) and page.locator(".cu-tok.cu-diff").count() >= 1
        page.screenshot(path=str(shots / "review_tokens.png"), full_page=False)
        page.locator("h4").first.click()
        press(page, "a", sid, shots, db, 1)
    with Workspace(db, wait=10) as ws:
        rows = ws.con.execute("SELECT example_id, action, new_label FROM decisions").fetchall()
    assert rows == [(sid, "retag", tags)]
