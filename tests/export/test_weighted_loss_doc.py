"""The weighted-loss snippet in docs/export.md runs on a real weighted export with the packaged model."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def snippet() -> str:
    text = (ROOT / "docs" / "export.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)[0]


def test_documented_loss_reads_the_weights_and_trains(snippet, ret_runs, tmp_path, model, monkeypatch):
    import torch

    from curate.export import export

    ws, _, _ = ret_runs
    export(ws, "ret", tmp_path / "exports" / "weighted", variant="weighted", fmt="triplets",
           options={"max_negatives": 3})
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(snippet, "docs/export.md", "exec"), scope)  # noqa: S102 - our own documentation
    ds = scope["ds"]
    assert ds.num_rows > 0 and ds.column_names[-1] == "label" and len(ds[0]["label"]) == 3
    loss_fn = scope["WeightedInfoNCE"](model)
    batch = ds.select(range(min(8, ds.num_rows)))
    features = [model.tokenize(batch[c]) for c in batch.column_names[:-1]]
    weights = torch.tensor(batch["label"])
    loss = loss_fn(features, weights)
    assert torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    # A negative that weighs 0 leaves the denominator: the loss can only go down.
    with torch.no_grad():
        lighter = loss_fn(features, torch.zeros_like(weights))
    assert lighter.item() < loss.item()
