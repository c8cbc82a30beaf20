"""Embedding backends: sentence-transformers on torch (fp32, or fp16 for GPUs), or the same weights exported once to
ONNX and run by onnxruntime (fp32, or int8 feed-forward weights), with an export cache and a quality guard against
torch fp32.

The ONNX graph outputs token states, not sentence vectors, so the relation and span vectors (pooled over entity
wordpieces) are built the same way in every backend; sentence pooling and normalisation follow the model's own
sentence-transformers modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.encode import BATCH_SIZE, TorchEncoder
from curate.errors import CurateError
from curate.hashing import file_hash

BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "torch-fp16")
# When a dataset has complete vectors from several backends, readers take the first of these.
STORED_ORDER = ("torch", "onnx", "onnx-int8", "torch-fp16")
EXPORT_VERSION = 1  # bump when the export recipe changes, so old exports are rebuilt
OPSET = 17
GUARD_SAMPLE = 256
GUARD_K = 10
GUARD_MIN_OVERLAP = 0.95
# fp32 must reproduce torch; half precision nearly (README.md, backends); int8 is judged by its neighbours only.
GUARD_MIN_COSINE = {"onnx": 0.9999, "torch-fp16": 0.999}


@dataclass
class Opened:
    """An encoder ready to use (curate.encode.Encoder), the backend it runs, and what happened on the way."""

    encoder: object
    backend: str
    notes: list[str] = field(default_factory=list)


def onnx_missing() -> str | None:
    """Why the ONNX backends cannot run here (a package to install), or None."""
    for module in ("onnxruntime", "onnx"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'curate[onnx]')"
    return None


def export_root() -> Path:
    """Where exported models live: $CURATE_ONNX_CACHE, else the user's cache folder."""
    if os.environ.get("CURATE_ONNX_CACHE"):
        return Path(os.environ["CURATE_ONNX_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "curate" / "onnx"


def export_key(source: str, variant: str) -> str:
    """Export cache key: the model folder's files (path, size, mtime), torch version, opset and variant."""
    import torch

    h = hashlib.sha256(json.dumps([EXPORT_VERSION, OPSET, variant, torch.__version__]).encode())
    root = Path(source)
    for p in sorted(root.rglob("*")) if root.is_dir() else []:
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    if not root.is_dir():
        h.update(source.encode())
    return h.hexdigest()[:16]


def _pooling(st) -> tuple[str, bool]:
    """The model's sentence pooling mode and whether it normalises, read from its modules."""
    mode, normalise = None, False
    for module in st:
        kind = type(module).__name__
        if kind == "Pooling":
            mode = module.pooling_mode if isinstance(module.pooling_mode, str) else "+".join(module.pooling_mode)
        elif kind == "Normalize":
            normalise = True
        elif kind not in ("Transformer",):
            raise CurateError(f"the ONNX backend supports Transformer, Pooling and Normalize modules; this model "
                              f"has {kind}: use --backend torch")
    if mode not in ("mean", "cls", "max"):
        raise CurateError(f"the ONNX backend supports mean, cls and max pooling, not {mode!r}: use --backend torch")
    return mode, normalise


def _int8_nodes(model) -> list[str]:
    """Names of the MatMul nodes to quantise: the feed-forward up-projections (intermediate dense) only, the
    choice that kept the most neighbours for its speed-up (README.md, backends)."""
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and "/intermediate/" in n.name]


def _export(st, folder: Path, variant: str) -> float:
    """Export the model's transformer to folder/model.onnx (token states out); int8 quantises the feed-forward
    up-projection weights per channel. Returns seconds taken. Written to a temporary name first: a crash leaves no half file."""
    import onnx
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    auto = st[0].auto_model
    names = [n for n in st.tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]

    class TokenStates(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *inputs):
            return self.m(**dict(zip(names, inputs))).last_hidden_state

    sample = st.tokenizer(["an example sentence", "a second, longer example sentence"], padding=True,
                          return_tensors="pt")
    tmp = folder / "export.tmp.onnx"
    attn = auto.config._attn_implementation
    auto.config._attn_implementation = "eager"  # the TorchScript exporter traces eager attention cleanly
    try:
        # The tracer warns about shape branches in transformers' mask code that are constant for an encoder (the
        # key length is the mask length); the graph is checked against torch by the guard and in the tests.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(TokenStates(auto).eval(), tuple(sample[n] for n in names), str(tmp),
                              input_names=names, output_names=["token_states"], opset_version=OPSET,
                              dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "token_states"]},
                              dynamo=False)
    finally:
        auto.config._attn_implementation = attn
    if variant == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q = folder / "export.int8.tmp.onnx"
        quantize_dynamic(tmp, q, per_channel=True, weight_type=QuantType.QInt8,
                         nodes_to_quantize=_int8_nodes(onnx.load(str(tmp))))
        tmp.unlink()
        tmp = q
    tmp.replace(folder / "model.onnx")
    return time.perf_counter() - started


class OnnxEncoder:
    """A sentence-transformers model's transformer run by onnxruntime, with the model's pooling: encode() and
    token_states() mirror what curate reads from the torch model."""

    def __init__(self, st, path: Path, variant: str):
        import onnxruntime as ort

        self.variant = variant
        self.path = path
        self.tokenizer = st.tokenizer
        self.max_seq_length = st.max_seq_length
        self._dim = st.get_embedding_dimension()
        self._pool, self._normalise = _pooling(st)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self._inputs = [i.name for i in self.session.get_inputs()]

    def get_embedding_dimension(self) -> int:
        """Width of the sentence vector."""
        return self._dim

    def token_states(self, texts: list[str], offsets: bool = False):
        """(token states [batch, tokens, dim], pooled sentence vectors, char offsets or None) from one
        tokenisation of the batch."""
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length,
                             return_tensors="np", return_offsets_mapping=offsets)
        tokens = self.session.run(None, {n: enc[n].astype(np.int64) for n in self._inputs})[0]
        mask = enc["attention_mask"].astype(np.float32)[..., None]
        if self._pool == "mean":
            sent = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        elif self._pool == "cls":
            sent = tokens[:, 0]
        else:
            sent = np.where(mask > 0, tokens, -1e9).max(axis=1)
        if self._normalise:
            sent = sent / np.maximum(np.linalg.norm(sent, axis=1, keepdims=True), 1e-12)
        return tokens, sent.astype(np.float32), (enc["offset_mapping"].tolist() if offsets else None)

    def encode(self, texts: list[str], batch_size: int = BATCH_SIZE, normalize_embeddings: bool = True,
               show_progress_bar: bool = False) -> np.ndarray:
        """Sentence vectors in input order; batches of similar length, as sentence-transformers does."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self.token_states([texts[i] for i in idx])[1]
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def open_onnx(st, source: str, variant: str) -> tuple[OnnxEncoder, list[str]]:
    """The ONNX encoder for a model, exported on first use and re-used after; a corrupt or stale export is
    rebuilt. Returns the encoder and notes for the user."""
    folder = export_root() / f"{Path(source).name}-{export_key(source, variant)}-{variant}"
    meta_path, model_path = folder / "meta.json", folder / "model.onnx"
    notes = []
    meta = None
    if meta_path.exists() and model_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("sha256") != file_hash(model_path):
                notes.append(f"{variant}: the exported model in {folder} does not match its checksum; rebuilding")
                meta = None
        except (OSError, ValueError):
            notes.append(f"{variant}: unreadable export metadata in {folder}; rebuilding")
            meta = None
    elif folder.exists():
        notes.append(f"{variant}: incomplete export in {folder}; rebuilding")
    if meta is not None:
        try:
            return OnnxEncoder(st, model_path, variant), notes
        except Exception as exc:  # onnxruntime raises its own exception types for a damaged graph
            notes.append(f"{variant}: onnxruntime cannot load {model_path} ({str(exc).splitlines()[0][:120]}); "
                         f"rebuilding")
    shutil.rmtree(folder, ignore_errors=True)
    seconds = _export(st, folder, variant)
    meta = {"variant": variant, "source": source, "sha256": file_hash(model_path), "export_seconds": round(seconds, 2),
            "opset": OPSET, "version": EXPORT_VERSION}
    meta_path.write_text(json.dumps(meta, indent=2))
    notes.append(f"{variant}: exported the model once in {seconds:.1f}s to {folder}")
    return OnnxEncoder(st, model_path, variant), notes


def compare(reference: np.ndarray, other: np.ndarray, k: int = GUARD_K) -> dict:
    """Min cosine between matching rows and the share of each row's k nearest neighbours (by the reference)
    that the other vectors keep."""
    cos = float((reference * other).sum(axis=1).min()) if len(reference) else 1.0
    k = min(k, len(reference) - 1)
    if k < 1:
        return {"min_cosine": round(cos, 6), "knn_overlap": 1.0, "n": len(reference)}
    keep = []
    for vecs in (reference, other):
        sims = vecs @ vecs.T
        np.fill_diagonal(sims, -np.inf)
        keep.append(np.argsort(-sims, axis=1, kind="stable")[:, :k])
    overlap = np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(*keep)])
    return {"min_cosine": round(cos, 6), "knn_overlap": round(float(overlap), 4), "n": len(reference)}


def guard(st, encoder, texts: list[str], variant: str) -> dict:
    """Compare a backend with torch fp32 on a sample of the user's texts (min cosine, share of nearest neighbours
    kept) and say whether it passes."""
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in sorted(rng.choice(len(texts), min(GUARD_SAMPLE, len(texts)), replace=False))]

    def vectors(model) -> np.ndarray:
        return np.asarray(model.encode(sample, batch_size=BATCH_SIZE, normalize_embeddings=True,
                                       show_progress_bar=False), dtype=np.float32)

    got = compare(vectors(st), vectors(encoder))
    got["passed"] = bool(got["knn_overlap"] >= GUARD_MIN_OVERLAP
                         and got["min_cosine"] >= GUARD_MIN_COSINE.get(variant, -1.0))
    return got


def _verdict(backend: str, got: dict, force: bool) -> str:
    """The guard's note for the user; raises when the backend fails it and force is not given."""
    note = (f"{backend} against torch on {got['n']} of your texts: min cosine {got['min_cosine']:.6f}, "
            f"{got['knn_overlap']:.0%} of the {GUARD_K} nearest neighbours kept")
    if got["passed"]:
        return note
    if not force:
        floor = GUARD_MIN_COSINE.get(backend)
        raise CurateError(
            f"{note}: below the guard (at least {GUARD_MIN_OVERLAP:.0%} of neighbours kept"
            + (f", min cosine {floor}" if floor else "")
            + "), so its vectors would change what the detectors find; use --backend torch or onnx, "
            "or --force to use it anyway")
    return note + " (below the guard; used because of --force)"


def open_fp16(st, texts: list[str], *, force: bool = False) -> Opened:
    """torch in half precision (meant for GPUs), on a copy of the model: the cached fp32 one stays as it is.
    Guarded against fp32 on the user's texts each time (there is no export to keep a verdict with)."""
    import copy

    half = copy.deepcopy(st).half()
    notes = [] if st.device.type == "cuda" else ["torch-fp16 on a CPU is slower than fp32: it is meant for GPUs"]
    if texts:
        notes.append(_verdict("torch-fp16", guard(st, half, texts, "torch-fp16"), force))
    return Opened(TorchEncoder(half), "torch-fp16", notes)


def open_backend(st, source: str, backend: str, texts: list[str], *, force: bool = False) -> Opened:
    """An explicit backend, guarded: the first time a model runs on an ONNX variant it is compared with torch on
    the user's texts (the verdict is kept with the export); a lossy one is refused unless force."""
    if backend == "torch":
        return Opened(TorchEncoder(st), "torch")
    if backend == "torch-fp16":
        return open_fp16(st, texts, force=force)
    if backend not in BACKENDS[1:]:
        raise CurateError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    reason = onnx_missing()
    if reason:
        raise CurateError(f"backend {backend}: {reason}")
    encoder, notes = open_onnx(st, source, backend)
    meta_path = encoder.path.parent / "meta.json"
    meta = json.loads(meta_path.read_text())
    if "guard" not in meta and texts:
        meta["guard"] = guard(st, encoder, texts, backend)
        meta_path.write_text(json.dumps(meta, indent=2))
    got = meta.get("guard")
    if got:
        notes.append(_verdict(backend, got, force))
    return Opened(encoder, backend, notes)


def open_auto(st, source: str, texts: list[str]) -> Opened:
    """auto: torch fp16 on a GPU (fp32 when half precision fails the guard); else onnx fp32 when onnxruntime is
    installed and the export passes the guard; else torch. The notes say which and why."""
    if st.device.type == "cuda":
        try:
            opened = open_fp16(st, texts)
        except CurateError as exc:
            return Opened(TorchEncoder(st), "torch",
                          [f"backend auto: torch fp32 on CUDA, because {str(exc).splitlines()[0]}"])
        opened.notes.insert(0, "backend auto: torch-fp16 (CUDA is available)")
        return opened
    reason = onnx_missing()
    if reason:
        return Opened(TorchEncoder(st), "torch", [f"backend auto: torch, because {reason}"])
    try:
        opened = open_backend(st, source, "onnx", texts)
    except Exception as exc:  # any export or runtime failure: torch still works
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Opened(TorchEncoder(st), "torch", [f"backend auto: torch, because the ONNX backend failed: {first}"])
    opened.notes.insert(0, "backend auto: onnx (fp32, onnxruntime)")
    return opened
