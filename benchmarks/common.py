"""Shared benchmark helpers: machine facts, peak RSS of a child process, results files and the README table."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def machine() -> dict:
    """Cores, memory and versions of the machine the figures come from."""
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1), "python": platform.python_version(),
            "date": date.today().isoformat()}


def run_child(code: str, *args: str) -> tuple[float, float, str]:
    """Run Python code in a fresh process; return (seconds, peak RSS in MiB, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far; run each measured child first or alone.
    return seconds, max(peak, before) / 1024, proc.stdout


def save(name: str, rows: list[dict]) -> Path:
    """Write one benchmark's rows with the machine facts to results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    return path


def render_table() -> None:
    """Rebuild the results table in benchmarks/README.md from every results/*.json (never edited by hand)."""
    lines = ["| benchmark | measure | value | target | met | size | machine |", "|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        m = data["machine"]
        where = f"{m['cores']} cores, {m['ram_gib']} GiB, {m['date']}"
        for r in data["rows"]:
            met = "" if r.get("met") is None else ("yes" if r["met"] else "**no**")
            lines.append(f"| {path.stem} | {r['measure']} | {r['value']} | {r.get('target', '')} | {met} | "
                         f"{r.get('size', '')} | {where} |")
    text = README.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + "\n".join(lines) + "\n" + text[end:])
