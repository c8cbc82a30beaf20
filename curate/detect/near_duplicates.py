"""Exact and near duplicates: conflicting labels between copies, and leakage of copies across splits."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
from pydantic import Field

from curate.detect.base import Detector, DetectorParams, frame, register
from curate.detect.context import Context

EVAL_SPLITS = {"test", "dev", "validation", "valid", "val"}


class Params(DetectorParams):
    """near-duplicates parameters."""

    split: str | None = Field(None, description="split to look in (None: all, which is what leakage needs)")
    threshold: float = Field(0.97, ge=0, le=1, description="cosine similarity from which two examples are copies")
    k: int = Field(5, ge=1, description="neighbours checked per example")


@register
class NearDuplicates(Detector):
    name = "near-duplicates"
    description = "exact/near-duplicate examples: copies with conflicting labels and copies leaking across splits"
    Params = Params
    needs = ("embeddings", "knn")

    def run(self, ctx: Context, params: Params) -> pd.DataFrame:
        scope = ctx.split_mask(params.split)
        rows = np.flatnonzero(scope)
        hashes = dict(ctx.ws.con.execute(
            "SELECT id, text_hash FROM current_examples WHERE dataset = ? AND NOT removed", [ctx.dataset]).fetchall())
        groups: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            groups[hashes[ctx.ids[r]]].append(r)
        nb = ctx.neighbours(params.k, scope, scope)
        score = np.zeros(len(rows))
        suggested: list[str | None] = [None] * len(rows)
        flagged = np.zeros(len(rows), dtype=bool)
        reasons, evidence = [], []
        for j, r in enumerate(rows):
            partners = {p: 1.0 for p in groups[hashes[ctx.ids[r]]] if p != r}
            for p, s in zip(nb.indices[j], nb.scores[j]):
                if p >= 0 and s >= params.threshold:
                    partners[p] = max(partners.get(p, 0.0), float(s))
            conflict = {p: s for p, s in partners.items() if ctx.labels[p] != ctx.labels[r]}
            leak = {p: s for p, s in partners.items() if ctx.splits[p] != ctx.splits[r]
                    and {ctx.splits[p], ctx.splits[r]} & EVAL_SPLITS}
            parts = []
            if conflict:
                score[j] = max(conflict.values())
                suggested[j] = Counter(ctx.labels[p] for p in conflict).most_common(1)[0][0]
                parts.append(f"copy labelled {suggested[j]}")
            if leak:
                score[j] = max(score[j], max(leak.values()))
                other = sorted({ctx.splits[p] for p in leak})
                parts.append(f"copy in {', '.join(other)} split")
            if partners and not parts:
                score[j] = 0.5 * max(partners.values())
                parts.append("duplicate with the same label")
            flagged[j] = bool(conflict or leak)
            reasons.append("; ".join(parts) if parts else "no copy found")
            evidence.append({"copies": [{"id": ctx.ids[p], "label": ctx.labels[p], "split": ctx.splits[p],
                                         "similarity": round(s, 4)} for p, s in sorted(partners.items(),
                                                                                       key=lambda kv: -kv[1])[:10]]}
                            if partners else None)
        return frame(ctx, rows, score, suggested, reasons, evidence, flagged)
