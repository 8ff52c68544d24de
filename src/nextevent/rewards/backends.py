"""Where the open-ended reward's sentence embeddings are computed.

Backends (``NEPReward(backend=...)``, `SentenceSimilarity`, or the environment variable
``NEXTEVENT_REWARD_BACKEND`` for the engine-side reward files):

- ``torch``: sentence-transformers on PyTorch, the reference.
- ``onnx``: ONNX Runtime (CPU) on an fp32 ONNX export of the same weights, with the
  encoder's attention, LayerNorm and GELU fused (``onnxruntime.transformers``): the same
  scores as ``torch`` to about 1e-6.
- ``onnx-int8``: that export with its matrix multiplies, the fused attention's QKV
  projection included (``QAttention``), dynamically quantized to int8 (per-channel
  weights): faster again where the CPU has int8 dot products (AVX-512 VNNI / AVX-VNNI),
  scores within a few hundredths of ``torch`` (Pearson about 0.9993 on ActivityNet
  futures). Each text is encoded alone, so its score never depends on the other texts of
  the call (activation scales are per input).
- ``auto`` (the default): ``onnx`` when onnxruntime and onnx are installed and the model
  runs on the CPU, else ``torch``.

sentence-transformers' own ONNX/OpenVINO backends go through ``optimum``, whose current
releases require transformers < 5 (this project runs sentence-transformers 6 on
transformers 5), so the export is done here with ``torch.onnx`` from the shipped weights,
offline, once: it is cached under ``$XDG_CACHE_HOME/nextevent/onnx/<model digest>-<variant>-v<N>/``
(``~/.cache`` without XDG_CACHE_HOME), written to a temporary folder and renamed into
place, so an interrupted export never leaves a model that would be loaded; concurrent
processes wait for one export (a file lock). A cache that cannot be written or read
(`OnnxUnavailable`, naming the folder) makes ``auto`` fall back to ``torch`` with a
warning and an ONNX backend asked for by name stop with that error; a cached file that
no longer loads is exported again, once. The ONNX backends run batches on one
worker thread per usable core (``OMP_NUM_THREADS`` when set, else the CPU affinity), each
ONNX Runtime call single-threaded: on small sentence batches that beats splitting each
matrix multiply across cores, and a core taken by another job stalls no other.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nextevent.records import NextEventError

if TYPE_CHECKING:
    import numpy as np

BACKENDS = ("torch", "onnx", "onnx-int8")
"""Backend names accepted by `resolve_backend` (and ``auto``)."""

BACKEND_ENV = "NEXTEVENT_REWARD_BACKEND"
"""Environment variable read when no backend is passed (engine reward files)."""

EXPORT_VERSION = 2
"""Bumped when the export recipe changes, so older cached exports are not reused (2: the
int8 variant also quantizes the attention's QKV projection)."""

TOKEN_BUDGET = 512
"""Padded tokens per ONNX batch at most (a batch also holds at most ``batch_size`` texts):
on 2 CPU cores 256-512 is fastest; larger batches fall out of cache."""

MODEL_FILE = "model.onnx"
ONNX_HINT = (
    "install the reward extra, pip install 'nextevent[rewards]' (or pip install onnxruntime "
    "onnx), or use backend='torch'"
)
_VARIANTS = {"onnx": "fp32", "onnx-int8": "int8"}
_ENCODERS: dict[tuple[str, str], OnnxEncoder] = {}
_ENCODERS_LOCK = threading.Lock()
_DIGESTS: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}
_log = logging.getLogger(__name__)


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def requested_backend(backend: str | None = None) -> str:
    """The backend name asked for, lower-cased: ``backend``, else
    ``$NEXTEVENT_REWARD_BACKEND``, else ``auto`` (not checked; see `resolve_backend`)."""
    name = backend if backend is not None else os.environ.get(BACKEND_ENV, "")
    return name.strip().lower() or "auto"


class OnnxUnavailable(NextEventError):
    """The ONNX model could not be exported to, or loaded from, its cache (stage
    ``reward``; the message names the folder, the hint what to do); ``auto`` then falls
    back to ``torch``."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__("reward", message, hint)


def resolve_backend(backend: str | None = None, device: str | None = None) -> str:
    """The backend to use: ``backend``, else ``$NEXTEVENT_REWARD_BACKEND``, else ``auto``.

    Args:
        backend: ``torch``, ``onnx``, ``onnx-int8``, ``auto`` or None.
        device: the torch device asked for (the ONNX backends run on the CPU only).

    Returns:
        One of `BACKENDS`; ``auto`` becomes ``onnx`` when onnxruntime and onnx are
        installed and the device is the CPU (None: no CUDA device visible), else ``torch``.

    Raises:
        ValueError: for an unknown name, or an ONNX backend with a non-CPU device.
        ModuleNotFoundError: for an ONNX backend without onnxruntime (says what to install).
    """
    name = requested_backend(backend)
    if name not in (*BACKENDS, "auto"):
        source = "backend" if backend is not None else BACKEND_ENV
        raise ValueError(f"unknown reward backend {name!r} ({source}); use one of "
                         f"{[*BACKENDS, 'auto']}")
    if name == "auto":
        ready = _installed("onnxruntime") and _installed("onnx")
        return "onnx" if ready and _on_cpu(device) else "torch"
    if name != "torch":
        if device not in (None, "cpu"):
            raise ValueError(f"the {name} reward backend runs on the CPU; use backend='torch' "
                             f"for device={device!r}")
        if not _installed("onnxruntime"):
            raise ModuleNotFoundError(f"the {name} reward backend needs onnxruntime; "
                                      f"{ONNX_HINT}")
    return name


def _on_cpu(device: str | None) -> bool:
    if device is not None:
        return device == "cpu"
    import torch

    return not torch.cuda.is_available()


def cpu_threads() -> int:
    """Cores to use: ``OMP_NUM_THREADS`` when it is a positive integer, else the cores this
    process may run on."""
    with contextlib.suppress(ValueError):
        n = int(os.environ.get("OMP_NUM_THREADS", ""))
        if n > 0:
            return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def cache_root() -> Path:
    """Folder of the cached ONNX exports: ``$XDG_CACHE_HOME/nextevent/onnx``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nextevent" / "onnx"


def model_digest(model_path: Path) -> str:
    """SHA-256 (16 hex digits) of every file of a model folder, names and bytes; kept per
    process while no file's size or mtime changes."""
    files = sorted(p for p in model_path.rglob("*") if p.is_file())
    stamp = tuple((str(p.relative_to(model_path)), (s := p.stat()).st_size, s.st_mtime_ns)
                  for p in files)
    key = (str(model_path.resolve()), stamp)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for p in files:
            h.update(str(p.relative_to(model_path)).encode() + b"\0")
            with p.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        _DIGESTS[key] = h.hexdigest()[:16]
    return _DIGESTS[key]


def exported_model(model_path: Path, variant: str = "fp32") -> Path:
    """The cached ONNX file of a sentence-transformers folder, exported first if needed.

    Args:
        model_path: a local sentence-transformers model folder (read only).
        variant: ``fp32`` (fused) or ``int8`` (the fp32 export, dynamically quantized).

    Returns:
        The path of ``model.onnx`` inside ``cache_root()/<digest>-<variant>-v<N>/``, next to
        ``export.json`` (source folder, digest, package versions, seconds taken).

    Raises:
        ModuleNotFoundError: when the export needs onnx (or onnxruntime) and it is missing.
    """
    if variant not in _VARIANTS.values():
        raise ValueError(f"unknown ONNX variant {variant!r}; use one of {list(_VARIANTS.values())}")
    key = f"{model_digest(model_path)}-{variant}-v{EXPORT_VERSION}"
    root = cache_root()
    final = root / key
    if (final / MODEL_FILE).is_file():
        return final / MODEL_FILE
    for module in ("onnx", "onnxruntime"):
        if not _installed(module):
            raise ModuleNotFoundError(f"exporting the reward model to ONNX needs {module}; "
                                      f"{ONNX_HINT}")
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f"{key}.lock"):
        if (final / MODEL_FILE).is_file():  # another process exported it meanwhile
            return final / MODEL_FILE
        _remove_stale(root)
        start = time.perf_counter()
        source = exported_model(model_path, "fp32") if variant == "int8" else None
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
        try:
            if source is None:
                _export_fp32(model_path, tmp / MODEL_FILE)
            else:
                _quantize_int8(source, tmp / MODEL_FILE)
            meta = {"source": str(model_path.resolve()), "digest": key.split("-")[0],
                    "variant": variant, "export_version": EXPORT_VERSION,
                    "seconds": round(time.perf_counter() - start, 1),
                    "versions": _versions()}
            (tmp / "export.json").write_text(json.dumps(meta, indent=1) + "\n")
            if final.exists():  # a folder without its model (removed by hand): replace it
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    _log.info("exported %s to %s in %.1f s", model_path, final, time.perf_counter() - start)
    return final / MODEL_FILE


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ModuleNotFoundError:  # Windows: the atomic rename alone keeps the cache whole
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale(root: Path, age_s: float = 3600.0) -> None:
    """Temporary folders of exports killed midway (older than an hour: a live export
    holds the lock and finishes well within that)."""
    for tmp in root.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if time.time() - tmp.stat().st_mtime > age_s:
                shutil.rmtree(tmp)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime"):
        with contextlib.suppress(PackageNotFoundError):
            out[dist] = version(dist)
    return out


def _export_fp32(model_path: Path, out: Path) -> None:
    """Trace tokens -> unit sentence embedding (the whole sentence-transformers module
    list: encoder, pooling, normalisation) to ONNX, then fuse BERT-family encoders."""
    import torch
    from sentence_transformers import SentenceTransformer

    # eager attention exports as plain MatMul/Softmax, which onnxruntime fuses into Attention
    model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True,
                                model_kwargs={"attn_implementation": "eager"})
    model.eval()

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            return self.st(features)["sentence_embedding"]

    example = model.tokenizer(["a man walks to the door", "he opens it"], padding=True,
                              return_tensors="pt")
    raw = out.with_name("raw.onnx")
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter notices
        torch.onnx.export(
            Graph().eval(), (example["input_ids"], example["attention_mask"]), str(raw),
            input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes,
                          "sentence_embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    config = json.loads((model_path / "config.json").read_text())
    if config.get("model_type") == "bert":
        from onnxruntime.transformers.optimizer import optimize_model

        with _quiet():
            fused = optimize_model(str(raw), model_type="bert",
                                   num_heads=int(config["num_attention_heads"]),
                                   hidden_size=int(config["hidden_size"]), opt_level=1)
            fused.save_model_to_file(str(out))
        raw.unlink()
    else:  # other encoders: onnxruntime's own graph optimisations at load time only
        os.replace(raw, out)


def _quantize_int8(source: Path, out: Path) -> None:
    """Dynamic int8 quantization of the MatMuls and of the fused attention's QKV
    projection (``Attention`` -> ``QAttention``), weights per output channel: 1.3x the
    MatMul-only variant at about the same agreement (BENCHMARKS.md); per-tensor weights
    fall to Pearson 0.996. The softmax and the rest stay fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(source, out, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Attention"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime's optimizer and quantizer log on the root
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


class OnnxEncoder:
    """Unit-norm sentence embeddings from a cached ONNX export, on ONNX Runtime's CPU.

    Texts are tokenized as sentence-transformers does (the folder's tokenizer, truncated
    to its ``max_seq_length``), sorted by length, and cut into batches of at most
    ``batch_size`` texts and `TOKEN_BUDGET` padded tokens (``int8``: one text a batch),
    run on `cpu_threads` worker threads.

    Args:
        model_path: a local sentence-transformers folder.
        variant: ``fp32`` or ``int8`` (see `exported_model`).
        threads: worker threads; None for `cpu_threads`.
    """

    def __init__(self, model_path: Path, variant: str = "fp32",
                 threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(f"the ONNX reward backend needs onnxruntime; "
                                      f"{ONNX_HINT}") from err
        from transformers import AutoTokenizer

        self.model_path, self.variant = model_path, variant
        self.onnx_path = exported_model(model_path, variant)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel across batches instead (see the module doc)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

        def session() -> Any:
            return ort.InferenceSession(str(self.onnx_path), options,
                                        providers=["CPUExecutionProvider"])

        try:
            self.session = session()
        except Exception:  # damaged after it was written (disk fault, edited): export again
            _log.warning("cached ONNX model %s does not load; exporting it again", self.onnx_path)
            shutil.rmtree(self.onnx_path.parent, ignore_errors=True)
            self.onnx_path = exported_model(model_path, variant)
            self.session = session()
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        self.max_seq_length = _max_seq_length(model_path, self.tokenizer)
        self.threads = threads or cpu_threads()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = -1
        self._pool_lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of ``texts``, float32, shape (len(texts), dim), rows of unit norm."""
        import numpy as np

        if not texts:
            return np.zeros((0, 0), np.float32)
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length)[
            "input_ids"
        ]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        batches, i = [], 0
        while i < len(order):
            longest = len(ids[order[i]])
            take = 1 if self.variant == "int8" else max(1, min(batch_size,
                                                              TOKEN_BUDGET // longest))
            batches.append([(k, ids[k]) for k in order[i : i + take]])
            i += take
        parts = list(self._map(batches))
        out = np.empty((len(ids), parts[0][1].shape[1]), np.float32)
        for rows, emb in parts:
            out[rows] = emb
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def _map(self, batches: list[list[tuple[int, list[int]]]]) -> Iterator[tuple[list[int], Any]]:
        if self.threads == 1 or len(batches) == 1:
            return map(self._run, batches)
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():  # first use, or a fork
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="nextevent-onnx")
                self._pool_pid = os.getpid()
            pool = self._pool
        return pool.map(self._run, batches)

    def _run(self, batch: list[tuple[int, list[int]]]) -> tuple[list[int], Any]:
        import numpy as np

        width = len(batch[0][1])
        input_ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for r, (_, row) in enumerate(batch):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        (emb,) = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
        return [k for k, _ in batch], emb


def _max_seq_length(model_path: Path, tokenizer: Any) -> int:
    config = model_path / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return int(min(tokenizer.model_max_length, 512))


def load_onnx_encoder(model_path: Path, backend: str = "onnx") -> OnnxEncoder:
    """The `OnnxEncoder` of ``model_path`` for an ONNX backend name, once per process.

    Raises:
        ModuleNotFoundError: onnxruntime or onnx is not installed.
        OnnxUnavailable: the export could not be written to or read from `cache_root`
            (unwritable or full disk, a cached file damaged after it was written and
            still unreadable once exported again, a failed export).
    """
    variant = _VARIANTS[backend]
    key = (str(model_path.resolve()), variant)
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            try:
                _ENCODERS[key] = OnnxEncoder(model_path, variant)
            except (ModuleNotFoundError, OnnxUnavailable):
                raise
            except Exception as err:  # OSError, onnxruntime's and torch.onnx's own errors
                raise OnnxUnavailable(
                    f"the {backend} reward backend could not export or load its model in "
                    f"{cache_root()}: {type(err).__name__}: {err}",
                    "set XDG_CACHE_HOME to a writable folder with about 100 MB free (the "
                    f"export is cached there), or use backend='torch' ({BACKEND_ENV}=torch)"
                ) from err
        return _ENCODERS[key]
