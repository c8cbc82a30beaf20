"""Where the Streamlit app lives and how `curate review` starts it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from curate.errors import CurateError


def app_path() -> Path:
    """The review app's entry script: curate/_ui in an installed wheel, else the checkout's top-level ui/."""
    package = Path(__file__).resolve().parents[1]
    # The wheel's copy first: beside an installed curate, a top-level ui/ would be some other distribution's.
    candidates = [package / "_ui" / "app.py", package.parent / "ui" / "app.py"]
    for path in candidates:
        if path.exists():
            return path
    raise CurateError(f"the review app is missing (looked for {' and '.join(map(str, candidates))}); "
                      f"reinstall curate (pip install .) or run it from its source tree")


def streamlit_command(app: Path, *, host: str, port: int) -> list[str]:
    """The command that serves the app headless on host:port, with no telemetry and no browser opened."""
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


def serve(command: list[str], env: dict[str, str]) -> int:
    """Run the server as a child until it ends, passing on SIGTERM, SIGINT and SIGHUP: a supervisor that stops
    `curate review` by its PID (timeout, a CI step, systemd) stops Streamlit too, instead of orphaning it on the
    port. Returns the exit code (128 + signal when the child died of one)."""
    proc = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    caught = [s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, forward) for s in caught}
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:  # the parent is leaving for another reason: never leave the server behind
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 128 - code if code < 0 else code
