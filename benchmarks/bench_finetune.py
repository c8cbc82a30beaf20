"""classifier=finetune cost on real text: the frozen pass and one training epoch over real SemEval-2010 sentences
(mixed length, typed entity markers), in a fresh process, with its peak RSS."""

from __future__ import annotations

from benchmarks.common import HERE, run_child

SEMEVAL = HERE.parent.parent / "shared" / "data" / "semeval2010_task8" / "TRAIN_FILE.TXT"

CHILD = r"""
import json, sys, time, tempfile, numpy as np
from pathlib import Path
from curate.encode import load_model, resolve_model
from curate.finetune import TuneParams, prepare, train_fold, predict
from curate.ingest import ingest
from curate.store import Workspace
from curate.detect import Context

n = int(sys.argv[2])
lines = Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()[: 4 * n]
with tempfile.TemporaryDirectory() as tmp:
    src = Path(tmp) / "train.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with Workspace(Path(tmp) / "w.duckdb") as ws:
        ingest(ws, src, "semeval", "s", split="train")
        ctx = Context(ws, "s")
        marked = ctx.fold_store().inputs()
        classes = sorted(set(ctx.labels.tolist()))
        y = np.array([classes.index(l) for l in ctx.labels])
st = load_model(resolve_model().source)
t = time.perf_counter(); prep = prepare(st, marked, 2); t_prep = time.perf_counter() - t
rows = np.arange(len(marked))
t = time.perf_counter(); model = train_fold(st, prep, rows, y, len(classes), None, TuneParams(epochs=1), "bench")
t_train = time.perf_counter() - t
t = time.perf_counter(); predict(model, prep, rows, None); t_pred = time.perf_counter() - t
tokens = sum(len(s) for s in prep.states) / len(prep.states)
print(json.dumps({"n": len(marked), "prepare": t_prep, "train": t_train, "predict": t_pred, "tokens": tokens}))
"""


def run(n: int) -> list[dict]:
    """Seconds per 1,000 examples for the frozen pass, one training epoch (2 tuned layers) and prediction."""
    import json

    if not SEMEVAL.exists():
        return []
    _, peak, out = run_child(CHILD, str(SEMEVAL), str(n))
    r = json.loads(out.splitlines()[-1])
    size = f"{r['n']:,} SemEval train sentences (mean {r['tokens']:.0f} wordpieces), 2 of 6 layers tuned"
    per_k = 1000 / r["n"]
    return [
        {"measure": "training, s per 1k examples per epoch", "value": round(r["train"] * per_k, 2), "size": size},
        {"measure": "frozen lower layers, s per 1k examples (once per run)", "value": round(r["prepare"] * per_k, 2),
         "size": size},
        {"measure": "prediction, s per 1k examples", "value": round(r["predict"] * per_k, 2), "size": size},
        {"measure": "5 folds x 2 epochs, estimated min per 10k examples",
         "value": round((r["prepare"] + 2 * 4 * r["train"] + 5 * r["predict"] / 5) * per_k * 10 / 60, 1), "size": size},
        {"measure": "peak RSS of the process (MiB)", "value": int(peak), "size": size},
    ]
