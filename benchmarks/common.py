"""Shared benchmark helpers: machine facts, peak RSS of a child process, results files and the README table."""

from __future__ import annotations

import json
import os
import platform
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
    """Run Python code in a fresh process; return (seconds, that process's peak RSS in MiB, its stdout)."""
    probe = "\nimport resource as _r\nprint('__peak_kib__', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)\n"
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + probe, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    peak_kib = int(lines[-1].split()[1])
    return seconds, peak_kib / 1024, "\n".join(lines[:-1])


def save(name: str, rows: list[dict], *, table: bool = False) -> Path:
    """Write one benchmark's rows with the machine facts to results/<name>.json.

    rows are (measure, value, target, met, size) records, or with table=True free-form records that get a
    markdown table of their own."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), ("table" if table else "rows"): rows}, indent=2) + "\n")
    return path


def save_part(name: str, rows: list[dict], key: str, order: list[str]) -> Path:
    """save(table=True) for part of a table: the new rows replace the last run's rows with the same key value; the
    others stay, each stamped with the date it was measured (when that is not today's), in the given key order."""
    path = RESULTS / f"{name}.json"
    old = json.loads(path.read_text()) if path.exists() else {"machine": machine(), "table": []}
    done = {r[key] for r in rows}
    kept = [r if old["machine"]["date"] == date.today().isoformat() or "measured" in r
            else {**r, "measured": old["machine"]["date"]} for r in old["table"] if r[key] not in done]
    rank = {v: i for i, v in enumerate(order)}
    merged = sorted(kept + rows, key=lambda r: rank.get(r[key], len(rank)))  # stable: row order within a key stays
    return save(name, merged, table=True)


def render_table() -> None:
    """Rebuild the results table in benchmarks/README.md from every results/*.json (never edited by hand)."""
    lines = ["| benchmark | measure | value | target | met | size | machine |", "|---|---|---|---|---|---|---|"]
    extra: list[str] = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        m = data["machine"]
        where = f"{m['cores']} cores, {m['ram_gib']} GiB, {m['date']}"
        if "table" in data:
            extra += ["", f"**{path.stem}** ({where})", ""] + _markdown(data["table"])
            continue
        for r in data["rows"]:
            met = "" if r.get("met") is None else ("yes" if r["met"] else "**no**")
            lines.append(f"| {path.stem} | {r['measure']} | {r['value']} | {r.get('target', '')} | {met} | "
                         f"{r.get('size', '')} | {where} |")
    text = README.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + "\n".join(lines + extra) + "\n" + text[end:])


def _markdown(records: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in records:
        cols += [c for c in r if c not in cols]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in records:
        out.append("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + " |")
    return out
