"""Token-level NER label issues: cleanlab's token_classification on out-of-fold per-token tag probabilities.

Each word of a sentence gets its contextual encoder vector (the mean of its wordpieces), with its neighbours'
vectors and a few shape features (case, @, #, URL); a logistic regression over IOB2 tags, fitted in folds of
sentences, predicts every word's tags out of fold. cleanlab's find_label_issues marks the suspect tokens and
get_label_quality_scores scores each sentence (its worst token). The suggested tags are the given ones with the
suspect tokens set to the model's tag; comparing the two sets of spans names each error: a wrong type, a wrong
boundary, a missed entity (lower case included: no candidate span is needed) or a spurious one.

Findings are per sentence (curate.sentences): a reviewer accepts the suggested tags (a retag), keeps or removes
the sentence, and the CoNLL and spaCy exports write the result.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import COLUMNS, Detector, DetectorParams, register
from curate.detect.context import Context
from curate.errors import CurateError
from curate.progress import progress
from curate.sentences import Sentence, load_sentences, repair, tags_text
from curate.spans import bio_spans

Q_SENTENCE_STATE = """
    SELECT count(*), coalesce(sum(hash(seq, example_id, action, new_label)), 0) FROM decisions
    WHERE dataset = ? AND example_id IN (SELECT id FROM texts WHERE dataset = ? AND kind = 'sentence')
"""
KINDS = ("type", "boundary", "missed", "spurious")
URL = re.compile(r"^(https?://|www\.)", re.I)


class Params(DetectorParams):
    """token-issues parameters."""

    folds: int = Field(5, ge=2, le=10, description="folds of sentences for the out-of-fold tag probabilities")
    classifier: Literal["linear", "finetune"] = Field(
        "linear", description="linear: a logistic regression on frozen word vectors (fast); finetune: a token-"
        "classification head on the encoder's top layers, fine-tuned per fold (cached per fold, resumable)")
    c: float = Field(1.0, gt=0, description="linear: inverse L2 strength of the per-token logistic regression")
    context: int = Field(1, ge=0, le=3, description="linear: neighbouring words on each side whose vectors join")
    epochs: int = Field(2, ge=1, le=20, description="finetune: epochs per fold")
    lr: float = Field(1e-4, gt=0, description="finetune: learning rate of the trained layers")
    train_layers: int = Field(2, ge=1, description="finetune: top encoder layers trained (the rest run once)")


def shape_features(words: list[str]) -> np.ndarray:
    """Per word: capitalised, all upper, all lower, digit, @mention, #hashtag, URL, first word."""
    rows = [[w[:1].isupper(), w.isupper() and len(w) > 1, w.islower(), any(ch.isdigit() for ch in w),
             w.startswith("@"), w.startswith("#"), bool(URL.match(w)), i == 0] for i, w in enumerate(words)]
    return np.asarray(rows, dtype=np.float32).reshape(len(words), 8)


def word_features(vectors: list[np.ndarray], sentences: list[list[str]], context: int) -> np.ndarray:
    """[word ; neighbours within context ; shape] per word, sentences stacked in order."""
    out = []
    for vec, words in zip(vectors, sentences):
        vec = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        parts = [vec]
        for k in range(1, context + 1):
            pad = np.zeros((k, vec.shape[1]), dtype=np.float32)
            parts.append(np.concatenate([pad, vec[:-k]])[: len(vec)])  # the word k before
            parts.append(np.concatenate([vec[k:], pad])[-len(vec):] if len(vec) else vec)  # the word k after
        parts.append(shape_features(words))
        out.append(np.concatenate(parts, axis=1))
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def sentence_folds(n_sentences: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) sentence indices per fold: a seeded shuffle cut into folds, so no sentence predicts
    itself and long and short sentences spread over the folds."""
    n_folds = min(folds, n_sentences)
    if n_folds < 2:
        raise CurateError("token-issues needs at least two sentences to fit out of fold")
    order = np.random.default_rng(seed).permutation(n_sentences)
    held = [np.sort(part) for part in np.array_split(order, n_folds)]
    return [(np.setdiff1d(order, h), h) for h in held]


def oof_tag_proba(x: np.ndarray, y: np.ndarray, groups: np.ndarray, n_classes: int,
                  folds: list[tuple[np.ndarray, np.ndarray]], c: float) -> np.ndarray:
    """Out-of-fold tag probabilities per word (groups: each word's sentence) from a logistic regression per fold."""
    from sklearn.linear_model import LogisticRegression

    proba = np.zeros((len(y), n_classes))
    with progress("token model", total=len(folds), unit="fold") as bar:
        for train_s, held_s in folds:
            train, test = np.flatnonzero(np.isin(groups, train_s)), np.flatnonzero(np.isin(groups, held_s))
            seen = np.unique(y[train])
            if len(seen) == 1:  # a fold whose training sentences carry one tag only (tiny data): it predicts that
                proba[test, seen[0]] = 1.0
            else:
                clf = LogisticRegression(C=c, max_iter=300, tol=1e-3)
                clf.fit(x[train], y[train])
                proba[np.ix_(test, clf.classes_)] = clf.predict_proba(x[test])
            bar.update(1)
    return proba


def compare_spans(given: list[str], suggested: list[str]) -> list[dict[str, Any]]:
    """The errors that turn the given tags into the suggested ones: wrong type, boundary, missed, spurious."""
    g_spans, s_spans = bio_spans(given), bio_spans(suggested)

    def overlaps(a, b) -> bool:
        return a[0] <= b[1] and b[0] <= a[1]

    errors = []
    for g in g_spans:
        same = [s for s in s_spans if overlaps(g, s)]
        if not same:
            errors.append({"kind": "spurious", "given": g, "suggested": None})
        for s in same:
            if (s[0], s[1]) != (g[0], g[1]):
                errors.append({"kind": "boundary", "given": g, "suggested": s})
            elif s[2] != g[2]:
                errors.append({"kind": "type", "given": g, "suggested": s})
    for s in s_spans:
        if not any(overlaps(g, s) for g in g_spans):
            errors.append({"kind": "missed", "given": None, "suggested": s})
    return errors


def _words(tokens: list[str], span) -> str:
    return " ".join(tokens[span[0] : span[1] + 1])


def explain(tokens: list[str], error: dict[str, Any]) -> str:
    """One error in words a reviewer reads: what is tagged, and what the model reads there."""
    g, s = error["given"], error["suggested"]
    if error["kind"] == "missed":
        case = " (lower case)" if _words(tokens, s).islower() else ""
        return f"'{_words(tokens, s)}' untagged{case}: the model reads it as {s[2]}"
    if error["kind"] == "spurious":
        return f"'{_words(tokens, g)}' tagged {g[2]}: the model reads no entity there"
    if error["kind"] == "type":
        return f"'{_words(tokens, g)}' tagged {g[2]}: the model reads it as {s[2]}"
    return f"'{_words(tokens, g)}' tagged {g[2]}: the model reads '{_words(tokens, s)}' as {s[2]}"


@register
class TokenIssues(Detector):
    name = "token-issues"
    description = ("token-level NER label issues per sentence (cleanlab token_classification on out-of-fold tag "
                   "probabilities): wrong types, boundaries, missed (also lower-case) and spurious entities")
    Params = Params
    tasks = ("span",)
    needs = ("encoder",)
    units = "sentences"
    default_order = 80

    @classmethod
    def variant(cls, params: dict[str, Any]) -> str:
        """'finetune' for the fine-tuned tagger, '' for the linear one."""
        return "finetune" if params.get("classifier") == "finetune" else ""

    @classmethod
    def left_out(cls, params: dict) -> str | None:
        """Never an ensemble member: it scores sentences, the other span detectors score spans."""
        return "it scores sentences, not span examples"

    def state(self, ws: Any, dataset: str, params: Params) -> dict[str, Any]:
        """Retags and sentence removals change the tags it reads (span decisions are in the data state)."""
        return {"sentence_decisions": list(ws.one(Q_SENTENCE_STATE, [dataset, dataset]))}

    def scope_units(self, ctx: Context, params: Params) -> list[str]:
        """The sentences of the split (not removed): the ids its findings may carry."""
        return [s.id for s in self._sentences(ctx, params)]

    def _sentences(self, ctx: Context, params: Params) -> list[Sentence]:
        found = load_sentences(ctx.ws, ctx.dataset)
        if not found:
            raise CurateError(f"'{ctx.dataset}' stores no sentences: token-issues needs span data ingested from "
                              "CoNLL columns or a spaCy DocBin")
        return [s for s in found.values() if not s.removed and s.tokens
                and (params.split is None or s.split == params.split)]

    def tag_probabilities(self, ctx: Context, params: Params) -> tuple[list[Sentence], list[str], list[np.ndarray],
                                                                      list[np.ndarray]]:
        """The sentences in scope, the tag classes, and per sentence its given tags (class indices) and its
        out-of-fold tag probabilities [words, classes]: what cleanlab's token_classification takes."""
        from curate.encode import TorchEncoder, encode_words, load_model, resolve_model

        sents = self._sentences(ctx, params)
        classes = sorted({t for s in sents for t in s.tags})
        if len(classes) < 2:
            raise CurateError("token-issues needs tagged entities: every token of the split is O")
        index = {t: i for i, t in enumerate(classes)}
        words = [s.tokens for s in sents]
        spec = resolve_model(ctx.model)
        y = np.asarray([index[t] for s in sents for t in s.tags])
        bounds = np.cumsum([0] + [len(w) for w in words])
        labels = [y[bounds[i] : bounds[i + 1]] for i in range(len(sents))]
        folds = sentence_folds(len(sents), params.folds, ctx.seed)
        if params.classifier == "finetune":
            from curate.finetune import TuneParams
            from curate.finetune_tokens import tuned_tag_proba

            tune = TuneParams(epochs=params.epochs, lr=params.lr, train_layers=params.train_layers, balanced=False,
                              seed=ctx.seed)
            probs = tuned_tag_proba(ctx.ws, ctx.dataset, [s.id for s in sents], words, labels, classes, folds,
                                    spec.source, ctx.model_key, tune)
            return sents, classes, labels, probs
        encoder = TorchEncoder(load_model(spec.source))
        x = word_features(encode_words(encoder, words), words, params.context)
        groups = np.repeat(np.arange(len(sents)), [len(w) for w in words])
        proba = oof_tag_proba(x, y, groups, len(classes), folds, params.c)
        probs = [proba[bounds[i] : bounds[i + 1]] for i in range(len(sents))]
        return sents, classes, labels, probs

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        from cleanlab.token_classification.filter import find_label_issues
        from cleanlab.token_classification.rank import get_label_quality_scores

        sents, classes, labels, probs = self.tag_probabilities(ctx, params)
        issues = find_label_issues(labels, probs)
        sentence_scores, token_scores = get_label_quality_scores(labels, probs)
        by_sentence: dict[int, list[int]] = {}
        for i, j in issues:
            by_sentence.setdefault(int(i), []).append(int(j))
        rows = []
        kinds = dict.fromkeys(KINDS, 0)
        for i, sent in enumerate(sents):
            suspect = sorted(by_sentence.get(i, []))
            best = probs[i].argmax(axis=1)
            suggested = list(sent.tags)
            for j in suspect:
                suggested[j] = classes[best[j]]
            suggested = repair(suggested)
            errors = compare_spans(sent.tags, suggested) if suspect else []
            for e in errors:
                kinds[e["kind"]] += 1
            tok_q = np.asarray(token_scores[i], dtype=float)
            evidence = {
                "tokens": sent.tokens, "given": sent.tags, "suggested": suggested, "issues": suspect,
                "token_quality": [round(float(tok_q[j]), 4) for j in suspect],
                "model_tags": [classes[b] for b in best],
                "errors": [{"kind": e["kind"], "given": list(e["given"]) if e["given"] else None,
                            "suggested": list(e["suggested"]) if e["suggested"] else None} for e in errors],
            }
            if errors:
                reason = "; ".join(explain(sent.tokens, e) for e in errors[:3])
            elif suspect:
                reason = "tokens the model tags otherwise: " + ", ".join(
                    f"'{sent.tokens[j]}' {sent.tags[j]} (model: {classes[best[j]]})" for j in suspect[:3])
            else:
                worst = int(tok_q.argmin())
                reason = f"least certain token: '{sent.tokens[worst]}' {sent.tags[worst]} ({tok_q[worst]:.2f})"
            rows.append((sent.id, 1.0 - float(sentence_scores[i]),
                         tags_text(suggested) if suggested != sent.tags else None, reason, evidence, bool(suspect)))
        self.report = {"sentences": len(sents), "tokens": int(sum(map(len, labels))), "tags": len(classes),
                       "token_issues": len(issues), **{f"errors_{k}": v for k, v in kinds.items()}}
        return pd.DataFrame(rows, columns=COLUMNS)

