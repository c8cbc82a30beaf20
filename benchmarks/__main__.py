"""Run the benchmarks: `python -m benchmarks --size small|full` writes results/*.json and the README table."""

from __future__ import annotations

import argparse

from benchmarks import bench_embed, bench_ingest
from benchmarks.common import render_table, save

SIZES = {"small": {"ingest": 100_000, "embed": 2_000}, "full": {"ingest": 1_000_000, "embed": 10_000}}


def main() -> None:
    """Run the chosen benchmarks at the chosen size."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--only", choices=["ingest", "embed"], action="append")
    args = ap.parse_args()
    sizes = SIZES[args.size]
    chosen = args.only or ["ingest", "embed"]
    # Ingest first: its peak RSS is read from the first child process of this run.
    if "ingest" in chosen:
        save("ingest", bench_ingest.run(sizes["ingest"]))
    if "embed" in chosen:
        save("embed", bench_embed.run(sizes["embed"]))
    render_table()


if __name__ == "__main__":
    main()
