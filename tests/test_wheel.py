"""The built wheel: it holds every package of the source tree and the review app, and once installed in a fresh
venv (no source tree on the path) `curate review` serves the packaged app on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE
from tests.ui.test_browser import free_port, stop


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (a build in the checkout would leave build/ and egg-info there)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("curate", "ui"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(dist), str(src)], check=True)
    (path,) = dist.glob("curate-*.whl")
    return path


def test_wheel_holds_every_package_and_the_review_app(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = [p.parent.relative_to(ROOT) for p in (ROOT / "curate").rglob("__init__.py")]
    packages += [Path("curate/_ui") / p.parent.relative_to(ROOT / "ui") for p in (ROOT / "ui").rglob("__init__.py")]
    missing = [str(p) for p in packages if f"{p.as_posix()}/__init__.py" not in names]
    assert not missing, f"packages left out of the wheel (add them to [tool.setuptools] packages): {missing}"
    assert {"curate/_ui/app.py", "curate/_ui/components/focus_card.js", "curate/_ui/components/focus_card.css"} <= names
    assert not any(n.startswith("ui/") for n in names)  # no top-level `ui` package in site-packages


def run(cmd: list[str], **kwargs) -> str:
    """Run a command to the end and return its output; fail with its error output."""
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{cmd[:3]} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


def venv_env() -> dict[str, str]:
    """The environment for the fresh venv's processes: nothing that would put the source tree on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def test_installed_wheel_serves_the_review_app(wheel, tmp_path):
    env = venv_env()
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    py = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        env=env)
    site = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=env).strip())
    # Written after the install, so pip never sees (or offers to replace) this environment's curate. A directory
    # added by a .pth file has its own .pth files ignored: the dev checkout's editable finder stays out.
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "_curate_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))

    where = run([str(py), "-c", "import curate; from curate.review.launch import app_path; "
                 "print(curate.__file__); print(app_path())"], env=env, cwd=tmp_path).split("\n")
    assert Path(where[0]) == site / "curate" / "__init__.py", where
    assert Path(where[1]) == site / "curate" / "_ui" / "app.py", where

    rows = tmp_path / "topics.jsonl"
    rows.write_text("".join((SAMPLE / "classification" / "train.jsonl").read_text().splitlines(True)[:40]))
    db = tmp_path / "ws.duckdb"
    curate = str(venv / "bin" / "curate")
    run([curate, "--db", str(db), "ingest", str(rows), "-f", "jsonl", "-n", "topics"], env=env, cwd=tmp_path)

    # The served page is a static shell; the app script runs per session, so run it once here in the venv.
    script = ("from streamlit.testing.v1 import AppTest; from curate.review.launch import app_path; "
              "at = AppTest.from_file(str(app_path()), default_timeout=60); at.run(); "
              "assert not at.exception, [e.value for e in at.exception]; "
              "print(at.title[0].value); print(at.code[0].value)")
    shown = run([str(py), "-c", script], cwd=tmp_path, env={**env, "CURATE_DB": str(db), "CURATE_REVIEWER": "ann"})
    assert "Nothing to review yet" in shown and "curate detect topics" in shown, shown

    port, log = free_port(), tmp_path / "review.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([curate, "--db", str(db), "review", "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True)
    try:
        health = None
        deadline = time.monotonic() + 90
        while health != "ok" and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    health = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert health == "ok", log.read_text()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            page = r.read().decode()
        assert r.status == 200 and "<title>Streamlit</title>" in page, page[:500]
        assert "the review app is missing" not in log.read_text()
    finally:
        stop(proc, port)
        gone(proc.pid)


def gone(group: int) -> None:
    """Wait for every process of the group to end (the streamlit child with its curate parent); kill stragglers."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(group, signal.SIGKILL)
