"""Embedding on Ray Data: the texts missing from the vector store go out as Parquet shards, an actor pool that loads
the model once turns them into (text hash, vector) shards, and those become vector-store shards under the same cache
key the in-process path uses. The model path, backend and key (and the backend's quality guard) are settled on the
driver before anything is sent; actors use the same encoding code (pair and span vectors included).

Each actor call embeds one input shard into one output shard. A job stopped part-way keeps what finished: on the next
run the finished output shards are taken into the store first, and only the texts still missing are sent again."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.engine.cluster import ray_cluster, require_shared_shards, shard_root, worker_count
from curate.engine.options import EngineOptions
from curate.errors import CurateError
from curate.progress import stage_line
from curate.vectors import VectorStore, register_shards, write_shard


class Embedder:
    """A Ray Data actor: opens the encoder once (as the driver chose it), then turns batches of (text_hash, text,
    meta) into (text_hash, vector)."""

    def __init__(self, source: str, backend: str, representation: str, batch_size: int, threads: int,
                 device: str, deadline: float | None = None) -> None:
        from curate.encode import TorchEncoder, load_model

        self.representation, self.batch_size, self.deadline = representation, batch_size, deadline
        if backend in ("onnx", "onnx-int8"):
            from curate.backends import cached_onnx, open_onnx

            found = cached_onnx(source, backend)
            if found is not None:
                self.encoder = found[0]
            else:  # a node without the driver's export makes the same one from the same weights
                self.encoder = open_onnx(load_model(source, device), source, backend)[0]
            self.encoder.workers = threads
        else:
            import torch

            torch.set_num_threads(threads)
            st = load_model(source, device)
            self.encoder = TorchEncoder(st.half() if backend == "torch-fp16" else st)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Embed each input shard named in the batch into its output shard; returns the rows each holds."""
        from curate.encode import encode_rows

        import ray

        rows = []
        for source, target in zip(batch["input"], batch["output"]):
            if self.deadline is not None and time.time() > self.deadline:
                rows.append(0)  # past the job's timeout: the pool drains instead of working on for nobody
                continue
            table = pq.read_table(str(source))
            metas = [json.loads(m) if m else None for m in table.column("meta").to_pylist()]
            vecs = encode_rows(self.encoder, self.representation, table.column("text").to_pylist(), metas,
                               self.batch_size)
            # Whole or not at all, in the store's layout: the unit a stopped job resumes from, moved in as it is.
            write_shard(Path(target), table.column("text_hash").to_pylist(), vecs)
            rows.append(len(vecs))
        return {"output": batch["output"], "rows": np.asarray(rows, dtype=np.int64),
                "actor": [ray.get_runtime_context().get_actor_id()] * len(rows)}


def job_dir(opts: EngineOptions, key: Any) -> Path:
    """The folder of one key's embedding job (its input and output shards): stable, so a re-run finds it."""
    return shard_root(opts) / f"embed-{hashlib.sha256(str(key).encode()).hexdigest()[:16]}"


def finished_outputs(folder: Path) -> list[tuple[Path, int]]:
    """(path, rows) of the output shards written whole. Temporary files are left alone (another run may be writing
    them); a shard with no footer (a crash on a file system that renames before it syncs) is removed."""
    done = []
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        try:
            done.append((path, pq.read_metadata(path).num_rows))
        except FileNotFoundError:  # another driver took it first
            continue
        except Exception:
            path.unlink(missing_ok=True)
    return done


def write_inputs(folder: Path, rows: list[tuple[str, str, str | None]], shard_rows: int) -> list[Path]:
    """The texts to embed as Parquet shards of shard_rows, each shard in the order given (longest first), in a
    folder of this run's own (another run on the same shard folder keeps its inputs)."""
    folder.mkdir(parents=True)
    paths = []
    for start in range(0, len(rows), shard_rows):
        part = rows[start : start + shard_rows]
        path = folder / f"{start // shard_rows:06d}.parquet"
        pq.write_table(pa.table({"text_hash": [r[0] for r in part], "text": [r[1] for r in part],
                                 "meta": [r[2] for r in part]}), path)
        paths.append(path)
    return paths


def drop_stale_inputs(folder: Path, age_s: float = 86_400) -> None:
    """Remove input folders that stopped runs left (a day old: a run still going keeps its own)."""
    for old in folder.glob("inputs-*") if folder.is_dir() else []:
        if time.time() - old.stat().st_mtime > age_s:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _removed(path: Path) -> Iterator[None]:
    """Remove path (a run's inputs) when the block ends, however it ends."""
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


def take_outputs(folder: Path, key: Any, store: VectorStore, token: str = "") -> list[tuple[Path, int]]:
    """Move the finished output shards (of the run named by token, else all) into the vector store; returns (store
    path, rows) of each."""
    moved = []
    for path, rows in finished_outputs(folder):
        if token and not path.stem.endswith(f"-{token}"):
            continue
        try:
            moved.append((store.adopt(key, path), rows))
        except FileNotFoundError:  # another driver on the same shard folder took it into the store
            continue
    return moved


def run_embedding(inputs: list[Path], out: Path, *, source: str, backend: str, representation: str,
                  batch_size: int, opts: EngineOptions, device: str, token: str) -> int:
    """The input shards' paths -> map_batches(Embedder actor pool), each call one shard in and one out, with bounded
    retries and the timeout; returns how many actors took part.

    Actors read and write the shards themselves rather than through read_parquet/write_parquet: Ray Data (2.60)
    coalesces small Parquet files into one read block, which left one actor of the pool doing all the work."""
    import ray

    workers = worker_count(opts)
    threads = opts.threads_per_worker or max(1, round(opts.cpus_per_worker))
    out.mkdir(parents=True, exist_ok=True)
    deadline = None if opts.timeout is None else time.time() + opts.timeout
    jobs = [{"input": str(p), "output": str(out / f"{p.stem}-{token}.parquet")} for p in inputs]
    ds = ray.data.from_items(jobs, override_num_blocks=len(jobs))
    with warnings.catch_warnings():
        # Ray Data's actor pools retry forever unless told; the bound goes in as remote args, which Ray 2.60 still
        # takes but calls deprecated (pyproject pins ray below 2.64, which drops them).
        warnings.simplefilter("ignore")
        done = ds.map_batches(
            # One shard in flight per actor: shards are big units of work, and a second one queued at a busy actor
            # would wait while another actor idles.
            Embedder, batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(workers, len(inputs)),
                                                                       max_tasks_in_flight_per_actor=1),
            num_cpus=opts.cpus_per_worker, num_gpus=opts.gpus_per_worker or None,
            fn_constructor_kwargs={"source": source, "backend": backend, "representation": representation,
                                   "batch_size": batch_size, "threads": threads, "device": device,
                                   "deadline": deadline},
            max_restarts=opts.max_retries, max_task_retries=opts.max_retries)
    failure: list[BaseException] = []
    actors: set[str] = set()

    def consume() -> None:
        try:
            for batch in done.iter_batches(batch_size=None, batch_format="pyarrow"):
                actors.update(batch.column("actor").to_pylist())
        except BaseException as exc:  # carried to the caller's thread
            failure.append(exc)

    runner = threading.Thread(target=consume, daemon=True)
    runner.start()
    runner.join(opts.timeout)
    if runner.is_alive():
        raise CurateError(f"the Ray embedding job did not finish within {opts.timeout:g} s; the shards it finished "
                          f"are kept: run the same command again to resume")
    if failure:
        raise CurateError(f"the Ray embedding job failed: {str(failure[0]).splitlines()[0][:300]}") from failure[0]
    return len(actors)


def embed_on_ray(ws: Any, name: str, key: Any, *, source: str, missing_of, batch_size: int,
                 opts: EngineOptions, device: str = "cpu") -> tuple[int, dict[str, float]]:
    """Embed the dataset's missing texts on Ray into the vector store under key; returns (texts embedded, stage
    seconds). missing_of() lists (text hash, text, meta) still missing, read again after a resume."""
    store = VectorStore()
    folder = job_dir(opts, key)
    timings: dict[str, float] = {}
    resumed = take_outputs(folder / "outputs", key, store)  # what a stopped run finished
    register_shards(ws, key, resumed)
    if resumed:
        stage_line("ray embed", f"{sum(n for _, n in resumed):,} vectors from a stopped run taken into the store")
    missing = missing_of()
    if not missing:
        return 0, timings
    missing.sort(key=lambda m: -len(m[1] or ""))
    token = uuid.uuid4().hex[:8]  # this run's files: a resumed or concurrent run adds its own, never overwrites
    drop_stale_inputs(folder)
    with ray_cluster(opts), _removed(folder / f"inputs-{token}"):
        require_shared_shards(opts)
        t = time.perf_counter()
        inputs = write_inputs(folder / f"inputs-{token}", missing,
                              opts.input_rows(len(missing), worker_count(opts)))
        timings["write_inputs"] = round(time.perf_counter() - t, 3)
        stage_line("ray embed", f"{len(missing):,} texts in {len(inputs)} input shards "
                                f"({timings['write_inputs']:.1f} s)")
        t = time.perf_counter()
        actors = run_embedding(inputs, folder / "outputs", source=source, backend=key.backend,
                               representation=key.representation, batch_size=batch_size, opts=opts, device=device,
                               token=token)
        timings["embed"] = round(time.perf_counter() - t, 3)
        timings["actors"] = actors
        stage_line("ray embed", f"{len(missing):,} texts embedded by {actors} actors "
                                f"({timings['embed']:.1f} s, {len(missing) / max(timings['embed'], 1e-9):.0f} texts/s)")
    t = time.perf_counter()
    taken = take_outputs(folder / "outputs", key, store, token)
    register_shards(ws, key, taken)
    timings["load"] = round(time.perf_counter() - t, 3)
    stage_line("ray embed", f"{sum(n for _, n in taken):,} vectors into the store ({timings['load']:.1f} s)")
    return sum(n for _, n in taken), timings
