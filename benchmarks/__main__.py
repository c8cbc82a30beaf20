"""Run the benchmarks: `python -m benchmarks --size small|full` writes results/*.json and the README table."""

from __future__ import annotations

import argparse

from benchmarks import (bench_arhn, bench_backends, bench_baselines, bench_detect, bench_embed, bench_feedback,
                        bench_finetune, bench_ingest,
                        bench_mine, bench_quality, bench_review, bench_tokens)
from benchmarks.common import render_table, save, save_part

SIZES = {"small": {"ingest": 100_000, "embed": 2_000, "detect": [10_000], "mine": [2_000], "arhn": 30,
                   "review": (100_000, 10_000), "finetune": 1_000, "backends": 2_000, "store": 100_000,
                   "engine": (10_000, 20_000, 2_000)},
         "full": {"ingest": 1_000_000, "embed": 10_000, "detect": [10_000, 100_000], "mine": [50_000], "arhn": 100,
                  "review": (1_000_000, 100_000), "finetune": 2_000, "backends": 5_000, "store": 1_000_000,
                  "engine": (50_000, 200_000, 20_000)}}
BENCHES = ["ingest", "embed", "backends", "store", "engine", "detect", "mine", "arhn", "finetune", "quality", "feedback", "baselines",
           "tokens", "review"]


def main() -> None:
    """Run the chosen benchmarks at the chosen size."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--only", choices=BENCHES, action="append")
    ap.add_argument("--dataset", choices=list(bench_quality.DATASETS), action="append",
                    help="quality: measure only these datasets and keep the other datasets' rows of the last run")
    args = ap.parse_args()
    sizes = SIZES[args.size]
    chosen = args.only or BENCHES
    if "ingest" in chosen:
        save("ingest", bench_ingest.run(sizes["ingest"]))
    if "embed" in chosen:
        save("embed", bench_embed.run(sizes["embed"]))
    if "backends" in chosen:
        save("backends", bench_backends.run(sizes["backends"]), table=True)
        save("backends_whole", bench_backends.run_whole(), table=True)
    if "store" in chosen:
        from benchmarks import bench_store

        save("store", bench_store.run(sizes["store"]), table=True)
    if "engine" in chosen:  # needs the ray extra (pip install 'curate[ray]')
        from benchmarks import bench_engine

        save("engine", bench_engine.run(*sizes["engine"]), table=True)
    if "detect" in chosen:
        save("detect", bench_detect.run(sizes["detect"]))
    if "mine" in chosen:
        save("mine", bench_mine.run(sizes["mine"]))
        save("mine_options", bench_mine.run_options())
    if "arhn" in chosen:
        save("arhn", bench_arhn.run(sizes["arhn"]))
    if "finetune" in chosen:
        save("finetune", bench_finetune.run(sizes["finetune"]))
    if "quality" in chosen:
        if args.dataset:
            save_part("quality", bench_quality.run(args.dataset), "dataset", list(bench_quality.DATASETS))
        else:
            save("quality", bench_quality.run(), table=True)
    if "feedback" in chosen:
        save("feedback", bench_feedback.run(), table=True)
    if "tokens" in chosen:
        save("tokens", bench_tokens.run(), table=True)
    if "baselines" in chosen:
        save("baselines", bench_baselines.run(), table=True)
    if "review" in chosen:
        save("review", bench_review.run(*sizes["review"]))
    render_table()


if __name__ == "__main__":
    main()
