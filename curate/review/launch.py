"""Where the Streamlit app lives and how `curate review` starts it."""

from __future__ import annotations

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
