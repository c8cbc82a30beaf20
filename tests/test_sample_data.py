"""The committed sample corpora are exactly what the generator writes, with the documented noise rates."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys

from tests.conftest import SAMPLE, SEMEVAL


def test_generator_reproduces_committed_files(tmp_path):
    subprocess.run([sys.executable, str(SAMPLE / "generate.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    committed = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file() and p.suffix != ".py"
                       and p.name != "README.md" and "__pycache__" not in p.parts)
    if not SEMEVAL.exists():
        committed = [p for p in committed if p.parts[0] != "semeval_noisy" and p.name != "summary.json"]
    assert committed
    for rel in committed:
        assert filecmp.cmp(SAMPLE / rel, tmp_path / rel, shallow=False), f"{rel} differs from the generator's output"


def test_planted_noise_rates():
    train = json.loads((SAMPLE / "relation" / "train.json").read_text())
    gold = [json.loads(line) for line in open(SAMPLE / "relation" / "gold.jsonl")]
    by_id = {r["id"]: r for r in train}
    true_positives = sum(r["relation"] != "no_relation" for r in train) + sum(g["kind"] == "false_negative" for g in gold)
    fn = [g for g in gold if g["kind"] == "false_negative"]
    assert 0.07 < len(fn) / true_positives < 0.13
    assert all(by_id[g["id"]]["relation"] == g["noisy_label"] != g["true_label"] for g in gold)
    for split in ("dev", "test"):
        assert not any(g["id"].startswith(split) for g in gold)
    # No exact-text shortcut: every noisy negative's template has clean relation siblings.
    texts = [" ".join(r["token"]) for r in train]
    assert len(set(texts)) > 0.95 * len(texts)
