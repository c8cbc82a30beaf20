"""The vector store outlives a workspace: another workspace, a recipe run elsewhere, a moved cache folder all read
the vectors already paid for; shards are written whole; a workspace of an older curate still reads its own table."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
from typer.testing import CliRunner

from curate.cli import app
from curate.embed import CacheKey, embed_dataset, load_vectors, put_vectors, shard_paths, stored_key
from curate.encode import REPR_TEXT, resolve_model
from curate.ingest import ingest
from curate.store import Workspace
from curate.vectors import VectorStore
from tests.conftest import SAMPLE


def _topics(tmp_path, n=60):
    src = tmp_path / "topics.jsonl"
    src.write_text("".join((SAMPLE / "classification" / "train.jsonl").read_text().splitlines(True)[:n]))
    return src


def test_a_second_workspace_reads_the_vectors_the_first_paid_for(tmp_path):
    src = _topics(tmp_path)
    with Workspace(tmp_path / "one.duckdb") as one, Workspace(tmp_path / "two.duckdb") as two:
        ingest(one, src, "jsonl", "t")
        first = embed_dataset(one, "t")
        assert first.computed == 60
        ingest(two, src, "jsonl", "t")
        second = embed_dataset(two, "t")
        assert (second.computed, second.cached) == (0, 60)
        a, b = load_vectors(one, "t"), load_vectors(two, "t")
        assert a.ids == b.ids and np.array_equal(a.matrix, b.matrix)
        # Neither workspace holds a copy: both read the same shard files in place.
        assert shard_paths(one, a.key) == shard_paths(two, b.key)
        assert one.one("SELECT count(*) FROM embeddings")[0] == two.one("SELECT count(*) FROM embeddings")[0] == 0
        # The adopting workspace records the backend too: when other code (the ARHN embedding judge) later caches
        # every text with another backend, both keep reading the vectors they were embedded with.
        spec = resolve_model(None)
        other = CacheKey.of(spec, REPR_TEXT, "torch" if a.key.backend != "torch" else "onnx")
        texts = [r[0] for r in two.con.execute("SELECT DISTINCT text_hash FROM examples").fetchall()]
        put_vectors(two, other, texts, np.ones((len(texts), a.matrix.shape[1]), dtype=np.float32))
        assert stored_key(two, "t", spec, REPR_TEXT) == b.key == a.key


def test_a_recipe_run_into_another_output_folder_embeds_nothing(tmp_path):
    src = _topics(tmp_path, 40)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ndataset: t\ningest:\n  - format: jsonl\n    path: {src}\nembed: {{}}\n"
                      f"detect:\n  - detector: knn-vote\n")
    runner = CliRunner()
    runs = [runner.invoke(app, ["run", str(recipe), "--out", str(tmp_path / out), "--json"]) for out in ("a", "b")]
    assert [r.exit_code for r in runs] == [0, 0], runs[-1].output
    embeds = [next(s for s in json.loads(r.stdout)["steps"] if s["kind"] == "embed") for r in runs]
    assert embeds[0]["details"]["computed"] == 40 and embeds[1]["details"]["computed"] == 0


def test_a_moved_cache_folder_is_found_again(tmp_path, monkeypatch):
    src = _topics(tmp_path, 30)
    old, new = tmp_path / "cache-old", tmp_path / "cache-new"
    monkeypatch.setenv("CURATE_CACHE", str(old))
    with Workspace(tmp_path / "w.duckdb") as ws:
        ingest(ws, src, "jsonl", "t")
        assert embed_dataset(ws, "t").computed == 30
        want = load_vectors(ws, "t").matrix
    shutil.move(old, new)
    monkeypatch.setenv("CURATE_CACHE", str(new))
    with Workspace(tmp_path / "w.duckdb") as ws:
        again = embed_dataset(ws, "t")
        assert again.computed == 0  # the shards were adopted from where the store is now
        assert all(p.startswith(str(new)) for p in shard_paths(ws, load_vectors(ws, "t").key))
        np.testing.assert_array_equal(load_vectors(ws, "t").matrix, want)


def test_shards_are_written_whole_and_a_text_in_two_shards_is_read_once(tmp_path):
    store = VectorStore(tmp_path / "store")
    key = CacheKey.of(resolve_model(), REPR_TEXT)
    store.write(key, ["a", "b"], np.eye(2, 3, dtype=np.float32))
    (store.folder(key) / ".half.parquet.1234.tmp").write_bytes(b"PAR1 cut short")  # a crash mid-write
    assert [p.suffix for p in store.shards(key)] == [".parquet"]
    assert (store.folder(key) / "key.txt").read_text().strip() == str(key)
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": f"text number {i}", "label": "x"}) + "\n"
                           for i in range(3)))
    with Workspace(tmp_path / "w.duckdb") as ws:
        ingest(ws, src, "jsonl", "d")
        hashes = [r[0] for r in ws.con.execute("SELECT text_hash FROM examples ORDER BY ord").fetchall()]
        vecs = np.random.default_rng(0).random((3, 4)).astype(np.float32)
        for _ in range(2):  # two writers that raced: the same vectors in two shards
            from curate.embed import put_vectors

            put_vectors(ws, key, hashes, vecs, store=store)
        got = load_vectors(ws, "d")
        assert got.ids == ["r0", "r1", "r2"] and np.array_equal(got.matrix, vecs)


def test_an_older_workspace_still_reads_the_vectors_kept_in_its_own_table(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"id": f"r{i}", "text": f"old text {i}", "label": "x"}) + "\n"
                           for i in range(4)))
    key = CacheKey.of(resolve_model(), REPR_TEXT)
    with Workspace(tmp_path / "w.duckdb") as ws:
        ingest(ws, src, "jsonl", "d")
        vecs = np.arange(16, dtype=np.float32).reshape(4, 4)
        for (h,), v in zip(ws.con.execute("SELECT text_hash FROM examples ORDER BY ord").fetchall(), vecs):
            ws.con.execute("INSERT INTO embeddings (text_hash, model, vector) VALUES (?, ?, ?)", [h, str(key), v.tolist()])
        assert not os.listdir(os.environ["CURATE_CACHE"])  # nothing in the store
        assert embed_dataset(ws, "d").computed == 0
        np.testing.assert_array_equal(load_vectors(ws, "d").matrix, vecs)


def test_a_shard_in_the_older_float_list_layout_is_still_read(tmp_path):
    """Shards written before vectors became fixed-size binary (Ray actors wrote float lists) stay readable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.vectors import read_shard, write_shard

    vecs = np.random.default_rng(1).random((5, 6)).astype(np.float32)
    old = tmp_path / "old.parquet"
    pq.write_table(pa.table({"text_hash": [f"h{i}" for i in range(5)],
                             "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), 6)}), old)
    new = tmp_path / "new.parquet"
    write_shard(new, [f"h{i}" for i in range(5)], vecs)
    for path in (old, new):
        hashes, matrix = read_shard(path)
        assert list(hashes) == [f"h{i}" for i in range(5)] and np.array_equal(matrix, vecs)
