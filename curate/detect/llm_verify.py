"""LLM verification: a second opinion on another run's top findings. For each of the top candidates the LLM is
asked which label the text supports, the given one or the suggested one (or neither), with the marked entities
or span in view and label descriptions when a labels file gives them; its answer and the run's score make one
new ranking. Same plumbing as ARHN: any OpenAI-compatible endpoint, cached, validated, retried, budgeted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context
from curate.detect.scores import rank_normalise
from curate.errors import CurateError, InputError
from curate.llm.client import LLM, Call, LLMSettings
from curate.llm.prompts import verify_messages, verify_validator
from curate.spans import marked_span_text

VERDICT_TERM = {"suggested": 1.0, "none": 0.5, "unasked": 0.25, "given": 0.0}  # how suspect each answer leaves it
QUESTIONS = {
    "relation": "Which relation does the text state between the subject ([SUBJ]) and the object ([OBJ])?",
    "span": "Which entity type is the span marked [E] ... [/E]?",
    "classification": "Which label fits the text?",
}


class Params(DetectorParams, LLMSettings):
    """llm-verify parameters: which run to check, how many of its top findings, and the endpoint settings."""

    run: str | None = Field(None, description="run id whose findings to verify (default: the latest ensemble run, "
                            "else the latest run of any detector)")
    top: int = Field(100, ge=1, description="verify this many of the run's highest-scored examples")
    labels: str | None = Field(None, description="JSON or YAML file mapping each label to a short description, "
                               "shown to the LLM")


def prompt_text(task: str, text: str, meta: dict[str, Any]) -> str:
    """The example as the LLM reads it: relation entities marked [SUBJ]/[OBJ], a span marked [E]."""
    if task == "span":
        return marked_span_text(meta)[0]
    if task == "relation" and "token" in meta:
        tokens = list(meta["token"])
        cuts = sorted([(meta["subj_start"], "[SUBJ]", meta["subj_end"], "[/SUBJ]"),
                       (meta["obj_start"], "[OBJ]", meta["obj_end"], "[/OBJ]")], reverse=True)
        for start, open_, end, close in cuts:  # from the right, so earlier indices stay valid
            tokens[end + 1:end + 1] = [close]
            tokens[start:start] = [open_]
        return " ".join(tokens)
    return text


def label_descriptions(path: str | None) -> dict[str, str]:
    """The labels file as {label: description}; a bad file names itself and what is wrong."""
    if not path:
        return {}
    p = Path(path)
    if not p.exists():
        raise InputError("no such labels file", path=p, field="labels")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"not readable as JSON or YAML: {exc}", path=p, field="labels") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise InputError("expected a mapping of label to description (strings)", path=p, field="labels")
    return data


@register
class LlmVerify(Detector):
    name = "llm-verify"
    description = ("LLM second opinion on another run's top findings: does the text support the given or the "
                   "suggested label? (relation, span, classification)")
    Params = Params
    needs = ("runs", "llm")

    @classmethod
    def variant(cls, params: dict) -> str:
        """The LLM that judged: runs with different LLMs are different signals."""
        return str(params.get("model") or "")

    @classmethod
    def left_out(cls, params: dict) -> str | None:
        """Never a default ensemble member."""
        return "it already combines its judge with the run it verified"

    def scope(self, ctx: Context, params: Params) -> np.ndarray:
        """The split's examples that the verified run scored."""
        run_id = params.run or _default_run(ctx)
        scored = {r[0] for r in ctx.ws.con.execute("SELECT example_id FROM findings WHERE run_id = ?", [run_id]).fetchall()}
        return ctx.split_mask(params.split) & np.isin(np.asarray(ctx.ids, dtype=object), list(scored))

    def _plan(self, ctx: Context, params: Params) -> tuple[LLM, list[Call], str, dict[str, tuple]]:
        run_id = params.run or _default_run(ctx)
        found = ctx.ws.con.execute(
            "SELECT f.example_id, f.score, f.suggested_label, f.flagged, e.text, e.meta FROM findings f "
            "JOIN examples e ON e.dataset = ? AND e.id = f.example_id WHERE f.run_id = ?",
            [ctx.dataset, run_id]).fetchall()
        if not found:
            raise CurateError(f"run {run_id} has no findings on '{ctx.dataset}'")
        scope = ctx.split_mask(params.split)
        rows = {eid: (score, sugg, flagged, text, json.loads(meta) if meta else {})
                for eid, score, sugg, flagged, text, meta in found if eid in ctx.row_of and scope[ctx.row_of[eid]]}
        if not rows:
            raise CurateError(f"run {run_id} scored no example of split {params.split!r}; pick the run's split "
                              "with -p split=...")
        described = label_descriptions(params.labels)
        llm = LLM(ctx.ws, LLMSettings(**{k: getattr(params, k) for k in LLMSettings.model_fields}))
        calls = []
        for eid in sorted(rows, key=lambda e: (-rows[e][0], e))[: params.top]:
            _, sugg, _, text, meta = rows[eid]
            given = str(ctx.labels[ctx.row_of[eid]])
            options = [given] + ([sugg] if sugg and sugg != given else [])
            messages = verify_messages(ctx.task, prompt_text(ctx.task, text, meta), QUESTIONS[ctx.task],
                                       [(lab, described.get(lab, lab.replace("_", " "))) for lab in options])
            calls.append(Call((eid, given, options), messages, verify_validator(options)))
        return llm, calls, run_id, rows

    def estimate(self, ctx: Context, params: Params) -> dict[str, Any]:
        """What a run would send and cost (nothing is sent)."""
        llm, calls, run_id, _ = self._plan(ctx, params)
        return {"run": run_id, **llm.estimate(calls)}

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        llm, calls, run_id, rows = self._plan(ctx, params)
        llm.check_budget(calls)
        cache = llm.cached(calls)
        if any(c.key(llm.settings) not in cache for c in calls):
            llm.client()  # no endpoint configured: say so and stop before any work
        verdicts: dict[str, tuple[str, str | None]] = {}
        statuses: dict[str, int] = {}
        for out in llm.map(calls, lambda c: llm.one(c, cache), "LLM verification"):
            eid, given, options = out.item
            statuses[out.status] = statuses.get(out.status, 0) + 1
            if out.status in ("ok", "cached"):
                verdict = "none" if out.value is None else "given" if out.value == given else "suggested"
                verdicts[eid] = (verdict, out.value)
        ids = [e for e in ctx.ids if e in rows]
        prior = rank_normalise(np.array([rows[e][0] for e in ids], dtype=float))
        score, suggested, flagged, reasons, evidence = [], [], [], [], []
        for eid, p in zip(ids, prior):
            verdict, answer = verdicts.get(eid, ("unasked", None))
            _, sugg, was_flagged, _, _ = rows[eid]
            score.append(0.5 * p + 0.5 * VERDICT_TERM[verdict])
            suggested.append(answer if verdict == "suggested" else None)
            flagged.append(verdict == "suggested" or (verdict == "none" and bool(was_flagged)))
            reasons.append({"suggested": f"the LLM reads it as {answer}, not as labelled",
                            "given": "the LLM confirms the label", "none": "the LLM finds neither label stated",
                            "unasked": "not verified (below the top, or the reply was refused)"}[verdict])
            evidence.append({"judge": verdict, "prior": round(float(p), 4), "run": run_id}
                            if verdict != "unasked" else None)
        self.report = {**statuses, "verified": len(verdicts), "tokens": llm.tally.tokens, "run": run_id}
        return frame(ctx, np.array([ctx.row_of[e] for e in ids]), np.array(score), suggested, reasons, evidence,
                     np.array(flagged, dtype=bool))


def _default_run(ctx: Context) -> str:
    """The latest ensemble run, else the latest run of any other detector (never a verification run)."""
    row = ctx.ws.one(
        "SELECT run_id FROM runs WHERE dataset = ? AND status = 'done' AND kind != 'llm-verify' "
        "ORDER BY kind = 'ensemble' DESC, finished_at DESC, run_id DESC LIMIT 1", [ctx.dataset])
    if row is None:
        raise CurateError(f"no detector run on '{ctx.dataset}' to verify; run: curate detect {ctx.dataset}")
    return row[0]
