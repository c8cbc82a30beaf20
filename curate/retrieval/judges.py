"""ARHN's two judgements behind one interface: stage 1, a passage-grounded answer snippet (or none) per
(query, passage); stage 2, a listwise ranking of a query's candidates by direct answerability.

LLMJudge asks any OpenAI-compatible endpoint. EmbeddingJudge is the offline fallback: the best-matching passage
sentence as the snippet when it is similar enough to the query, and ranking by query-passage similarity. It is
weaker (it measures topical closeness, not whether a passage answers), and is documented as such."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from curate.llm.client import LLM, Call, LLMSettings, Tally
from curate.llm.prompts import answer_messages, answer_validator, rank_messages, rank_validator
from curate.store import Workspace


@dataclass
class AnswerItem:
    """A (query, passage) pair to judge in stage 1."""

    qid: str
    pid: str
    query: str
    passage: str


@dataclass
class RankItem:
    """A query's candidates in their initial order (hardest first), to rank in stage 2."""

    qid: str
    query: str
    candidates: list[tuple[str, str]]  # (passage id, text)


@dataclass
class Judgements:
    """Stage 1 snippets by (qid, pid), stage 2 orders by qid, and counted outcomes."""

    snippets: dict[tuple[str, str], str | None] = field(default_factory=dict)
    orders: dict[str, list[str]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        """Add to one outcome counter."""
        self.outcomes[what] = self.outcomes.get(what, 0) + n


def windows(n: int, size: int, step: int) -> list[tuple[int, int]]:
    """RankGPT's sliding windows from the bottom of the list to the top, so strong candidates bubble up."""
    if n <= size:
        return [(0, n)]
    spans, end = [], n
    while True:
        start = max(0, end - size)
        spans.append((start, end))
        if start == 0:
            return spans
        end -= step


class LLMJudge:
    """Both stages through an OpenAI-compatible chat endpoint, cached and validated."""

    name = "llm"

    def __init__(self, ws: Workspace, settings: LLMSettings, window: int = 20, step: int = 10) -> None:
        self.llm = LLM(ws, settings)
        self.window, self.step = window, step

    @property
    def tally(self) -> Tally:
        """Tokens spent and call outcomes."""
        return self.llm.tally

    def answer_calls(self, items: list[AnswerItem]) -> list[Call]:
        """Stage 1 requests."""
        return [Call((it.qid, it.pid), answer_messages(it.query, it.passage), answer_validator(it.passage))
                for it in items]

    def rank_call(self, item: RankItem, part: list[tuple[str, str]]) -> Call:
        """One stage 2 window request; candidates get short ids so the model copies them reliably."""
        local = [f"P{i + 1}" for i in range(len(part))]
        return Call(item.qid, rank_messages(item.query, [(lid, text) for lid, (_, text) in zip(local, part)]),
                    rank_validator(local))

    def plan(self, answers: list[AnswerItem], ranks: list[RankItem]) -> list[Call]:
        """Every request the run will make if orders stay as they start (for the estimate)."""
        calls = self.answer_calls(answers)
        for it in ranks:
            for a, b in windows(len(it.candidates), self.window, self.step):
                calls.append(self.rank_call(it, it.candidates[a:b]))
        return calls

    def judge(self, answers: list[AnswerItem], ranks: list[RankItem]) -> Judgements:
        """Run both stages."""
        out = Judgements()
        calls = self.answer_calls(answers)
        cache = self.llm.cached(calls)
        for res in self.llm.map(calls, lambda c: self.llm.one(c, cache), "ARHN stage 1 (answers)"):
            out.count(f"answer_{res.status}")
            if res.value is not None:
                snippet, invented = res.value
                out.count("invented_snippet", invented)
                out.snippets[res.item] = snippet
        for qid, order, statuses in self.llm.map(ranks, self._rank_one, "ARHN stage 2 (rankings)"):
            out.orders[qid] = order
            for s in statuses:
                out.count(f"rank_{s}")
        return out

    def _rank_one(self, item: RankItem) -> tuple[str, list[str], list[str]]:
        order = list(item.candidates)
        statuses = []
        for a, b in windows(len(order), self.window, self.step):
            part = order[a:b]
            res = self.llm.one(self.rank_call(item, part))
            statuses.append(res.status)
            if res.value is not None:  # an invalid reply leaves this window as it was
                by_local = {f"P{i + 1}": cand for i, cand in enumerate(part)}
                order[a:b] = [by_local[lid] for lid in res.value]
        return item.qid, [pid for pid, _ in order], statuses


class EmbeddingJudge:
    """Offline fallback: extractive snippets and similarity ranking from the embedding model."""

    name = "embedding"

    def __init__(self, ws: Workspace, model: str | None = None, threshold: float = 0.8) -> None:
        self.ws, self.model, self.threshold = ws, model, threshold
        self.tally = Tally()

    def plan(self, answers: list[AnswerItem], ranks: list[RankItem]) -> list[Call]:
        """No requests: nothing to pay for."""
        return []

    def judge(self, answers: list[AnswerItem], ranks: list[RankItem]) -> Judgements:
        """Best passage sentence per pair (if similar enough to the query), and rank by passage similarity."""
        from curate.embed import vectors_for_texts

        out = Judgements()
        sentences = [_sentences(it.passage) for it in answers]
        flat = [s for group in sentences for s in group]
        queries = sorted({it.query for it in answers} | {it.query for it in ranks})
        qv = dict(zip(queries, vectors_for_texts(self.ws, queries, model=self.model)))
        sv = vectors_for_texts(self.ws, flat, model=self.model) if flat else np.zeros((0, 1))
        at = 0
        for it, group in zip(answers, sentences):
            sims = sv[at : at + len(group)] @ qv[it.query] if group else np.zeros(0)
            at += len(group)
            best = int(np.argmax(sims)) if len(sims) else -1
            out.snippets[(it.qid, it.pid)] = group[best] if best >= 0 and sims[best] >= self.threshold else None
            out.count("answer_ok")
        texts = sorted({t for it in ranks for _, t in it.candidates})
        pv = dict(zip(texts, vectors_for_texts(self.ws, texts, model=self.model))) if texts else {}
        for it in ranks:
            scores = [float(pv[t] @ qv[it.query]) for _, t in it.candidates]
            out.orders[it.qid] = [it.candidates[i][0] for i in np.argsort(scores)[::-1]]
            out.count("rank_ok")
        return out


def _sentences(text: str) -> list[str]:
    """Sentences of a passage (punctuation split; passages are short)."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()] or [text]
