"""The on-disk store: generations, the writer lock, the manifest, and Chroma (the only module importing it).

Layout of a store folder::

    CURRENT          name of the live generation (replaced atomically)
    gen-000007/      manifest.json · chroma/ (PersistentClient) · postings.duckdb
    .lock            held (flock) by the one writer, with its PID
    .staging-*/      a run in progress; never read; left-overs of killed runs are removed

A writer copies the live generation into a staging folder, changes the copy, and only then points
CURRENT at it. A run that fails or is killed at any moment leaves CURRENT, and so the store, as it was.
Chroma gives no protection against two writers (its index silently degrades), hence the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function

from assistant.config import Settings
from assistant.errors import (
    RuntimeFailure,
    StoreLockedError,
    StoreMismatchError,
    StoreMissingError,
    UserError,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: one posting vector per (board, embedded text), mapped in `posting_vectors`
POSTINGS = "postings"
ARTICLES = "article_chunks"
_GEN_PREFIX = "gen-"
_STAGING_PREFIX = ".staging-"


# -- the embedding function Chroma keeps in each collection's config -----------------------------


@register_embedding_function
class ProjectEmbeddingFunction(EmbeddingFunction[Documents]):
    """The project's own embedder, so Chroma never reaches for its default (downloading) model.

    Its config (stored in each collection) names the model by setting, never by an absolute path of the
    environment: a venv that moves keeps working.
    """

    def __init__(self, backend: str = "onnx-int8", model: str | None = None, model_name: str | None = None) -> None:
        self.backend = backend
        self.model = model
        self.model_name = model_name

    def _embedder(self) -> Any:
        from assistant.embeddings import get_embedder

        return get_embedder(
            Settings.from_env(
                embedding_backend=self.backend,
                embedding_model=Path(self.model) if self.model else None,
                embedding_model_name=self.model_name,
            )
        )

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder().embed_documents(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return [self._embedder().embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "career_assistant"

    def get_config(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "model_name": self.model_name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ProjectEmbeddingFunction:
        return ProjectEmbeddingFunction(
            backend=config.get("backend", "onnx-int8"), model=config.get("model"), model_name=config.get("model_name")
        )

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


# -- paths, generations, lock -----------------------------------------------------------------------


def current_generation(root: Path) -> Path | None:
    """The live generation folder, or None when the store has never been built."""
    pointer = root / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    gen = root / name
    if not name.startswith(_GEN_PREFIX) or not (gen / "manifest.json").is_file():
        raise RuntimeFailure(f"store {root} is damaged: CURRENT names {name!r}, which is not a complete generation")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        return json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RuntimeFailure(f"store manifest {gen / 'manifest.json'} cannot be read: {exc}") from exc


def check_compatible(manifest: dict[str, Any], model_id: str, root: Path, model_version: str | None = None) -> None:
    """Refuse a store built with another embedding model (or version of it) or schema, naming both and the fix.

    A manifest from before versions were recorded is checked on the model id alone.
    """
    built = manifest.get("embedding_model")
    built_version = manifest.get("embedding_model_version")
    if built != model_id or (model_version and built_version and built_version != model_version):
        built_text = f"{built!r}" + (f" ({built_version})" if built_version else "")
        wanted_text = f"{model_id!r}" + (f" ({model_version})" if model_version else "")
        raise StoreMismatchError(
            f"store {root} was built with embedding model {built_text}, but {wanted_text} is configured. "
            f"Hint: rebuild the store with `career-assistant ingest --rebuild ...` (the same files again), "
            f"or configure the store's model: {_settings_hint(str(built))}."
        )
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise StoreMismatchError(
            f"store {root} has schema version {manifest.get('schema_version')}, this version reads "
            f"{SCHEMA_VERSION}. Hint: rebuild it with `career-assistant ingest --rebuild ...`."
        )


def _settings_hint(built: str) -> str:
    """The settings that select the model a store was built with, as far as its id tells."""
    from assistant.config import ENV_PREFIX

    name, _, backend = built.partition("@")
    if backend == "numpy":
        return f"{ENV_PREFIX}EMBEDDING_MODEL_NAME={name}"
    if name == "all-MiniLM-L6-v2":
        return f"{ENV_PREFIX}EMBEDDING_MODEL_NAME={name} with {ENV_PREFIX}EMBEDDING_BACKEND={backend}"
    return f"{ENV_PREFIX}EMBEDDING_MODEL=<the folder of {name}> with {ENV_PREFIX}EMBEDDING_BACKEND={backend}"


class WriterLock:
    """An exclusive, non-blocking flock on `<store>/.lock`; the kernel drops it if the process dies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> WriterLock:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise StoreLockedError(str(self.root), int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        os.fsync(fd)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StoreWriter:
    """Stage a new generation from the live one; `commit()` makes it live atomically.

    Use as a context manager: leaving it without `commit()` (an error, Ctrl-C) deletes the staging copy.

    Args:
        root: The store folder.
        model_id: The configured embedding model, recorded in the manifest and checked against the store's.
        rebuild: Start from an empty generation instead of the live one.
        model_version: The model's version (a distribution and its version), recorded and checked likewise.
        rebuild_on_model_change: Called with the live manifest when the store was built with another model:
            True turns the run into a rebuild (the bundled corpus, which ingest can make again by itself)
            instead of refusing the store.
    """

    def __init__(
        self,
        root: Path,
        model_id: str,
        rebuild: bool = False,
        model_version: str | None = None,
        rebuild_on_model_change: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.root = root
        self.model_id = model_id
        self.model_version = model_version
        self.rebuild = rebuild
        self.rebuild_on_model_change = rebuild_on_model_change
        #: The model id of the live store when this run rebuilds it for a new model, else None.
        self.replaced_model: str | None = None
        self.lock = WriterLock(root)
        self.staging: Path | None = None
        self.base: Path | None = None
        self.base_manifest: dict[str, Any] | None = None

    def __enter__(self) -> StoreWriter:
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"store path {self.root} exists and is not a folder. Hint: pass --store DIR")
        self.lock.__enter__()
        try:
            self._remove_leftovers()
            self.base = current_generation(self.root)
            if self.base is not None:
                self.base_manifest = read_manifest(self.base)
                if not self.rebuild:
                    try:
                        check_compatible(self.base_manifest, self.model_id, self.root, self.model_version)
                    except StoreMismatchError:
                        if self.rebuild_on_model_change is None or not self.rebuild_on_model_change(self.base_manifest):
                            raise
                        self.rebuild = True
                        self.replaced_model = _what_built(self.base_manifest, self.model_id, self.model_version)
        except BaseException:
            self.lock.__exit__()
            raise
        return self

    def stage(self) -> Path:
        """Create the staging copy of the live generation (or an empty one) and return its path."""
        if self.staging is None:
            staging = self.root / f"{_STAGING_PREFIX}{os.getpid()}-{time.time_ns()}"
            staging.mkdir()
            self.staging = staging  # from here on, a failure (a full disk while copying) removes it
            if self.base is not None and not self.rebuild:
                # Only the postings table is copied. Chroma writes to its files even when it is only
                # read (a row per open, the index on queries), so a byte copy of a live Chroma folder
                # can be torn; the new collections are filled through the API instead.
                shutil.copy2(self.base / "postings.duckdb", staging / "postings.duckdb")
        return self.staging

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Write the manifest, make the staged generation live, and drop generations nobody needs."""
        staging = self.stage()
        manifest = {**manifest, "schema_version": SCHEMA_VERSION, "embedding_model": self.model_id}
        if self.model_version:
            manifest["embedding_model_version"] = self.model_version
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_tree(staging)
        number = 1 + max((_gen_number(p) for p in self.root.glob(_GEN_PREFIX + "*")), default=0)
        gen = self.root / f"{_GEN_PREFIX}{number:06d}"
        os.rename(staging, gen)
        self.staging = None
        pointer_tmp = self.root / "CURRENT.tmp"
        pointer_tmp.write_text(gen.name + "\n", encoding="utf-8")
        with open(pointer_tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, self.root / "CURRENT")  # the one atomic step that publishes the run
        _fsync_dir(self.root)
        self._drop_old_generations(keep={gen.name, self.base.name if self.base else ""})
        return gen

    def __exit__(self, *exc: object) -> None:
        try:
            if self.staging is not None:
                shutil.rmtree(self.staging, ignore_errors=True)
                self.staging = None
        finally:
            self.lock.__exit__()

    def _remove_leftovers(self) -> None:
        for path in self.root.glob(_STAGING_PREFIX + "*"):
            log.info("removing %s, left by an interrupted run", path.name)
            shutil.rmtree(path, ignore_errors=True)
        (self.root / "CURRENT.tmp").unlink(missing_ok=True)

    def _drop_old_generations(self, keep: set[str]) -> None:
        # The previous generation stays one more run: a reader opened before this commit may still use it.
        for path in self.root.glob(_GEN_PREFIX + "*"):
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _what_built(manifest: dict[str, Any], model_id: str, model_version: str | None) -> str:
    """How the manifest's store differs from what this run makes: its model, its model's version, or its schema."""
    built = str(manifest.get("embedding_model"))
    version = manifest.get("embedding_model_version")
    if built != model_id:
        return built
    if model_version and version != model_version:
        return f"{built} ({version})"
    return f"{built}, store schema {manifest.get('schema_version')}"


def _gen_number(path: Path) -> int:
    try:
        return int(path.name[len(_GEN_PREFIX) :])
    except ValueError:
        return 0


def open_generation(root: Path, model_id: str, model_version: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The live generation and its manifest, checked against the configured model (read side)."""
    if not root.is_dir():
        raise StoreMissingError(
            f"no store at {root}. Hint: build it with `career-assistant ingest --bundled` (or your own files)."
        )
    gen = current_generation(root)
    if gen is None:
        raise StoreMissingError(f"{root} holds no built store yet. Hint: run `career-assistant ingest PATH...`.")
    manifest = read_manifest(gen)
    check_compatible(manifest, model_id, root, model_version)
    return gen, manifest


# -- Chroma ------------------------------------------------------------------------------------------


class VectorCollections:
    """The two Chroma collections of one generation (postings, article chunks).

    They hold vectors, their ids and the few metadata fields that filters and re-runs use; the texts
    live in the postings table and are read from it by id (storing them twice made writes 3x slower).
    Distances are cosine: 0 is identical, lower is closer.
    """

    def __init__(
        self,
        chroma_dir: Path,
        backend: str,
        model: str | None = None,
        model_name: str | None = None,
        existing: bool = False,
    ) -> None:
        """Open (or create) the collections; `existing` only opens them, and fails if either is missing."""
        self.client = chromadb.PersistentClient(
            path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        ef: Any = ProjectEmbeddingFunction(backend=backend, model=model, model_name=model_name)
        if existing:
            self.postings = self.client.get_collection(POSTINGS, embedding_function=ef)
            self.articles = self.client.get_collection(ARTICLES, embedding_function=ef)
            return
        self.postings = self.client.get_or_create_collection(
            POSTINGS, embedding_function=ef, configuration={"hnsw": {"space": "cosine"}}
        )
        self.articles = self.client.get_or_create_collection(
            ARTICLES, embedding_function=ef, configuration={"hnsw": {"space": "cosine"}}
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()  # type: ignore[attr-defined]  # PersistentClient has it; ClientAPI does not say

    def existing(self, collection: Any) -> dict[str, str]:
        """id -> sha of the embedded text, for every record in a collection."""
        out: dict[str, str] = {}
        offset, page = 0, 5000
        while True:
            got = collection.get(include=["metadatas"], limit=page, offset=offset)
            for rid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[rid] = str((meta or {}).get("text_sha", ""))
            if len(got["ids"]) < page:
                return out
            offset += page

    def vectors_by_id(self, collection: Any, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these record ids (those that exist), looked up by id."""
        out: dict[str, np.ndarray] = {}
        size = self.client.get_max_batch_size()
        for start in range(0, len(ids), size):
            got = collection.get(ids=list(ids[start : start + size]), include=["embeddings"])
            out.update(
                (rid, np.asarray(emb, dtype=np.float32)) for rid, emb in zip(got["ids"], got["embeddings"], strict=True)
            )
        return out

    def vectors_by_text_sha(self, collection: Any, shas: set[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the texts with these hashes (the embedding cache of a re-run)."""
        if not shas:
            return {}
        out: dict[str, np.ndarray] = {}
        offset, page = 0, 5000
        while True:
            got = collection.get(include=["embeddings", "metadatas"], limit=page, offset=offset)
            for emb, meta in zip(got["embeddings"], got["metadatas"] or [], strict=False):
                sha = str((meta or {}).get("text_sha", ""))
                if sha in shas and sha not in out:
                    out[sha] = np.asarray(emb, dtype=np.float32)
            if len(got["ids"]) < page:
                return out
            offset += page

    def upsert(
        self,
        collection: Any,
        ids: Sequence[str],
        embeddings: np.ndarray,
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        size = self.client.get_max_batch_size()
        for start in range(0, len(ids), size):
            end = start + size
            try:
                collection.upsert(
                    ids=list(ids[start:end]),
                    embeddings=embeddings[start:end],
                    metadatas=[_flat(m) for m in metadatas[start:end]],
                )
            except Exception as exc:  # chromadb raises several unrelated types; add what to do
                raise RuntimeFailure(f"writing to the vector store failed: {exc}") from exc

    def delete(self, collection: Any, ids: Sequence[str]) -> None:
        size = self.client.get_max_batch_size()
        for start in range(0, len(ids), size):
            collection.delete(ids=list(ids[start : start + size]))

    def count(self) -> tuple[int, int]:
        return self.postings.count(), self.articles.count()


# hnswlib's header.bin as Chroma writes it (little-endian): version, offset of level 0, capacity, element count,
# bytes per element, label offset, data offset, top level, entry point, maxM, maxM0, M, mult, ef_construction
_HNSW_HEADER = struct.Struct("<iQQQQQQiiQQQdQ")


def index_file_problems(chroma_dir: Path) -> list[str]:
    """What is wrong with each vector index segment's files, read from their sizes alone.

    A segment's `header.bin` says how many elements it holds and how many bytes each takes; `data_level0.bin`
    must hold that many elements and `length.bin` one float each. Chroma does not check this when it loads a
    segment: a cut file can still answer queries from whatever memory follows, so `check` measures the files.
    Vectors Chroma has not yet moved into a segment (small collections) live in its database, not here.
    """
    problems: list[str] = []
    if not chroma_dir.is_dir():
        return problems
    for header in sorted(chroma_dir.glob("*/header.bin")):
        segment = header.parent.name[:8]
        raw = header.read_bytes()
        if len(raw) != _HNSW_HEADER.size:
            problems.append(f"index segment {segment}: header.bin has {len(raw)} bytes, not {_HNSW_HEADER.size}")
            continue
        fields = _HNSW_HEADER.unpack(raw)
        capacity, count, per_element = fields[2], fields[3], fields[4]
        if count > capacity or not 0 < per_element < 1 << 24:
            problems.append(f"index segment {segment}: header.bin is not a valid index header")
            continue
        for name, need in (("data_level0.bin", count * per_element), ("length.bin", count * 4)):
            path = header.parent / name
            size = path.stat().st_size if path.is_file() else None
            if size is None:
                problems.append(f"index segment {segment}: {name} is missing")
            elif size < need:
                problems.append(f"index segment {segment}: {name} has {size:,} bytes, {count:,} elements need {need:,}")
    return problems


def _flat(meta: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """Chroma metadata is flat and rejects None: drop empty values, join lists."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in meta.items():
        if value is None or value == "" or value == [] or value == ():
            continue
        if isinstance(value, (list, tuple)):
            out[key] = "|" + "|".join(str(v) for v in value) + "|"
        elif isinstance(value, (str, int, float, bool)):
            out[key] = value
        else:
            out[key] = str(value)
    return out
