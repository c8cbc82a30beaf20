"""Ingest N generic JSONL rows (~200 characters of text each) in a fresh process: time and peak RSS."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from benchmarks.common import run_child, save

WORDS = ("data label noise model relation entity sentence review passage query answer negative positive "
         "train test split vector cache index neighbour annotator corpus token span type").split()

CHILD = """
import sys, time
from curate.store import Workspace
from curate.ingest import ingest
ws = Workspace(sys.argv[2])
t = time.perf_counter()
r = ingest(ws, sys.argv[1], "jsonl", "bench")
print(time.perf_counter() - t, r.counts["examples"])
"""


def make_file(path: Path, n: int, seed: int = 0) -> None:
    """Write n JSONL rows with ~200-character texts."""
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            words, size = [], 0
            while size < 200:
                w = rng.choice(WORDS)
                words.append(w)
                size += len(w) + 1
            fh.write(json.dumps({"id": f"r{i}", "text": " ".join(words), "label": rng.choice("abcde")}) + "\n")


def run(n: int) -> list[dict]:
    """Measure one ingest of n rows."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "rows.jsonl"
        make_file(src, n)
        wall, peak, out = run_child(CHILD, str(src), str(Path(tmp) / "b.duckdb"))
        ingest_s, rows = out.split()
    size = f"{n:,} rows"
    return [
        {"measure": "ingest time (s)", "value": round(float(ingest_s), 1), "target": "< 30 at 1M",
         "met": float(ingest_s) < 30 * n / 1_000_000 if n >= 1_000_000 else None, "size": size},
        {"measure": "ingest rows/s", "value": int(int(rows) / float(ingest_s)), "size": size},
        {"measure": "process peak RSS (MiB)", "value": int(peak), "target": "< 2048",
         "met": peak < 2048 if n >= 1_000_000 else None, "size": size},
        {"measure": "process wall time incl. imports (s)", "value": round(wall, 1), "size": size},
    ]


if __name__ == "__main__":
    import sys

    rows = run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    save("ingest", rows)
    print(rows)
