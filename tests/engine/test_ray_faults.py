"""Ray jobs that lose part of the cluster: a driver killed part-way (the next run re-embeds none of the shards that
finished) and a node removed mid-job (the result is the same). Each runs its cluster in a process of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest

from curate.embed import embed_dataset, load_vectors
from curate.engine import EngineOptions
from curate.ingest import ingest
from curate.store import Workspace

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

EMBED = """
import sys
from curate.embed import embed_dataset
from curate.engine import EngineOptions
from curate.store import Workspace
opts = EngineOptions.model_validate_json(sys.argv[2])
with Workspace(sys.argv[1]) as ws:
    embed_dataset(ws, "t", engine=opts)
"""

NODE_LOSS = """
import json, sys, threading, time
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from curate.embed import embed_dataset, load_vectors
from curate.engine import EngineOptions
from curate.store import Workspace
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
node = cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, log_to_driver=False)
opts = EngineOptions.model_validate_json(sys.argv[2])
outputs = Path(opts.shard_dir)
removed = []
def remove_when_started():
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(outputs.rglob("outputs/*.parquet")):
            cluster.remove_node(node)
            removed.append(time.monotonic())
            return
        time.sleep(0.05)
from curate.errors import CurateError
with Workspace(sys.argv[1]) as ws:
    try:  # two nodes and no shared shard folder: refused before any work is sent
        embed_dataset(ws, "t", engine=opts.model_copy(update={"shard_dir": None}))
        refused = ""
    except CurateError as exc:
        refused = str(exc)
threading.Thread(target=remove_when_started, daemon=True).start()
with Workspace(sys.argv[1]) as ws:
    res = embed_dataset(ws, "t", engine=opts)
    print(json.dumps({"computed": res.computed, "removed": bool(removed), "refused": refused}), flush=True)
ray.shutdown()
cluster.shutdown()
"""


def _texts(tmp_path: Path, n: int) -> tuple[Path, list[str]]:
    texts = [f"Sentence {i} says something about subject {i % 31} and then adds a clause of {i % 7} words."
             for i in range(n)]
    src = tmp_path / "t.jsonl"
    src.write_text("".join(json.dumps({"id": f"t{i:05d}", "text": t, "label": "a"}) + "\n"
                           for i, t in enumerate(texts)))
    return src, texts


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for p in [*family, psutil.Process(proc.pid)] if proc.poll() is None else family:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)


def _reference(texts: list[str]) -> np.ndarray:
    from curate.backends import cached_onnx, open_backend
    from curate.encode import load_model, resolve_model

    source = resolve_model().source
    found = cached_onnx(source, "onnx")
    if found is None:
        open_backend(load_model(source), source, "onnx", texts[:256])
        found = cached_onnx(source, "onnx")
    return found[0].encode(texts)


def test_a_job_stopped_part_way_re_embeds_none_of_the_finished_shards(tmp_path, ray_local):
    src, texts = _texts(tmp_path, 3000)
    db = tmp_path / "w.duckdb"
    with Workspace(db) as ws:
        ingest(ws, src, "jsonl", "t")
    _reference(texts[:8])  # the export and its guard exist before the job: the driver opens the backend fast
    opts = EngineOptions(engine="ray", workers=1, cpus_per_worker=0.5, shard_rows=150,
                         shard_dir=str(tmp_path / "shards"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen([sys.executable, "-c", EMBED, str(db), opts.model_dump_json()], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "job.log", "w"))
    outputs = tmp_path / "shards"
    try:
        deadline = time.monotonic() + 180
        finished: list[Path] = []
        while time.monotonic() < deadline and not finished:
            assert proc.poll() is None, (tmp_path / "job.log").read_text()[-3000:]
            for path in outputs.rglob("outputs/*.parquet"):
                try:
                    pq.read_metadata(path)
                    finished.append(path)
                except Exception:
                    pass
            time.sleep(0.05)
        assert finished, "no output shard was finished in time"
    finally:
        _kill_tree(proc)
    done = {h for p in outputs.rglob("outputs/*.parquet") for h in _readable_hashes(p)}
    assert 0 < len(done) < 3000
    with Workspace(db) as ws:
        again = embed_dataset(ws, "t", engine=opts)  # on the test session's cluster
        assert again.computed + len(done) == 3000  # nothing that finished was embedded again
        got = load_vectors(ws, "t")
    ref = _reference(texts)
    assert got.ids == [f"t{i:05d}" for i in range(3000)]
    assert float((ref * got.matrix).sum(axis=1).min()) >= 0.9999


def _readable_hashes(path: Path) -> list[str]:
    try:
        return pq.read_table(path, columns=["text_hash"]).column("text_hash").to_pylist()
    except Exception:  # cut short by the kill: the next run drops it
        return []


def test_a_node_removed_mid_job_changes_nothing(tmp_path):
    src, texts = _texts(tmp_path, 2000)
    db = tmp_path / "w.duckdb"
    with Workspace(db) as ws:
        ingest(ws, src, "jsonl", "t")
    _reference(texts[:8])
    # The head (2 CPUs) has room for both 0.75-CPU actors and Ray's tasks once the second node (1 CPU) is gone;
    # the timeout turns a job that could not go on into an error instead of a hang.
    opts = EngineOptions(engine="ray", workers=2, cpus_per_worker=0.75, shard_rows=100, timeout=300,
                         shard_dir=str(tmp_path / "shards"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    out = subprocess.run([sys.executable, "-c", NODE_LOSS, str(db), opts.model_dump_json()], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["removed"] and res["computed"] == 2000
    assert res["refused"].startswith("the Ray cluster has 2 nodes: give --shard-dir a path every node mounts")
    with Workspace(db, read_only=True) as ws:
        got = load_vectors(ws, "t")
    ref = _reference(texts)
    assert float((ref * got.matrix).sum(axis=1).min()) >= 0.9999
