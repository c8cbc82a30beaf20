"""Where the Streamlit app lives and how `curate review` starts it."""

from __future__ import annotations

import sys
from pathlib import Path

from curate.errors import CurateError


def app_path() -> Path:
    """The review app's entry script (the top-level ui/ folder of the curate checkout)."""
    path = Path(__file__).resolve().parents[2] / "ui" / "app.py"
    if not path.exists():
        raise CurateError(f"the review app is missing ({path}); install curate from its source tree (pip install -e)")
    return path


def streamlit_command(app: Path, *, host: str, port: int) -> list[str]:
    """The command that serves the app headless on host:port, with no telemetry and no browser opened."""
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]
