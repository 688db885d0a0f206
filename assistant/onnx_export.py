"""ONNX files for the embedder: export to fp32, int8 quantisation, a verified on-disk cache, and the runner.

The exports live in ``<model_cache>/onnx/<model name>-<fingerprint>/`` next to a JSON sidecar holding each
file's sha256, so a truncated or damaged file is rebuilt instead of loaded. :class:`_OnnxRunner` (an
onnxruntime session plus the model's tokenizer) both serves the ``onnx`` backends and checks each fresh
export against the torch vectors before it is published. torch, onnx and onnxruntime are imported inside
functions: importing this module loads nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.config import ENV_PREFIX
from assistant.errors import RuntimeFailure, UserError
from assistant.model_source import _load_sentence_transformer, _ModelSource

# Named for the embedder, not __name__: the cache's "built ..." and "not usable ..." records kept the logger
# they had before this module was split out, so logging configured for assistant.embeddings still sees them.
logger = logging.getLogger("assistant.embeddings")

#: Bump when the export or quantisation recipe changes: older cached files are then rebuilt.
EXPORT_RECIPE = 1
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUT = "sentence_embedding"
_BACKEND_HINT = f"set {ENV_PREFIX}EMBEDDING_BACKEND=torch to run the model without ONNX"
# Texts of several lengths (one past 256 tokens) so the export check sees padding and truncation.
_CHECK_TEXTS = (
    "NLP engineer 自然语言处理工程师 | Baidu 百度 | Beijing 北京 | 15k-30k CNY/month | skills: Python, NLP",
    "Data analyst",
    "Backend developer, Java and Go, distributed systems, Shenzhen. " * 30,
)

Vectors = npt.NDArray[np.float32]


def _unit_rows(vectors: npt.ArrayLike) -> Vectors:
    """Each row scaled to length 1: the embedder's output, and what the export check compares."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, np.float32(1e-12))


# --- running the files ----------------------------------------------------------------------------------


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


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use, not the host's
    except AttributeError:
        return os.cpu_count() or 1


# --- building and caching the files ------------------------------------------------------------------


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
                f"exporting {source.path} to ONNX failed ({type(exc).__name__}: {exc}). Hint: {_BACKEND_HINT}."
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
