#!/usr/bin/env bash
# The main job on the bundled sample data: ingest, embed, summarise (detectors and the review UI join as they land).
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
echo "== datasets"
$CURATE datasets
$CURATE stats tacred-sample
echo "== find similar: the nearest neighbours of a planted noisy negative"
first=$(head -1 sample_data/relation/gold.jsonl | sed -E 's/.*"id": "([^"]+)".*/\1/')
$CURATE neighbours tacred-sample "$first" -k 5
