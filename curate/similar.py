"""Find similar: the nearest neighbours of one example in its dataset's cached embedding space."""

from __future__ import annotations

from typing import Any

from curate.embed import load_vectors
from curate.errors import CurateError
from curate.index import knn
from curate.store import Workspace


def similar(ws: Workspace, dataset: str, example_id: str, k: int = 5, *, model: str | None = None) -> dict[str, Any]:
    """The example's label and its k nearest neighbours (id, label, split, similarity, text), best first."""
    vecs = load_vectors(ws, dataset, model=model)
    try:
        row = vecs.ids.index(example_id)
    except ValueError:
        raise CurateError(f"dataset '{dataset}' has no example '{example_id}'") from None
    nb = knn(vecs.matrix, k + 1, vecs.matrix[row : row + 1], exclude_self=False)
    picked = [(int(i), float(s)) for i, s in zip(nb.indices[0], nb.scores[0]) if i >= 0 and i != row][:k]
    wanted = [vecs.ids[i] for i, _ in picked] + [example_id]
    texts = dict(ws.con.execute(
        "SELECT id, text FROM examples WHERE dataset = ? AND id IN (SELECT unnest(?::VARCHAR[]))", [dataset, wanted]).fetchall())
    hits = [{"id": vecs.ids[i], "label": vecs.labels[i], "split": vecs.splits[i], "similarity": round(s, 4),
             "text": texts.get(vecs.ids[i], "")} for i, s in picked]
    return {"id": example_id, "label": vecs.labels[row], "text": texts.get(example_id, ""), "neighbours": hits}
