"""One contract for every registered detector: output shape, score range, determinism, docs and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.llm.fake_server import FakeLLM
from curate.store import TASKS
from curate.detect import REGISTRY, run_detector, list_findings
from curate.detect.base import COLUMNS, DetectorParams, default_detectors
from curate.detect.context import Context
from curate.detect.runs import resolve_auto
from curate.errors import CurateError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_detector_contract(name, request):
    cls = REGISTRY[name]
    assert cls.tasks and set(cls.tasks) <= set(TASKS)
    retrieval = "retrieval" in cls.tasks and "relation" not in cls.tasks
    span_only = cls.tasks == ("span",)
    ws, dataset = ((request.getfixturevalue("span_ws"), "ner") if span_only else
                   (request.getfixturevalue("ret_ws"), "ret") if retrieval else (request.getfixturevalue("rel_ws"), "rel"))
    assert cls.description.strip() and issubclass(cls.Params, DetectorParams)
    assert cls.Params.model_config.get("extra") == "forbid"
    assert (ROOT / "tests" / "detect" / f"test_{name.replace('-', '_')}.py").exists(), f"{name} has no test file"
    assert f"`{name}`" in (ROOT / "docs" / "detectors.md").read_text(), f"{name} has no docs entry"
    ctx = Context(ws, dataset)
    # What a detector needs is set up from what it declares, never from its name.
    if "runs" in cls.needs:  # it combines or verifies other runs: two of the task's default set
        for d, p in [x for x in default_detectors(ctx) if x[0] != "near-duplicates"][:2]:
            run_detector(ws, dataset, d, {**p, "classifier": "linear"} if "classifier" in p else p, ctx=ctx)
    extra: dict = {}
    if "llm" in cls.needs:  # through the real openai client, against a fake endpoint on loopback
        server = FakeLLM().start()
        request.addfinalizer(server.stop)
        extra = {"base_url": server.url, "model": "fake-judge"}
    det = cls()
    params = cls.Params(**extra)
    resolve_auto(params, len(ctx.ids), ctx)  # as run_detector does before any run
    df = det.run(ctx, params)
    assert list(df.columns) == COLUMNS
    if cls.units == "examples":
        scope = det.scope(ctx, params)
        assert len(df) == int(scope.sum()) and df["example_id"].is_unique
        assert set(df["example_id"]) == {ctx.ids[r] for r in np.flatnonzero(scope)}
    else:  # findings keyed by other units (the sentences of span data): every unit in scope, once
        units = det.scope_units(ctx, params)
        assert len(df) == len(units) and set(df["example_id"]) == set(units)
    assert df["score"].between(0, 1).all()
    again = det.run(Context(ws, dataset), params)
    np.testing.assert_allclose(df["score"].to_numpy(), again["score"].to_numpy())
    other = "rel" if retrieval or span_only else "ret"
    if other == "rel" or "retrieval" not in cls.tasks:  # a detector refuses datasets of tasks it does not serve
        with pytest.raises(CurateError, match="datasets"):
            run_detector(request.getfixturevalue(f"{other}_ws"), other, name)
    assert (df["flagged"] == again["flagged"]).all()


def test_runs_are_stored_and_identical_reruns_reused(rel_ws):
    first = run_detector(rel_ws, "rel", "knn-vote", {"k": 5})
    assert not first.reused and first.counts["scored"] == 2500
    again = run_detector(rel_ws, "rel", "knn-vote", {"k": 5})
    assert again.reused and again.run_id == first.run_id
    other = run_detector(rel_ws, "rel", "knn-vote", {"k": 6})
    assert other.run_id != first.run_id
    forced = run_detector(rel_ws, "rel", "knn-vote", {"k": 5}, force=True)
    assert not forced.reused and forced.run_id != first.run_id
    top = list_findings(rel_ws, first.run_id, top=5)
    assert len(top) == 5 and top["score"].is_monotonic_decreasing


def test_downstream_variants_and_control(rel_ws):
    from curate.evaluate import downstream

    run = run_detector(rel_ws, "rel", "tacred-is")
    rows = {r["variant"]: r for r in downstream(rel_ws, "rel", [run.run_id])}
    assert set(rows) == {"original", "IS-E", "IS-E-random", "IS-R"}
    flagged = run.counts["flagged"]
    assert rows["IS-E"]["train_examples"] == rows["original"]["train_examples"] - flagged
    assert rows["IS-E-random"]["train_examples"] == rows["IS-E"]["train_examples"]
    assert rows["IS-R"]["changed"] == flagged
    for r in rows.values():
        assert 0 <= r["f1"] <= 1 and r["delta_f1"] == pytest.approx(r["f1"] - rows["original"]["f1"], abs=1e-4)


def test_a_run_is_reused_only_on_its_own_dataset(small_rel, tmp_path):
    from curate.embed import embed_dataset
    from curate.ingest import ingest

    ingest(small_rel, tmp_path / "src", "tacred", "copy")  # the same content under another name
    embed_dataset(small_rel, "copy")
    first = run_detector(small_rel, "rel", "knn-vote")
    copy = run_detector(small_rel, "copy", "knn-vote")
    assert not copy.reused and copy.run_id != first.run_id
    assert small_rel.one("SELECT dataset FROM runs WHERE run_id = ?", [copy.run_id])[0] == "copy"
    assert run_detector(small_rel, "copy", "knn-vote").run_id == copy.run_id
    assert len(list_findings(small_rel, copy.run_id, top=5)) == 5


def test_a_new_detector_describes_itself_to_the_core(rel_ws):
    """A detector with its own variant and ensemble rule needs nothing outside its class: the runs table, the
    ensemble, the review queue, curate eval and the default set all ask the class."""
    from pydantic import Field

    from curate.detect import latest_runs
    from curate.detect.base import Detector, frame
    from curate.review import QueueFilter, build_queue

    class EchoParams(DetectorParams):
        flavour: str = Field("plain")

    class Echo(Detector):
        name = "echo-for-test"
        description = "scores each example by a hash of its id and the flavour"
        Params = EchoParams

        @classmethod
        def variant(cls, params: dict) -> str:
            return params["flavour"]

        @classmethod
        def left_out(cls, params: dict) -> str | None:
            return "it is shy" if params["flavour"] == "shy" else None

        @classmethod
        def default_runs(cls, ctx: Context) -> list[dict]:
            return [{"flavour": "sweet"}]

        def run(self, ctx: Context, params: EchoParams):
            rows = np.flatnonzero(self.scope(ctx, params))
            score = np.array([hash((ctx.ids[r], params.flavour)) % 1000 / 1000 for r in rows])
            return frame(ctx, rows, score, [None] * len(rows), ["echo"] * len(rows), [None] * len(rows),
                         score > 0.9)

    REGISTRY[Echo.name] = Echo
    try:
        runs = {f: run_detector(rel_ws, "rel", Echo.name, {"flavour": f}) for f in ("sweet", "sour", "shy")}
        stored = dict(rel_ws.con.execute("SELECT run_id, variant FROM runs").fetchall())
        assert {stored[r.run_id] for r in runs.values()} == {"sweet", "sour", "shy"}
        members = {r.run_id for r in latest_runs(rel_ws, "rel", "ensemble")}
        assert members == {runs["sweet"].run_id, runs["sour"].run_id}  # each variant a member, the shy one not
        ens = run_detector(rel_ws, "rel", "ensemble")
        assert ens.counts["scored"] > 0
        queued = build_queue(rel_ws, QueueFilter(dataset="rel", flagged_only=False)).runs
        assert set(queued) == {r.run_id for r in runs.values()}  # the queue shows every variant, not the ensemble
        assert {r.run_id for r in latest_runs(rel_ws, "rel", "eval")} == {*queued, ens.run_id}
        assert (Echo.name, {"flavour": "sweet"}) in default_detectors(Context(rel_ws, "rel"))
    finally:
        del REGISTRY[Echo.name]
