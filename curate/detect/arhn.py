"""ARHN: answer-centric relabeling of hard negatives. Stage 1 asks for a passage-grounded answer snippet per
(query, candidate); stage 2 ranks each query's candidates by direct answerability. A negative ranked above the
positive is relabelled positive (R); one below the positive that still carries a snippet is filtered (F)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context
from curate.errors import CurateError
from curate.ingest.retrieval import UNJUDGED
from curate.llm.client import LLMSettings
from curate.retrieval.judges import AnswerItem, EmbeddingJudge, LLMJudge, RankItem
from curate.retrieval.pairs import POSITIVE, TextVectors, load_pairs, texts_by_id


class Params(DetectorParams, LLMSettings):
    """arhn parameters: the judge, the candidate lists, and (for judge=llm) the endpoint settings."""

    judge: Literal["llm", "embedding"] = Field("llm", description="an OpenAI-compatible LLM, or the offline "
                                               "embedding judge (weaker: similarity, not answerability)")
    max_negatives: int = Field(20, ge=1, description="judge at most this many negatives per query, hardest first")
    max_queries: int | None = Field(None, ge=1, description="judge only this many queries (a fixed sample: "
                                    "try the judge on a few before paying for all)")
    window: int = Field(20, ge=2, description="stage 2 listwise window (RankGPT-style sliding)")
    step: int = Field(10, ge=1, description="stage 2 window step")
    answer_threshold: float = Field(0.8, ge=-1, le=1, description="embedding judge: query-sentence similarity "
                                    "from which a sentence counts as an answer snippet")


@register
class Arhn(Detector):
    name = "arhn"
    description = "ARHN two-stage relabeling of hard negatives: LLM answer snippets + listwise ranking (retrieval)"
    Params = Params
    needs = ("embeddings", "llm")
    tasks = ("retrieval",)

    @classmethod
    def variant(cls, params: dict) -> str:
        """The LLM that judged, or 'embedding' for the offline judge (so running it never hides an LLM run)."""
        return "embedding" if params.get("judge") == "embedding" else str(params.get("model") or "")

    @classmethod
    def left_out(cls, params: dict) -> str | None:
        """The offline judge is not a default ensemble member: any weight on it lowered the sample's AUPRC."""
        if params.get("judge") == "embedding":
            return "its offline judge=embedding ranks by the same bi-encoder similarity false-negatives uses"
        return None

    def scope(self, ctx: Context, params: Params) -> np.ndarray:
        """The split's pairs that are not positive (a sample of their queries with max_queries); not the mined
        candidates kept unjudged for review (curate mine has a finding on each of them already)."""
        return ctx.split_mask(params.split) & ~np.isin(ctx.labels, [POSITIVE, UNJUDGED])

    def _plan(self, ctx: Context, params: Params) -> tuple[Any, list[AnswerItem], list[RankItem], np.ndarray, dict]:
        pairs = load_pairs(ctx.ws, ctx.dataset)
        scope = ctx.split_mask(params.split)
        in_scope = {ctx.ids[r] for r in np.flatnonzero(scope)}
        queries = TextVectors(ctx.ws, ctx.dataset, "query", ctx.model)
        passages = TextVectors(ctx.ws, ctx.dataset, "passage", ctx.model)
        q_text = texts_by_id(ctx.ws, ctx.dataset, "query")
        p_text = texts_by_id(ctx.ws, ctx.dataset, "passage")
        per_query: dict[str, list[str]] = {}
        for ex, qid, pid, label in zip(pairs.ids, pairs.qids, pairs.pids, pairs.labels):
            if ex in in_scope and label not in (POSITIVE, UNJUDGED):
                per_query.setdefault(qid, []).append(pid)
        answers, ranks, judged = [], [], {}
        self.report = {"queries_without_positive": sum(1 for q in per_query if not pairs.positives.get(q))}
        chosen = sorted(per_query, key=lambda q: hashlib.sha256(q.encode()).hexdigest())
        for qid in chosen[: params.max_queries] if params.max_queries else chosen:
            negs = per_query[qid]
            positives = pairs.positives.get(qid)
            if not positives:
                continue
            qv = queries.of([qid])[0]
            # Hardest first: the initial order for stage 2 and the cap on how many negatives are judged.
            negs = [negs[i] for i in np.argsort(-(passages.of(negs) @ qv), kind="stable")][: params.max_negatives]
            pool = positives + negs
            cands = [pool[i] for i in np.argsort(-(passages.of(pool) @ qv), kind="stable")]
            ranks.append(RankItem(qid, q_text[qid], [(p, p_text[p]) for p in cands]))
            answers += [AnswerItem(qid, p, q_text[qid], p_text[p]) for p in cands]
            judged.update({(qid, p): True for p in negs})
        judge = (EmbeddingJudge(ctx.ws, ctx.model, params.answer_threshold) if params.judge == "embedding"
                 else LLMJudge(ctx.ws, LLMSettings(**{k: getattr(params, k) for k in LLMSettings.model_fields}),
                               params.window, params.step))
        return judge, answers, ranks, np.flatnonzero(scope & ~np.isin(ctx.labels, [POSITIVE, UNJUDGED])), \
            {"pairs": pairs, "judged": judged}

    def estimate(self, ctx: Context, params: Params) -> dict[str, Any]:
        """What a run would send and cost (nothing is sent)."""
        judge, answers, ranks, _, _ = self._plan(ctx, params)
        calls = judge.plan(answers, ranks)
        if not calls:
            return {"judge": judge.name, "requests": 0, "cached": 0, "to_send": 0, "estimated_tokens": 0,
                    "estimated_usd": 0.0}
        return {"judge": judge.name, **judge.llm.estimate(calls)}

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        judge, answers, ranks, rows, info = self._plan(ctx, params)
        if not ranks:
            raise CurateError("no query in scope has both a positive and a negative to judge")
        if isinstance(judge, LLMJudge):
            judge.llm.check_budget(judge.plan(answers, ranks))
        got = judge.judge(answers, ranks)
        pairs = info["pairs"]
        where = {e: i for i, e in enumerate(pairs.ids.tolist())}
        score = np.zeros(len(rows))
        suggested: list[str | None] = [None] * len(rows)
        flagged = np.zeros(len(rows), dtype=bool)
        reasons, evidence = [], []
        for j, r in enumerate(rows):
            i = where[ctx.ids[r]]
            qid, pid = pairs.qids[i], pairs.pids[i]
            order = got.orders.get(qid)
            if (qid, pid) not in info["judged"] or order is None:
                reasons.append("not judged (beyond max_negatives, or its query has no positive)")
                evidence.append(None)
                continue
            snippet = got.snippets.get((qid, pid))
            positives = pairs.positives[qid]
            pos_rank = min(order.index(p) for p in positives if p in order)
            rank = order.index(pid)
            above = rank < pos_rank
            action = "R" if above else ("F" if snippet else None)
            # R before F, snippet-backed before bare, then by how high the judge ranked it.
            score[j] = 0.45 * above + 0.45 * (snippet is not None) + 0.1 * (1 - rank / max(1, len(order) - 1))
            flagged[j] = action is not None
            suggested[j] = POSITIVE if above else None
            if action == "R":
                reasons.append(f"ranked {rank + 1}, above the positive ({pos_rank + 1}): relabel as positive")
            elif action == "F":
                reasons.append(f"answers the query ({snippet[:80]!r}) but ranked below the positive: filter")
            else:
                reasons.append("no answer, and ranked below the positive")
            evidence.append({"action": action, "snippet": snippet, "rank": rank + 1, "positive_rank": pos_rank + 1,
                             "candidates": len(order), "judge": judge.name})
        self.report.update({**got.outcomes, "tokens": judge.tally.tokens,
                            "relabel_R": int(sum(e is not None and e["action"] == "R" for e in evidence)),
                            "filter_F": int(sum(e is not None and e["action"] == "F" for e in evidence))})
        return frame(ctx, rows, score, suggested, reasons, evidence, flagged)
