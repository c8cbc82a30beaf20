"""Exact kNN on Ray: one task per (corpus shard x query block), each memory-mapping its shard from the shard folder
(not the object store, which spills at this size), searching it with faiss for the k the caller asked and mapping
rows to global numbers (curate.shards.search_shard); the driver merges each query block's cells with faiss's
merge_knn_results. Every cell's result is written to disk under a fingerprint of the data and the settings, so a
re-run after a failure computes only the cells it lacks."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curate.engine.cluster import ray_cluster, require_shared_shards, shard_root
from curate.engine.options import EngineOptions
from curate.errors import CurateError
from curate.progress import progress, stage_line
from curate.shards import merge


def _whole(path: Path, write: Callable[[Path], None]) -> None:
    """Write path whole or not at all: write() fills a temporary name (with path's suffix, which numpy wants),
    then it is renamed."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def _search_cell(shard: str, offset: int, queries: str, k: int, out: str) -> float:
    """One task: the k best rows of a memory-mapped corpus shard for a block of queries, saved to out; returns the
    worker's peak RSS in MiB (what a worker needs, for sizing a cluster)."""
    import resource

    from curate.shards import search_shard

    base = np.load(shard, mmap_mode="r")
    q = np.load(queries, mmap_mode="r")
    scores, rows = search_shard(np.asarray(base), np.asarray(q), k, offset)
    _whole(Path(out), lambda tmp: np.savez(tmp, scores=scores, rows=rows))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fingerprint(base: np.ndarray, queries: np.ndarray, k: int, opts: EngineOptions) -> str:
    """What a job's cells depend on: both matrices' bytes, k and the shard layout."""
    h = hashlib.blake2b(digest_size=16)
    for m in (base, queries):
        h.update(repr(m.shape).encode())
        arr = np.ascontiguousarray(m, dtype=np.float32)
        for start in range(0, len(arr), 65_536):  # in slices: never a second copy of a large matrix
            h.update(arr[start : start + 65_536].tobytes())
    h.update(f"{k}:{opts.corpus_rows}:{opts.query_block}".encode())
    return h.hexdigest()


def _write_once(path: Path, matrix: np.ndarray) -> None:
    if not path.exists():
        _whole(path, lambda tmp: np.save(tmp, np.ascontiguousarray(matrix, dtype=np.float32)))


class RayRunner:
    """Runs curate.shards.exact_knn's cells as Ray tasks (see the module docstring)."""

    def __init__(self, opts: EngineOptions) -> None:
        self.opts = opts
        self.stages: dict[str, float] = {}  # seconds of the last search's serial and parallel parts, peak RSS

    def folder(self, fp: str) -> Path:
        """The job's folder in the shard dir."""
        return shard_root(self.opts) / f"knn-{fp}"

    def search(self, base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact kNN of queries among base rows: (scores, global rows), as exact_knn in process."""
        import ray

        opts = self.opts
        t = time.perf_counter()
        job = self.folder(fingerprint(base, queries, k, opts))
        (job / "cells").mkdir(parents=True, exist_ok=True)
        shards = []
        for s in range(0, max(len(base), 1), opts.corpus_rows):
            path = job / f"base-{s:012d}.npy"
            _write_once(path, base[s : s + opts.corpus_rows])
            shards.append((str(path), s))
        blocks = []
        for b in range(0, len(queries), opts.query_block):
            path = job / f"queries-{b:012d}.npy"
            _write_once(path, queries[b : b + opts.query_block])
            blocks.append(str(path))
        cells = {(i, j): job / "cells" / f"{i:06d}-{j:06d}.npz" for i in range(len(shards))
                 for j in range(len(blocks))}
        todo = [c for c, path in cells.items() if not path.exists()]
        self.stages = {"write_shards": round(time.perf_counter() - t, 3)}
        stage_line("ray knn", f"{len(base):,} x {len(queries):,} in {len(cells)} cells ({len(shards)} shards x "
                              f"{len(blocks)} query blocks), {len(cells) - len(todo)} already done; shards written in "
                              f"{time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        if todo:
            with ray_cluster(opts):
                require_shared_shards(opts)
                task = ray.remote(num_cpus=opts.cpus_per_worker, max_retries=opts.max_retries,
                                  retry_exceptions=True)(_search_cell)
                pending = [task.remote(shards[i][0], shards[i][1], blocks[j], k, str(cells[(i, j)]))
                           for i, j in todo]
                deadline = None if opts.timeout is None else time.monotonic() + opts.timeout
                with progress("ray knn", total=len(pending), unit="cell") as bar:
                    while pending:
                        left = None if deadline is None else max(0.0, deadline - time.monotonic())
                        done, pending = ray.wait(pending, num_returns=1, timeout=left)
                        if not done:
                            for ref in pending:
                                ray.cancel(ref, force=True)
                            raise CurateError(f"the Ray kNN job did not finish within {opts.timeout:g} s; "
                                              f"{len(cells) - len(pending)} of {len(cells)} cells are kept in {job}: "
                                              f"run the same command again to resume")
                        peak = max(ray.get(done))
                        self.stages["worker_peak_rss_mib"] = max(self.stages.get("worker_peak_rss_mib", 0), peak)
                        bar.update(len(done))
        searched = time.perf_counter() - t
        self.stages.update(search=round(searched, 3))
        t = time.perf_counter()
        out_s = np.empty((len(queries), k), dtype=np.float32)
        out_i = np.empty((len(queries), k), dtype=np.int64)
        for j, b in enumerate(range(0, len(queries), opts.query_block)):
            parts = []
            for i in range(len(shards)):
                with np.load(cells[(i, j)]) as cell:
                    parts.append((cell["scores"], cell["rows"]))
            out_s[b : b + opts.query_block], out_i[b : b + opts.query_block] = merge(parts)
        self.stages["merge"] = round(time.perf_counter() - t, 3)
        stage_line("ray knn", f"{len(todo)} cells searched in {searched:.1f} s, merged in {self.stages['merge']:.1f} s")
        return out_s, out_i
