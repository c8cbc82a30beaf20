#!/usr/bin/env bash
# The main job on the bundled sample data: ingest, embed, detect, measure against the planted noise.
# (The review UI joins here when it lands.)
set -euo pipefail
CURATE=${1:-curate}
DB=${2:-demo.duckdb}
export CURATE_DB=$DB
echo "== workspace: $DB"
$CURATE ingest sample_data/relation --format tacred --name tacred-sample --replace
$CURATE ingest sample_data/relation/train_patch.json --format tacred-patch --name tacred-sample
$CURATE ingest sample_data/classification/train.jsonl --format jsonl --name topics --replace
$CURATE ingest sample_data/retrieval/beir --format beir --name retrieval-sample --replace \
  --option run_file=sample_data/retrieval/beir/run.trec
echo "== embedding (cached after the first run)"
$CURATE embed tacred-sample
$CURATE embed topics
$CURATE embed retrieval-sample
$CURATE datasets
echo "== detectors on the relation sample (identical re-runs are reused)"
$CURATE detect tacred-sample
$CURATE detect tacred-sample -d ensemble
echo "== top findings of the Intrinsic Strategy"
$CURATE findings tacred-sample -d tacred-is --top 8
echo "== how many planted errors each detector's top findings hold (sample_data/relation/gold.jsonl)"
$CURATE eval tacred-sample --gold sample_data/relation/gold.jsonl
echo "== label flips in the topic classification sample"
$CURATE detect topics -d confident-learning -d knn-vote
$CURATE eval topics --gold sample_data/classification/gold.jsonl
