"""`curate review` as a supervisor sees it: stopped by its PID alone, it stops the Streamlit server it started and
frees the port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def test_sigterm_to_curate_review_stops_streamlit_and_frees_the_port(review_path: Path, tmp_path: Path):
    port = _free_port()
    log = open(tmp_path / "review.log", "w")
    # Not a new process group: only the parent's PID is signalled, as `timeout`, systemd or a CI step would.
    proc = subprocess.Popen([sys.executable, "-m", "curate.cli", "--db", str(review_path), "review", "--port",
                             str(port)], stdout=log, stderr=subprocess.STDOUT)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "review.log").read_text()
            time.sleep(0.3)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the server runs as a child of curate review"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, f"left running after SIGTERM: {[p.pid for p in alive]}"
        deadline = time.monotonic() + 10
        while not _port_free(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _port_free(port)
    finally:
        for p in [*children, psutil.Process(proc.pid) if proc.poll() is None else None]:
            if p is not None and p.is_running():
                p.kill()
        log.close()
