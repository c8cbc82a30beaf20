"""Embedding backends: sentence-transformers on torch (fp32, or fp16 for GPUs), or the same weights exported once to
ONNX and run by onnxruntime (fp32, or int8 feed-forward weights), with an export cache and a quality guard against
torch fp32.

The ONNX graph outputs token states, not sentence vectors, so the relation and span vectors (pooled over entity
wordpieces) are built the same way in every backend; sentence pooling and normalisation follow the model's own
sentence-transformers modules.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.encode import BATCH_SIZE, TorchEncoder, load_model
from curate.errors import CurateError
from curate.hashing import file_hash
from curate.onnx_encoder import ModelLayout, OnnxEncoder

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
    import importlib.util

    for module in ("onnxruntime", "onnx"):  # looked up, not imported: onnx alone takes a while to import
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'curate[onnx]')"
    return None


def export_root() -> Path:
    """Where exported models live: $CURATE_ONNX_CACHE, else the user's cache folder."""
    if os.environ.get("CURATE_ONNX_CACHE"):
        return Path(os.environ["CURATE_ONNX_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "curate" / "onnx"


def export_key(source: str, variant: str) -> str:
    """Export cache key: the model folder's files (path, size, mtime), torch version, opset and variant."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")  # read from the installed metadata: no torch import to open an export
    except PackageNotFoundError:
        torch_version = "none"
    h = hashlib.sha256(json.dumps([EXPORT_VERSION, OPSET, variant, torch_version]).encode())
    root = Path(source)
    for p in sorted(root.rglob("*")) if root.is_dir() else []:
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    if not root.is_dir():
        h.update(source.encode())
    return h.hexdigest()[:16]


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


def _intact(folder: Path, variant: str) -> tuple[dict | None, list[str]]:
    """An export folder's metadata when the export in it is complete and matches its checksum; notes say why not."""
    meta_path, model_path = folder / "meta.json", folder / "model.onnx"
    if meta_path.exists() and model_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None, [f"{variant}: unreadable export metadata in {folder}; rebuilding"]
        if meta.get("sha256") != file_hash(model_path):
            return None, [f"{variant}: the exported model in {folder} does not match its checksum; rebuilding"]
        return meta, []
    return None, ([f"{variant}: incomplete export in {folder}; rebuilding"] if folder.exists() else [])


def export_folder(source: str, variant: str) -> Path:
    """Where a model's export of a variant lives."""
    return export_root() / f"{Path(source).name}-{export_key(source, variant)}-{variant}"


def _layout(source: str, st) -> ModelLayout:
    return ModelLayout.read(source) or ModelLayout.of_model(st)


def open_onnx(st, source: str, variant: str) -> tuple[OnnxEncoder, list[str]]:
    """The ONNX encoder for a model, exported on first use and re-used after; a corrupt or stale export is
    rebuilt. Returns the encoder and notes for the user."""
    folder = export_folder(source, variant)
    model_path = folder / "model.onnx"
    meta, notes = _intact(folder, variant)
    if meta is not None:
        try:
            return OnnxEncoder(source, model_path, variant, _layout(source, st), st), notes
        except CurateError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for a damaged graph
            notes.append(f"{variant}: onnxruntime cannot load {model_path} ({str(exc).splitlines()[0][:120]}); "
                         f"rebuilding")
    shutil.rmtree(folder, ignore_errors=True)
    seconds = _export(st, folder, variant)
    meta = {"variant": variant, "source": source, "sha256": file_hash(model_path), "export_seconds": round(seconds, 2),
            "opset": OPSET, "version": EXPORT_VERSION}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    notes.append(f"{variant}: exported the model once in {seconds:.1f}s to {folder}")
    return OnnxEncoder(source, model_path, variant, _layout(source, st), st), notes


def cached_onnx(source: str, variant: str) -> tuple[OnnxEncoder, dict] | None:
    """A model's intact export of a variant that already carries its guard verdict, opened without loading torch
    or sentence-transformers (None when the model has to be loaded: no export yet, no verdict, or a model folder
    curate cannot read as files)."""
    folder = export_folder(source, variant)
    meta, _ = _intact(folder, variant)
    layout = ModelLayout.read(source)
    if meta is None or "guard" not in meta or layout is None or not (Path(source) / "tokenizer.json").is_file():
        return None
    try:
        return OnnxEncoder(source, folder / "model.onnx", variant, layout), meta
    except Exception:  # a damaged graph: the full path rebuilds it with a message
        return None


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


def cuda_possible() -> bool:
    """Whether a CUDA device may be here, answered without importing torch where the system can tell (no NVIDIA
    device files on Linux, never on macOS)."""
    if sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*"):
        return False
    if sys.platform == "darwin":
        return False
    import torch

    return torch.cuda.is_available()


def open_encoder(source: str, backend: str, texts: list[str], *, force: bool = False,
                 device: str | None = None) -> Opened:
    """The encoder for a backend ('auto' decides as open_auto does), loading torch and the sentence-transformers
    model only when something needs them: a torch backend, a GPU, an export not made yet or not yet guarded.
    An ONNX export that passed its guard opens from its folder alone (seconds saved on every embed)."""
    if backend not in BACKENDS:
        raise CurateError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    gpu = device == "cuda" or (device is None and cuda_possible())
    if backend in ("onnx", "onnx-int8") or (backend == "auto" and not gpu and onnx_missing() is None):
        variant = "onnx" if backend == "auto" else backend
        if onnx_missing() is None:
            found = cached_onnx(source, variant)
            if found is not None and (found[1]["guard"]["passed"] or force):
                encoder, meta = found
                notes = ["backend auto: onnx (fp32, onnxruntime)"] if backend == "auto" else []
                return Opened(encoder, variant, [*notes, _verdict(variant, meta["guard"], force)])
    st = load_model(source, device or ("cuda" if gpu else "cpu"))
    return open_auto(st, source, texts) if backend == "auto" else open_backend(st, source, backend, texts, force=force)
