#!/usr/bin/env bash
# The main job on the bundled sample data: ingest, embed, detect, measure against the planted noise, then
# serve the review UI on 127.0.0.1 (skipped when CI is set or NO_UI=1, so CI never blocks).
set -euo pipefail
CURATE=${1:-curate}
DB=${2:-demo.duckdb}
PORT=${3:-8501}
PY=$(dirname "$(command -v "$CURATE")")/python
export CURATE_DB=$DB
echo "== workspace: $DB"
echo "== the recipe recipes/tacred_is.yaml: ingest, embed, Intrinsic Strategy, eval, exports, gates, report"
# Its datasets go into the demo workspace so the review UI shows them; a second run reuses every step.
$CURATE run recipes/tacred_is.yaml --workspace "$DB" --out out/demo/tacred_is
echo "== report: out/demo/tacred_is/report.md (plots in out/demo/tacred_is/plots/); cleaned splits:"
ls out/demo/tacred_is/exports
$CURATE ingest sample_data/classification/train.jsonl --format jsonl --name topics --replace
$CURATE ingest sample_data/retrieval/beir --format beir --name retrieval-sample --replace \
  --option run_file=sample_data/retrieval/beir/run.trec
echo "== embedding (cached after the first run)"
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
echo "== retrieval: negatives that are really positives (planted false negatives, BEIR layout + TREC run)"
$CURATE detect retrieval-sample
$CURATE findings retrieval-sample -d false-negatives --top 5
$CURATE eval retrieval-sample --gold sample_data/retrieval/gold.jsonl
echo "== ARHN through the openai client, against a local fake OpenAI-compatible server (no LLM here): its judge,"
echo "   fake-word-overlap, is a word-overlap stand-in, not a language model"
$PY -m curate.llm.fake_server > .fake_llm_url &
FAKE=$!
trap 'kill $FAKE 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s .fake_llm_url ] && break; sleep 0.1; done
export OPENAI_BASE_URL=$(cat .fake_llm_url) NO_PROXY=${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost
# Named after the stand-in, so the findings, reports and review UI say arhn (fake-word-overlap), not a real model.
ARHN=(-d arhn -p max_queries=50 -p max_negatives=5 -p model=fake-word-overlap)
$CURATE detect retrieval-sample "${ARHN[@]}" --dry-run
$CURATE detect retrieval-sample "${ARHN[@]}"
echo "== ARHN's top findings as judged by the stand-in fake-word-overlap (word overlap, not a language model)"
$CURATE findings retrieval-sample -d arhn --top 3
kill $FAKE; rm -f .fake_llm_url
echo "== mining fresh hard negatives (kept below 95% of the positive's score)"
$CURATE mine retrieval-sample --num-negatives 3 --relative-margin 0.05
echo "== NER: token-level label issues in real WNUT 2017 tweets with boundary, type, missed and spurious errors planted"
$CURATE ingest sample_data/wnut17_tokens/train.conll --format conll --name wnut-tokens --replace
$CURATE detect wnut-tokens -d token-issues
$CURATE findings wnut-tokens -d token-issues --top 3
echo "== what the IS-R variant changes, and a cleaned Hugging Face copy of the topics without CL's flags"
$CURATE diff tacred-sample --variant IS-R --examples 1
$CURATE export topics --variant confident-learning-E --format hf --out out/demo/topics-hf --overwrite
echo "== the review queue (what the UI shows first)"
$CURATE queue tacred-sample --top 5
if [ -n "${CI:-}" ] || [ "${NO_UI:-0}" = 1 ]; then
  echo "== review UI not started (CI or NO_UI=1); start it with: $CURATE --db $DB review"
  exit 0
fi
echo "== review UI: open http://localhost:$PORT (keys: K keep, A accept suggestion, D remove, S skip, U undo)"
echo "   retrieval-sample's arhn (fake-word-overlap) findings come from the word-overlap stand-in, not a language model"
exec $CURATE --db "$DB" review --port "$PORT"
