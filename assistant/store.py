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
import math
import os
import re
import secrets
import shutil
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function

from assistant.config import Settings
from assistant.errors import (
    CareerAssistantError,
    RuntimeFailure,
    StoreLockedError,
    StoreMismatchError,
    StoreMissingError,
    UserError,
)

log = logging.getLogger(__name__)

#: 2: one posting vector per (board, embedded text), mapped in `posting_vectors`; 3: vectors in segments shared
#: by generations (`vector_records`), chunks mapped in `chunk_vectors`; 4, 5: BM25 term tables (`lexical_*`)
SCHEMA_VERSION = 5
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
        space: VectorSpace | None = None,
    ) -> None:
        self.root = root
        self.space = space
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
        #: The number the staged generation will have (the writer holds the lock, so no other run takes it).
        self.number = 0

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
                if not self.rebuild and self.space is not None:
                    check_vectors_at(self.base_manifest, self.space, self.root)
            self.number = 1 + max((_gen_number(p) for p in self.root.glob(_GEN_PREFIX + "*")), default=0)
            self.drop_unlisted_segments()
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
                # Only the postings table is copied: the vectors live in segments that generations share
                # (a run adds a segment of its own and never writes one a generation lists).
                shutil.copy2(self.base / "postings.duckdb", staging / "postings.duckdb")
        return self.staging

    @property
    def base_segments(self) -> list[Segment]:
        """The segments the live generation lists (none when this run rebuilds)."""
        return [] if self.rebuild or not self.base_manifest else manifest_segments(self.base_manifest)

    def drop_unlisted_segments(self) -> None:
        """Remove the vector segments no generation on disk lists: a killed run's, and folded ones."""
        if self.space is None:
            return
        listed: set[str] = set()
        for gen in self.root.glob(_GEN_PREFIX + "*"):
            with contextlib.suppress(RuntimeFailure):
                listed |= {s.name for s in manifest_segments(read_manifest(gen))}
        for name in sorted(self.space.names() - listed):
            log.info("removing vector segment %s, which no generation lists", name)
            self.space.drop(name)

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Write the manifest, make the staged generation live, and drop generations nobody needs."""
        staging = self.stage()
        manifest = {**manifest, "schema_version": SCHEMA_VERSION, "embedding_model": self.model_id}
        if self.space is not None:
            manifest["vectors"] = {"mode": self.space.mode, "store_id": self.space.store_id}
        if self.model_version:
            manifest["embedding_model_version"] = self.model_version
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_tree(staging)
        gen = self.root / f"{_GEN_PREFIX}{self.number:06d}"
        os.rename(staging, gen)
        self.staging = None
        pointer_tmp = self.root / "CURRENT.tmp"
        pointer_tmp.write_text(gen.name + "\n", encoding="utf-8")
        with open(pointer_tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, self.root / "CURRENT")  # the one atomic step that publishes the run
        _fsync_dir(self.root)
        self._drop_old_generations(keep={gen.name, self.base.name if self.base else ""})
        with contextlib.suppress(Exception):  # the run is published; a segment left behind goes next time
            self.drop_unlisted_segments()
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


def check_vectors_at(manifest: dict[str, Any], space: VectorSpace, root: Path) -> None:
    """Refuse to read or extend a store's vectors in the other mode (embedded or on a server)."""
    built = (manifest.get("vectors") or {}).get("mode", "embedded")
    if built != space.mode:
        where = "on a Chroma server" if built == "server" else f"in {root / _SEGMENTS_DIR}"
        fix = (
            "pass its --chroma-url (or CAREER_ASSISTANT_CHROMA_URL)" if built == "server" else "leave out --chroma-url"
        )
        raise StoreMismatchError(
            f"store {root} keeps its vectors {where}, but {space.mode} mode is configured. Hint: {fix}, or rebuild "
            "it in this mode with `career-assistant ingest --rebuild ...`."
        )


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


# -- Chroma: segments -----------------------------------------------------------------------------

KINDS = ("posting", "article")
_SEGMENT_PREFIX = {"posting": "p", "article": "a"}
_SEGMENTS_DIR = "vectors"
_STORE_ID = "STORE_ID"


@dataclass(frozen=True)
class Segment:
    """One immutable set of vectors of one kind (postings or article chunks).

    A generation lists the segments it reads; an ingest adds a new segment with the records it embeds and
    never writes into a segment an earlier generation lists, so readers of the live generation are never
    disturbed. Records a generation no longer uses stay in their segment, dead, until the segment is folded
    into a new one; readers skip them (`live` of `records` are in use).
    """

    name: str
    kind: str
    records: int
    live: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "records": self.records, "live": self.live}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Segment:
        return cls(str(raw["name"]), str(raw["kind"]), int(raw["records"]), int(raw["live"]))


def new_segment_name(kind: str, generation: int) -> str:
    """A name no other run uses: the kind's letter, the generation it is made for, and a random tag."""
    return f"{_SEGMENT_PREFIX[kind]}{generation:06d}-{secrets.token_hex(3)}"


def manifest_segments(manifest: dict[str, Any]) -> list[Segment]:
    return [Segment.from_dict(raw) for raw in manifest.get("segments", [])]


def store_id(root: Path, create: bool = False) -> str:
    """The store's own id, which names its collections on a Chroma server (several stores can share one)."""
    path = root / _STORE_ID
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise StoreMissingError(f"{root} holds no built store yet (no {_STORE_ID}).") from None
    tmp = root / f"{_STORE_ID}.{os.getpid()}-{secrets.token_hex(4)}"
    tmp.write_text(secrets.token_hex(6) + "\n", encoding="ascii")
    with contextlib.suppress(FileExistsError):  # two first runs at once: the first link wins, both read it
        os.link(tmp, path)
    tmp.unlink()
    return path.read_text(encoding="ascii").strip()


class VectorSpace:
    """Where a store's vector segments live, and every Chroma call the project makes.

    Embedded (no `url`): each segment is a Chroma folder of its own under `<store>/vectors/`. Server: each
    segment is a collection named `ca-<store id>-<segment>` on a Chroma server (`chroma run`, behind a proxy
    that checks the token: see the README's "Running at scale"), reached with `chromadb.HttpClient`. Both
    behave the same: a segment is written once, by the run that makes it, and then only read.
    """

    def __init__(
        self,
        root: Path,
        backend: str,
        model: str | None = None,
        model_name: str | None = None,
        url: str | None = None,
        token: str | None = None,
        create: bool = False,
    ) -> None:
        self.root = root
        self.url = url
        self.ef: Any = ProjectEmbeddingFunction(backend=backend, model=model, model_name=model_name)
        self._embedded: dict[str, Any] = {}  # segment name -> its PersistentClient (Chroma counts their users)
        self.client: Any = None
        self.prefix = ""
        if url:
            self.prefix = f"ca-{store_id(root, create=create)}-"
            self.client = http_client(url, token)

    @property
    def mode(self) -> str:
        return "server" if self.url else "embedded"

    @property
    def store_id(self) -> str | None:
        """The id naming this store's collections on the server (None when embedded)."""
        return self.prefix.removeprefix("ca-").removesuffix("-") or None

    def where(self) -> str:
        return f"the Chroma server at {self.url}" if self.url else str(self.root / _SEGMENTS_DIR)

    def _collection(self, name: str, create: bool) -> Any:
        config: Any = {"hnsw": {"space": "cosine"}}
        try:
            if self.url:
                # No embedding function on a server: every call passes vectors, and Chroma's Python server would
                # try to build the project's function from the collection's config (it cannot: not registered).
                if create:
                    return self.client.get_or_create_collection(self.prefix + name, embedding_function=None,
                                                                configuration=config)  # fmt: skip
                return self.client.get_collection(self.prefix + name, embedding_function=None)
            path = self.root / _SEGMENTS_DIR / name
            if not create and not path.is_dir():
                raise RuntimeFailure(f"vector segment {name} is missing from {self.where()}")
            client = self._embedded.get(name)
            if client is None:
                client = self._embedded[name] = chromadb.PersistentClient(
                    path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
                )
            if create:
                return client.get_or_create_collection("vectors", embedding_function=self.ef, configuration=config)
            return client.get_collection("vectors", embedding_function=self.ef)
        except CareerAssistantError:
            raise
        except Exception as exc:  # chromadb raises NotFoundError, ValueError, InternalError...
            raise RuntimeFailure(f"vector segment {name} cannot be opened in {self.where()}: {exc}") from exc

    def create(self, name: str) -> Any:
        """A new, empty segment (the writer's)."""
        return self._collection(name, create=True)

    def open(self, name: str) -> Any:
        """An existing segment; a missing one is a RuntimeFailure naming it."""
        return self._collection(name, create=False)

    def names(self) -> set[str]:
        """The segments that physically exist for this store (listed or not by a generation)."""
        if self.url:
            return {c.name[len(self.prefix) :] for c in _all_collections(self.client) if c.name.startswith(self.prefix)}
        folder = self.root / _SEGMENTS_DIR
        return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()

    def drop(self, name: str) -> None:
        """Remove a segment no generation lists (left by a killed run, or folded into a newer one)."""
        if self.url:
            with contextlib.suppress(Exception):
                self.client.delete_collection(self.prefix + name)
            return
        client = self._embedded.pop(name, None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        shutil.rmtree(self.root / _SEGMENTS_DIR / name, ignore_errors=True)

    def batch(self) -> int:
        if self.url:
            return int(self.client.get_max_batch_size())
        return 5000

    def close(self) -> None:
        for client in self._embedded.values():
            with contextlib.suppress(Exception):
                client.close()
        self._embedded.clear()

    # -- records ------------------------------------------------------------------------------------

    def add(self, collection: Any, ids: Sequence[str], embeddings: np.ndarray,
            metadatas: Sequence[dict[str, Any]]) -> None:  # fmt: skip
        size = self.batch()
        for start in range(0, len(ids), size):
            end = start + size
            try:
                collection.upsert(ids=list(ids[start:end]), embeddings=embeddings[start:end],
                                  metadatas=[_flat(m) for m in metadatas[start:end]])  # fmt: skip
            except Exception as exc:  # chromadb raises several unrelated types; add what to do
                raise RuntimeFailure(f"writing to the vector store ({self.where()}) failed: {exc}") from exc

    def get(self, collection: Any, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
        """The records with these ids that exist: (ids, vectors, metadata), looked up by id."""
        out_ids: list[str] = []
        vectors: list[Any] = []
        metas: list[dict[str, Any]] = []
        size = self.batch()
        for start in range(0, len(ids), size):
            got = collection.get(ids=list(ids[start : start + size]), include=["embeddings", "metadatas"])
            out_ids += got["ids"]
            vectors += list(got["embeddings"])
            metas += [dict(m or {}) for m in (got["metadatas"] or [{}] * len(got["ids"]))]
        array = np.asarray(vectors, dtype=np.float32) if vectors else np.zeros((0, 0), dtype=np.float32)
        return out_ids, array, metas

    def ids(self, collection: Any) -> list[str]:
        """Every record id in a segment (`check` uses it), in one read: pages by offset cost a scan each, which
        at a million records took over five minutes."""
        return list(collection.get(include=[])["ids"])


def http_client(url: str, token: str | None) -> Any:
    """A client of the Chroma server at `url` (http://HOST:PORT), with Chroma's token if one is given.

    Raises:
        RuntimeFailure: the server does not answer, or refuses the token.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"the Chroma URL must look like http://HOST:PORT, got {url!r}")
    settings = ChromaSettings(anonymized_telemetry=False)
    if token:
        settings = ChromaSettings(
            anonymized_telemetry=False,
            chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
            chroma_client_auth_credentials=token,
        )
    try:
        client = chromadb.HttpClient(host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 80),
                                     ssl=parts.scheme == "https", settings=settings)  # fmt: skip
        client.heartbeat()
        client.list_collections(limit=1)  # a server with authentication refuses a missing or wrong token here
    except Exception as exc:
        text = " ".join(re.sub(r"<[^>]+>", " ", str(exc) or type(exc).__name__).split())  # a proxy's page: its words
        refused = ("401", "403", "forbidden", "unauthorized", "authorization required")
        if any(word in text.lower() for word in refused) or "auth" in type(exc).__name__.lower():
            raise RuntimeFailure(f"the Chroma server at {url} refused the token ({text[:120]}). Hint: set "
                                 "CAREER_ASSISTANT_CHROMA_TOKEN to the server's token.") from None  # fmt: skip
        hint = "start it (`chroma run --path DIR --host 127.0.0.1 --port PORT`) or correct --chroma-url"
        raise RuntimeFailure(f"cannot reach the Chroma server at {url} ({text[:200]}). Hint: {hint}.") from None
    return client


def _all_collections(client: Any) -> list[Any]:
    out: list[Any] = []
    offset, page = 0, 100
    while True:
        got = list(client.list_collections(limit=page, offset=offset))
        out += got
        if len(got) < page:
            return out
        offset += page


#: The most unfiltered results a filtered search reads before it asks Chroma to filter instead.
_OVERFETCH_MAX = 1000


def _where_test(where: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """A test of one record's metadata for the `where` shapes the retriever builds: {field: {"$in": [...]}},
    {field: value}, and {"$and": [...]} of those."""
    if "$and" in where:
        parts = [_where_test(part) for part in where["$and"]]
        return lambda meta: all(part(meta) for part in parts)
    ((field, condition),) = where.items()
    if isinstance(condition, dict) and "$in" in condition:
        allowed = set(condition["$in"])
        return lambda meta: meta.get(field) in allowed
    return lambda meta: meta.get(field) == condition


class VectorView:
    """The segments one generation reads, searched as one: nearest live records first."""

    def __init__(self, space: VectorSpace, segments: Sequence[Segment]) -> None:
        self.space = space
        self.segments = list(segments)
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def collection(self, segment: Segment) -> Any:
        with self._lock:
            if segment.name not in self._open:
                self._open[segment.name] = self.space.open(segment.name)
            return self._open[segment.name]

    def of(self, kind: str) -> list[Segment]:
        return [s for s in self.segments if s.kind == kind]

    def count(self, kind: str) -> int:
        return sum(s.live for s in self.of(kind))

    def search(
        self,
        kind: str,
        vector: Any,
        limit: int,
        where: dict[str, Any] | None,
        keep: Callable[[list[str]], set[str]],
    ) -> list[tuple[str, float]]:
        """The `limit` nearest live records of a kind, as (id, cosine distance), nearest first.

        Each segment is asked for more than `limit` by its share of dead records (`keep` says which of the ids
        found are live in this generation), and again with twice as many while dead ones crowd out live.
        """
        found: list[tuple[str, float]] = []
        for segment in self.of(kind):
            if not segment.records or not segment.live:
                continue
            collection = self.collection(segment)
            hits = self._unfiltered_first(collection, segment, vector, limit, where, keep) if where else None
            if hits is None:
                hits = self._search_segment(collection, segment, vector, limit, where, keep)
            found += hits[:limit]
        found.sort(key=lambda hit: hit[1])
        return found[:limit]

    def _search_segment(
        self, collection: Any, segment: Segment, vector: Any, limit: int, where: dict[str, Any] | None,
        keep: Callable[[list[str]], set[str]],
    ) -> list[tuple[str, float]]:  # fmt: skip
        margin = 8 if segment.records > segment.live else 0
        want = min(segment.records, math.ceil(limit * segment.records / segment.live) + margin)
        while True:
            got = collection.query(query_embeddings=[vector], n_results=want, where=where, include=["distances"])
            ids, distances = got["ids"][0], got["distances"][0]
            live = keep(list(ids))
            hits = [(rid, float(d)) for rid, d in zip(ids, distances, strict=True) if rid in live]
            if len(hits) >= limit or len(ids) < want or want >= segment.records:
                return hits
            want = min(segment.records, want * 2)

    def _unfiltered_first(
        self, collection: Any, segment: Segment, vector: Any, limit: int, where: dict[str, Any],
        keep: Callable[[list[str]], set[str]],
    ) -> list[tuple[str, float]] | None:  # fmt: skip
        """Nearest records that pass `where`, from unfiltered queries of up to `_OVERFETCH_MAX` results; None when
        they hold too few (then Chroma filters). Chroma's own filter reads the metadata of every record that
        passes it: 1-2 s at a million records against 70-280 ms for 200-1,000 unfiltered results."""
        passes = _where_test(where)
        want = min(segment.records, max(10 * limit, 200))
        while True:
            got = collection.query(query_embeddings=[vector], n_results=want, include=["distances", "metadatas"])
            ids, distances, metas = got["ids"][0], got["distances"][0], got["metadatas"][0]
            chosen = [(rid, float(d)) for rid, d, m in zip(ids, distances, metas, strict=True) if passes(m or {})]
            live = keep([rid for rid, _ in chosen])
            hits = [hit for hit in chosen if hit[0] in live]
            if len(hits) >= limit or want >= segment.records:
                return hits
            if want >= _OVERFETCH_MAX:
                return None
            want = min(segment.records, want * 5)

    def ids(self, kind: str) -> list[str]:
        """Every record id the kind's segments hold, dead ones included (a scan)."""
        return [rid for segment in self.of(kind) for rid in self.space.ids(self.collection(segment))]

    def vectors(self, kind: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these live record ids, looked up by id in the kind's segments."""
        out: dict[str, np.ndarray] = {}
        for segment in self.of(kind):
            todo = [rid for rid in ids if rid not in out]
            if not todo:
                break
            got_ids, vectors, _ = self.space.get(self.collection(segment), todo)
            out.update(zip(got_ids, vectors, strict=True))
        return out

    def close(self) -> None:
        self._open.clear()
        self.space.close()


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
