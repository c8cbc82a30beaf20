"""Review latency at scale: 1M examples (real SemEval sentences) and 100k findings in one workspace.

Measures the library calls the review page makes per interaction (each on its own short connection, as the
app does) and the running app in headless Chromium (key press to the next example drawn), with the peak RSS
of the app process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks.common import HERE

SEMEVAL = HERE.parent.parent / "shared" / "data" / "semeval2010_task8" / "TRAIN_FILE.TXT"
LABELS = ["Cause-Effect", "Component-Whole", "Entity-Destination", "Product-Producer", "Entity-Origin",
          "Member-Collection", "Message-Topic", "Content-Container", "Instrument-Agency", "Other"]


def sentences() -> list[str]:
    """Real sentences (SemEval-2010 train, markers stripped)."""
    import re

    out = []
    for line in SEMEVAL.read_text(encoding="utf-8").splitlines():
        if "\t" in line and line.split("\t", 1)[0].isdigit():
            out.append(re.sub(r"</?e[12]>", "", line.split("\t", 1)[1].strip().strip('"')))
    return out


def build(db: Path, n_examples: int, n_findings: int) -> None:
    """A workspace with n_examples examples and n_findings findings over two detector runs."""
    import pyarrow as pa

    from curate.store import Workspace

    texts = sentences()
    rng = np.random.default_rng(0)
    with Workspace(db) as ws:
        ws.create_dataset("big", "classification", negative_label=None, source="bench", fmt="jsonl")
        ws.con.register("_texts", pa.table({"k": np.arange(len(texts)), "text": texts}))
        ws.con.register("_labels", pa.table({"k": np.arange(len(LABELS)), "label": LABELS}))
        ws.con.execute(f"""
            INSERT INTO examples SELECT 'big', 'ex' || lpad(i::VARCHAR, 7, '0'), CASE WHEN i % 10 = 0 THEN 'test'
                   ELSE 'train' END, t.text, l.label, NULL, md5(t.text || i), i
            FROM range({n_examples}) r(i) JOIN _texts t ON t.k = i % {len(texts)} JOIN _labels l ON l.k = i % 10
        """)
        per_run = n_findings // 2
        for run, det in (("knn-vote-bench", "knn-vote"), ("confident-learning-bench", "confident-learning")):
            ws.con.execute("INSERT INTO runs (run_id, kind, dataset, params, started_at, finished_at, status, "
                           "version, counts) VALUES (?, ?, 'big', '{}', now(), now(), 'done', 'bench', '{}')",
                           [run, det])
            rows = rng.choice(n_examples, size=per_run, replace=False)
            nb = rng.integers(0, n_examples, size=(per_run, 10))
            evidence = [json.dumps({"vote": {"label": LABELS[int(r) % 9], "share": 0.8},
                                    "neighbours": [{"id": f"ex{int(j):07d}", "label": LABELS[int(j) % 10],
                                                    "similarity": 0.9} for j in nbr]}) for r, nbr in zip(rows, nb)]
            score = rng.random(per_run)
            ws.append_arrow("findings", pa.table({
                "run_id": [run] * per_run, "example_id": [f"ex{int(r):07d}" for r in rows], "score": score,
                "suggested_label": [LABELS[(int(r) + 1) % 10] for r in rows], "reason": ["bench"] * per_run,
                "evidence": evidence, "flagged": score > 0.5}))


def p95(xs: list[float]) -> float:
    """95th percentile in milliseconds."""
    return round(float(np.percentile(np.asarray(xs) * 1000, 95)), 1)


def library(db: Path, n: int = 60) -> dict[str, float]:
    """p95 of the calls one review interaction makes, each on a fresh connection like the app."""
    from curate.review import QueueFilter, ReviewService, build_queue
    from curate.review.page import page_state

    svc = ReviewService(db, reviewer="bench")
    flt = QueueFilter(dataset="big")
    t = time.perf_counter()
    q = svc.call(build_queue, flt)
    cold_queue = time.perf_counter() - t
    page, nxt, dec = [], [], []
    focus = q.ids[0]
    for i in range(n):
        t = time.perf_counter()
        svc.call(page_state, q, focus)  # what every page draw reads
        page.append(time.perf_counter() - t)
        t = time.perf_counter()
        seq = svc.decide("big", focus, "keep" if i % 2 else "remove", expected_seq=None)
        dec.append(time.perf_counter() - t)
        assert seq is not None
        t = time.perf_counter()
        from curate.review import next_unreviewed

        pos = svc.call(next_unreviewed, q, q.position(focus) + 1)
        focus = q.ids[pos]
        svc.call(page_state, q, focus)
        nxt.append(time.perf_counter() - t)
    return {"queue build (filter change), ms": round(cold_queue * 1000, 1), "queue page p95, ms": p95(page),
            "next example p95, ms": p95(nxt), "record decision p95, ms": p95(dec), "queue size": len(q)}


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
H4_CHANGED = "(old) => { const h = document.querySelector('h4'); return h && !h.innerText.includes(old); }"


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int) -> None:
    """Wait (up to a minute) for a Streamlit server on port to answer its health check."""
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return
        except OSError:
            time.sleep(0.5)


def press_until_next(page, key: str) -> float:
    """Press key and return the seconds until the page's first h4 shows something else."""
    old = page.locator("h4").first.inner_text().split()[0]
    t = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(H4_CHANGED, arg=old, timeout=30_000)
    return time.perf_counter() - t


ACKED = "() => window.__curateCard && window.__curateCard.pending.length === 0"
# The evidence of the example in focus on its card (neighbours with labels and text, each detector's facts): the
# card window carries it for the examples ahead, so the browser draws it with the example.
CARD_EVIDENCE_FOR = ("(id) => { const e = document.querySelector(`.cu-card .cu-evidence[data-for=\"${CSS.escape(id)}\"]`);"
                     " return !!(e && e.innerText.length); }")
# The full evidence panel below ("Why <id> was flagged", with neighbours to open) names the example the server drew.
PANEL_FOR = "(id) => [...document.querySelectorAll('h3')].some(h => h.innerText.includes(id))"


def review_lap(page, key: str) -> tuple[float, float, float, float]:
    """One key press in the review app: seconds until the next example is drawn, until its evidence is drawn,
    until the server has acknowledged the action (the decision is stored by then), and until the full evidence
    panel of the new example is drawn."""
    t = time.perf_counter()
    shown = press_until_next(page, key)
    now = page.locator("h4").first.inner_text().split()[0]
    page.wait_for_function(CARD_EVIDENCE_FOR, arg=now, timeout=60_000)
    evidence = time.perf_counter() - t
    page.wait_for_function(ACKED, timeout=60_000)
    acked = time.perf_counter() - t
    page.wait_for_function(PANEL_FOR, arg=now, timeout=60_000)
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
    return shown, evidence, acked, time.perf_counter() - t


def browser(db: Path, presses: int = 40, think_ms: int = 600) -> dict[str, float]:
    """Key press to the next example drawn, to the decision acknowledged and to the evidence drawn, in
    headless Chromium against `curate review` (a reviewer who looks think_ms at each page before the next
    key); peak RSS of the app."""
    import psutil
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "curate.cli", "--db", str(db), "review", "--port", str(port),
                             "--reviewer", "bench"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                p = psutil.Process(proc.pid)
                rss = sum(c.memory_info().rss for c in [p, *p.children(recursive=True)])
                peak[0] = max(peak[0], rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    laps: dict[str, list[float]] = {"shown": [], "evidence": [], "acked": [], "panel": []}
    try:
        wait_healthy(port)
        url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"q": json.dumps({"dataset": "big"})})
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("text=page drawn in", timeout=120_000)
            first_load = time.perf_counter() - t
            page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=60_000)
            page.wait_for_timeout(1000)
            for i in range(presses):
                try:
                    for name, lap in zip(laps, review_lap(page, "k" if i % 2 else "n")):
                        laps[name].append(lap)
                except Exception:
                    page.screenshot(path=str(HERE / "results" / "tmp" / "review_failure.png"), full_page=True)
                    raise
                page.wait_for_timeout(think_ms)
            painted = page.evaluate("() => window.__curateCard.latency") or [0.0]
            b.close()
    finally:
        done.set()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    return {"browser first load, ms": round(first_load * 1000),
            "browser key to next example p95, ms": p95(laps["shown"]),
            "browser key to next example median, ms": round(float(np.median(laps["shown"])) * 1000, 1),
            "in the page: key event to the next example painted median / p95, ms":
                f"{round(float(np.median(painted)))} / {round(float(np.percentile(painted, 95)))}",
            "browser key to decision acknowledged (stored) median / p95, ms":
                f"{round(float(np.median(laps['acked'])) * 1000)} / {p95(laps['acked'])}",
            "browser key to evidence drawn median, ms": round(float(np.median(laps["evidence"])) * 1000, 1),
            "browser key to evidence drawn p95, ms": p95(laps["evidence"]),
            "browser key to the full evidence panel (Streamlit) drawn median / p95, ms":
                f"{round(float(np.median(laps['panel'])) * 1000)} / {p95(laps['panel'])}",
            "app peak RSS, MiB": round(peak[0])}


TRIVIAL_APP = """
import streamlit as st
st.session_state.setdefault("n", 0)
def inc(): st.session_state["n"] += 1
st.button("Next", shortcut="N", on_click=inc, key="b")
st.markdown(f"#### `item-{st.session_state['n']}` here")
"""


def streamlit_floor(presses: int = 15) -> float:
    """Median key press to redraw of a one-button Streamlit app: what any Streamlit page costs on this machine."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app.py"
        app.write_text(TRIVIAL_APP)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                                 "--server.headless", "true", "--server.address", "127.0.0.1",
                                 "--browser.gatherUsageStats", "false"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_healthy(port)
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
                page = b.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("h4")
                page.wait_for_timeout(1500)
                laps = []
                for _ in range(presses):
                    laps.append(press_until_next(page, "n"))
                    page.wait_for_timeout(300)
                b.close()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    return round(float(np.median(laps)) * 1000, 1)


def run(n_examples: int = 1_000_000, n_findings: int = 100_000) -> list[dict]:
    """Build the workspace, measure, and return benchmark rows."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "review.duckdb"
        t = time.perf_counter()
        build(db, n_examples, n_findings)
        built = time.perf_counter() - t
        lib = library(db)
        web = browser(db)
        web["browser key to redraw, one-button Streamlit app (floor), median ms"] = streamlit_floor()
    size = f"{n_examples:,} examples, {n_findings:,} findings"
    rows = [{"measure": "build workspace, s", "value": round(built, 1), "size": size}]
    for k, v in {**lib, **web}.items():
        # Evidence: issue 29's bar (a reviewer deciding every two seconds reads the reasons with the sentence).
        target = (300 if "evidence" in k else 150) if "p95" in k and isinstance(v, float) else None
        rows.append({"measure": k, "value": v, "target": f"< {target}" if target else "",
                     "met": (v < target) if target else None, "size": size})
    return rows
