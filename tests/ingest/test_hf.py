"""Hugging Face datasets saved with save_to_disk: Dataset and DatasetDict, ClassLabel names."""

from __future__ import annotations

import datasets
import pytest

from curate.errors import InputError
from curate.ingest import ingest


def test_dataset_dict_keeps_splits_and_label_names(ws, tmp_path):
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["good", "bad", "fine"], "label": [1, 0, 1]}, features=features),
        "test": datasets.Dataset.from_dict({"text": ["meh"], "label": [0]}, features=features),
    })
    dd.save_to_disk(str(tmp_path / "hf"))
    ingest(ws, tmp_path / "hf", "hf", "sst")
    s = ws.stats("sst")
    assert s["splits"] == {"test": 1, "train": 3}
    assert s["labels"]["train"] == {"pos": 2, "neg": 1}
    assert set(ws.examples_frame("sst")["id"]) == {"train-1", "train-2", "train-3", "test-1"}


def test_single_dataset_with_relation_tokens(ws, tmp_path):
    ds = datasets.Dataset.from_dict({
        "id": ["a"], "token": [["Ada", "Lovelace", "was", "born", "in", "London"]],
        "subj_start": [0], "subj_end": [1], "obj_start": [5], "obj_end": [5],
        "subj_type": ["PERSON"], "obj_type": ["CITY"], "relation": ["per:city_of_birth"],
    })
    ds.save_to_disk(str(tmp_path / "rel"))
    ingest(ws, tmp_path / "rel", "hf", "rel", split="train", options={"task": "relation", "label_field": "relation"})
    df = ws.examples_frame("rel")
    assert df["text"][0] == "Ada Lovelace was born in London" and df["label"][0] == "per:city_of_birth"


def test_not_a_saved_dataset(ws, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a dataset saved with save_to_disk"):
        ingest(ws, tmp_path / "empty", "hf", "x")
