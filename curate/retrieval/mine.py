"""Hard-negative mining from cached embeddings, with the rank window, margin and score filters of
sentence-transformers' mine_hard_negatives; mined pairs are stored as negative examples."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.engine.options import EngineOptions
from curate.errors import CurateError
from curate.index import knn
from curate.ingest.retrieval import pair_id
from curate.progress import progress
from curate.retrieval.dropped import DROPPED, keep_for_review
from curate.retrieval.pairs import NEGATIVE, TextVectors, load_pairs, texts_by_id
from curate.store import Workspace

SOURCE = "mined"


class MineOptions(BaseModel):
    """Mining settings; names and meanings follow sentence-transformers' mine_hard_negatives."""

    model_config = ConfigDict(extra="forbid")

    num_negatives: int = Field(3, ge=1, description="negatives kept per query")
    range_min: int = Field(0, ge=0, description="skip this many of the closest candidates (after filtering)")
    range_max: int | None = Field(None, ge=1, description="consider only this many closest candidates "
                                  "(default: num_negatives + positives, x10 when a margin or max_score is set)")
    absolute_margin: float | None = Field(None, description="drop candidates scoring above positive - margin")
    relative_margin: float | None = Field(None, ge=0, description="drop candidates above positive - |positive| * m, "
                                          "e.g. 0.05 keeps negatives below 95% of the positive's score")
    max_score: float | None = Field(None, description="drop candidates scoring above this")
    min_score: float | None = Field(None, description="drop candidates scoring below this")
    sampling: Literal["top", "random"] = Field("top", description="take the hardest survivors, or a random sample")
    seed: int = 0
    split: str | None = Field(None, description="mine only for queries of this split")
    search: Literal["exact", "auto", "ivf", "hnsw"] = Field(
        "exact", description="kNN search: exact like sentence-transformers (default), or approximate for corpora "
        "in the millions ('auto' picks IVF above curate's cost budget)")
    replace: bool = Field(True, description="drop negatives mined by an earlier run first (unless reviewed)")
    model: str | None = None
    query_prompt: str | None = Field(None, description="text put before each query when it is embedded (E5: "
                                     "'query: ', BGE: its instruction); part of the embedding cache key")
    corpus_prompt: str | None = Field(None, description="text put before each passage when it is embedded "
                                      "(E5: 'passage: ')")
    cross_encoder: str | None = Field(None, description="a CrossEncoder (local folder) that rescores every candidate "
                                      "and positive; margins, score limits and ranking then use its scores")
    teacher: str | None = Field(None, description="an embedding model whose cosine rescores the candidates and "
                                "positives: mine with one model, set margins with another (NV-Retriever)")
    keep_dropped: bool = Field(True, description="keep the candidates a margin or max_score drops (likely false "
                               "negatives) as unjudged pairs with a finding each, for review, instead of dropping "
                               "them silently")

    @model_validator(mode="after")
    def _window(self) -> MineOptions:
        if self.range_max is not None and self.num_negatives > self.range_max - self.range_min:
            raise ValueError(f"cannot keep {self.num_negatives} negatives from ranks {self.range_min}.."
                             f"{self.range_max}; widen range_max or lower range_min / num_negatives")
        if self.cross_encoder and self.teacher:
            raise ValueError("give a cross_encoder or a teacher, not both: one model rescores the candidates")
        return self

    @property
    def scorer(self) -> str | None:
        """What rescored the candidates ('cross-encoder:PATH', 'teacher:MODEL'), None for the embedding model."""
        if self.cross_encoder:
            return f"cross-encoder:{self.cross_encoder}"
        return f"teacher:{self.teacher}" if self.teacher else None


@dataclass
class MineResult:
    """What a mining run did, with counted outcomes."""

    dataset: str
    queries: int = 0
    queries_without_positives: int = 0
    mined: int = 0
    already_present: int = 0
    short_queries: int = 0
    replaced: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    kept_for_review: int = 0  # candidates a margin or max_score dropped, stored as unjudged pairs with a finding
    review_run: str | None = None  # the run holding their findings
    scorer: str | None = None  # what rescored the candidates (None: the embedding model)
    timings: dict[str, float] = field(default_factory=dict)
    pairs: list[tuple[str, str, float]] = field(default_factory=list)  # every chosen (query, passage, score)
    dropped: list[tuple[str, str, float, float, str]] = field(default_factory=list)  # (query, passage, score, ref, rule)


def mine(ws: Workspace, name: str, options: MineOptions | None = None, *,
         engine: EngineOptions | None = None) -> MineResult:
    """Mine hard negatives for every query with a positive and store them as negative pairs (the search on a Ray
    cluster with engine=ray: exact, sharded)."""
    opt = options or MineOptions()
    runner = None
    if engine is not None and engine.ray:
        from curate.engine.knn_job import RayRunner

        runner = RayRunner(engine)
    t0 = time.perf_counter()
    pairs = load_pairs(ws, name)
    queries = TextVectors(ws, name, "query", opt.model, opt.query_prompt)
    passages = TextVectors(ws, name, "passage", opt.model, opt.corpus_prompt)
    res = MineResult(name, scorer=opt.scorer)
    split_of: dict[str, str] = {}
    for qid, split in zip(pairs.qids, pairs.splits):
        if qid in pairs.positives:
            split_of.setdefault(qid, split)
    qids = [q for q in queries.ids.tolist() if q in pairs.positives
            and (opt.split is None or split_of.get(q) == opt.split)]
    res.queries = len(qids)
    res.queries_without_positives = sum(1 for q in queries.ids.tolist() if q not in pairs.positives)
    if not qids:
        raise CurateError(f"no query of '{name}'{' in split ' + opt.split if opt.split else ''} has a positive "
                          f"passage to mine against")
    qmat = queries.of(qids)
    pos_lists = [pairs.positives[q] for q in qids]
    max_pos = max(len(p) for p in pos_lists)
    pos_rows = np.full((len(qids), max_pos), -1, dtype=np.int64)
    for i, plist in enumerate(pos_lists):
        pos_rows[i, : len(plist)] = passages.rows(plist)
    if (pos_rows[:, 0] < 0).any():
        raise CurateError("a positive passage has no vector; run: curate embed " + name)
    pos_scores = np.where(pos_rows >= 0, np.einsum("qd,qkd->qk", qmat, passages.matrix[np.clip(pos_rows, 0, None)]),
                          np.inf)
    # The hardest (lowest-scoring) positive sets the margin, as in sentence-transformers: the safe side.
    ref = pos_scores.min(axis=1)
    filtering = any(v is not None for v in (opt.absolute_margin, opt.relative_margin, opt.max_score)) or (
        opt.scorer is not None and opt.min_score is not None)  # as mine_hard_negatives widens it
    range_max = opt.range_max or opt.range_min + opt.num_negatives * (10 if filtering else 1) + max_pos
    if opt.num_negatives > range_max - opt.range_min:
        raise CurateError(f"range_max {range_max} leaves fewer than {opt.num_negatives} candidates")
    res.timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    with progress(f"mine {name}", total=1, unit="search") as bar:
        # range_max + positives + 1 candidates, as mine_hard_negatives retrieves: with rescoring all of them count
        nb = knn(passages.matrix, min(range_max + max_pos + 1, len(passages.ids)), qmat, exclude_self=False,
                 method=opt.search, runner=runner)
        bar.update(1)
    res.timings["knn"] = time.perf_counter() - t
    if runner is not None:
        res.timings.update({f"ray_{k}": v for k, v in runner.stages.items()})

    t = time.perf_counter()
    scores = nb.scores.astype(np.float64).copy()
    embedding_scores = scores.copy()
    if opt.scorer is not None:  # every candidate and positive rescored; the rules below read these scores
        scores, ref = _rescore(ws, name, opt, qids, nb.indices, pos_rows, passages)
        res.timings["rescore"] = time.perf_counter() - t
    scores[nb.indices < 0] = -np.inf
    scores[(nb.indices[:, :, None] == pos_rows[:, None, :]).any(axis=2)] = -np.inf
    rules = [("absolute_margin", opt.absolute_margin, lambda m: scores + m > ref[:, None]),
             ("relative_margin", opt.relative_margin, lambda m: scores > (ref - np.abs(ref) * m)[:, None]),
             ("max_score", opt.max_score, lambda m: scores > m),
             ("min_score", opt.min_score, lambda m: scores < m)]
    for rule, value, drop in rules:
        if value is not None:
            hit = drop(value) & np.isfinite(scores)
            res.skipped[rule] = int(hit.sum())
            if rule != "min_score":  # too close to the positive or too high: a likely false negative
                for i, j in zip(*np.nonzero(hit)):
                    res.dropped.append((qids[i], passages.ids[nb.indices[i, j]], float(scores[i, j]), float(ref[i]),
                                        rule))
            scores[hit] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :range_max][:, opt.range_min :]
    ranked_scores = np.take_along_axis(scores, order, 1)
    ranked_rows = np.take_along_axis(nb.indices, order, 1)
    rng = np.random.default_rng(opt.seed)
    chosen: list[tuple[str, str, float, float]] = []
    for i, qid in enumerate(qids):
        valid = np.flatnonzero(np.isfinite(ranked_scores[i]))
        if opt.sampling == "random" and len(valid) > opt.num_negatives:
            valid = np.sort(rng.choice(valid, size=opt.num_negatives, replace=False))
        take = valid[: opt.num_negatives]
        res.short_queries += len(take) < opt.num_negatives
        for j in take:
            chosen.append((qid, passages.ids[ranked_rows[i, j]], float(ranked_scores[i, j]), float(ref[i]),
                           float(embedding_scores[i, order[i, j]])))
    res.pairs = [(q, p, s) for q, p, s, _, _ in chosen]
    res.timings["filter"] = time.perf_counter() - t

    t = time.perf_counter()
    _store(ws, name, chosen, split_of, opt, res)
    if opt.keep_dropped and res.dropped:
        res.kept_for_review, res.review_run = keep_for_review(ws, name, res.dropped, split_of, opt)
    res.timings["write"] = time.perf_counter() - t
    res.timings = {k: round(v, 3) for k, v in res.timings.items()}
    return res


def _store(ws: Workspace, name: str, chosen, split_of: dict[str, str], opt: MineOptions, res: MineResult) -> None:
    query_text = texts_by_id(ws, name, "query")
    passage_text = texts_by_id(ws, name, "passage")
    passage_hash = dict(ws.con.execute("SELECT id, text_hash FROM texts WHERE dataset = ? AND kind = 'passage'",
                                       [name]).fetchall())
    with ws.transaction():
        if opt.replace:
            # Reviewed pairs stay: a reviewer's decision must keep pointing at an existing example.
            sql = """FROM examples WHERE dataset = ? AND json_extract_string(meta, '$.source') IN (?, ?)
                     AND id NOT IN (SELECT example_id FROM decisions WHERE dataset = ?)"""
            res.replaced = ws.one("SELECT count(*) " + sql, [name, SOURCE, DROPPED, name])[0]
            ws.con.execute("DELETE " + sql, [name, SOURCE, DROPPED, name])
        existing = {r[0] for r in ws.con.execute("SELECT id FROM examples WHERE dataset = ?", [name]).fetchall()}
        start = ws.one("SELECT coalesce(max(ord), -1) + 1 FROM examples WHERE dataset = ?", [name])[0]
        rows: dict[str, list] = {k: [] for k in ("dataset", "id", "split", "text", "label", "meta", "text_hash", "ord")}
        for qid, pid, score, positive_score, embedding_score in chosen:
            ex_id = pair_id(qid, pid)
            if ex_id in existing:
                res.already_present += 1
                continue
            existing.add(ex_id)
            text = passage_text[pid]
            meta = {"query_id": qid, "passage_id": pid, "query": query_text.get(qid), "source": SOURCE,
                    "score": round(score, 6), "positive_score": round(positive_score, 6)}
            if opt.scorer is not None:  # score and positive_score are the rescoring model's
                meta.update(scorer=opt.scorer, embedding_score=round(embedding_score, 6))
            for key, value in (("dataset", name), ("id", ex_id), ("split", split_of[qid]), ("text", text),
                               ("label", NEGATIVE), ("meta", json.dumps(meta)), ("text_hash", passage_hash[pid]),
                               ("ord", start + len(rows["id"]))):
                rows[key].append(value)
        res.mined = len(rows["id"])
        if rows["id"]:
            ws.append_arrow("examples", pa.table(rows))


def _rescore(ws: Workspace, name: str, opt: MineOptions, qids: list[str], cand: np.ndarray, pos_rows: np.ndarray,
             passages: TextVectors) -> tuple[np.ndarray, np.ndarray]:
    """(candidate scores, reference positive score per query) from the cross-encoder or teacher: every retrieved
    candidate and every positive scored on the query's and passage's texts (without prompts); the hardest
    positive is the reference, as for the embedding scores."""
    from curate.retrieval.rescore import rescore

    qtext, ptext = texts_by_id(ws, name, "query"), texts_by_id(ws, name, "passage")
    pids = passages.ids
    cand_at = np.argwhere(cand >= 0)
    pos_at = np.argwhere(pos_rows >= 0)
    pairs = [(qtext[qids[i]], ptext[pids[cand[i, j]]]) for i, j in cand_at]
    pairs += [(qtext[qids[i]], ptext[pids[pos_rows[i, k]]]) for i, k in pos_at]
    got = rescore(ws, opt.cross_encoder, opt.teacher, pairs)
    scores = np.full(cand.shape, -np.inf)
    scores[cand_at[:, 0], cand_at[:, 1]] = got[: len(cand_at)]
    pos = np.full(pos_rows.shape, np.inf)
    pos[pos_at[:, 0], pos_at[:, 1]] = got[len(cand_at):]
    return scores, pos.min(axis=1)
