"""Chroma: the vector segments of a store, embedded (a folder each) or on a Chroma server, and every Chroma call
the project makes (the only module importing chromadb). Generations, the manifest and the writer's lock are in
`assistant.generations`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import shutil
import struct
import threading
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
    CareerAssistantError,
    RuntimeFailure,
    UserError,
)
from assistant.generations import SEGMENTS_DIR, Segment, store_id, vector_mode

log = logging.getLogger(__name__)


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
        return vector_mode(self.url)

    @property
    def store_id(self) -> str | None:
        """The id naming this store's collections on the server (None when embedded)."""
        return self.prefix.removeprefix("ca-").removesuffix("-") or None

    def where(self) -> str:
        return f"the Chroma server at {self.url}" if self.url else str(self.root / SEGMENTS_DIR)

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
            path = self.root / SEGMENTS_DIR / name
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
        folder = self.root / SEGMENTS_DIR
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
        shutil.rmtree(self.root / SEGMENTS_DIR / name, ignore_errors=True)

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


#: The most unfiltered results a filtered search reads before it searches among the records that pass. Results
#: without their metadata are cheap (a million records: 1,000 in ~20 ms, 3,000 in ~40 ms; with metadata ~10x).
_OVERFETCH_MAX = 3000


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
        keep: Callable[[list[str]], set[str]],
        where: dict[str, Any] | None = None,
        allowed: Callable[[str], list[str] | None] | None = None,
        share: float = 1.0,
    ) -> list[tuple[str, float]]:
        """The `limit` nearest live records of a kind, as (id, cosine distance), nearest first.

        `keep` says which of the ids found the generation uses (and, in a filtered search, which pass the filter:
        the postings table decides, not Chroma's metadata). Unfiltered: each segment is asked for more than
        `limit` by its share of dead records, and again with twice as many while dead ones crowd out live.
        Filtered (`where`, Chroma's form of the same filter): the nearest records unfiltered first, up to
        `_OVERFETCH_MAX` (first as many as should hold `limit` that pass, `share` being the share of records
        expected to pass); when too few of them pass, the nearest among the segment's records that pass
        (`allowed(segment)` lists them, or None when there are too many to list; then Chroma filters by `where`,
        which reads the metadata of every record that passes: 1-2 s at a million).
        """
        found: list[tuple[str, float]] = []
        for segment in self.of(kind):
            if not segment.records or not segment.live:
                continue
            collection = self.collection(segment)
            hits = None
            if where is not None:
                hits = self._unfiltered_first(collection, segment, vector, limit, keep, share)
                if hits is None and allowed is not None:
                    hits = self._among(collection, allowed(segment.name), vector, limit)
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
        self, collection: Any, segment: Segment, vector: Any, limit: int, keep: Callable[[list[str]], set[str]],
        share: float,
    ) -> list[tuple[str, float]] | None:  # fmt: skip
        """The nearest records `keep` keeps, from unfiltered queries of up to `_OVERFETCH_MAX` results; None when
        they hold fewer than `limit` (at once when even `_OVERFETCH_MAX` should not hold them)."""
        expected = 2 * limit * segment.records / max(segment.live, 1) / max(share, 1e-9)
        if expected > 2 * _OVERFETCH_MAX and segment.records > _OVERFETCH_MAX:
            return None
        want = min(segment.records, _OVERFETCH_MAX, max(200, math.ceil(expected)))
        while True:
            got = collection.query(query_embeddings=[vector], n_results=want, include=["distances"])
            ids, distances = got["ids"][0], got["distances"][0]
            kept = keep(list(ids))
            hits = [(rid, float(d)) for rid, d in zip(ids, distances, strict=True) if rid in kept]
            if len(hits) >= limit or want >= segment.records:
                return hits
            if want >= _OVERFETCH_MAX:
                return None
            want = min(segment.records, want * 5, _OVERFETCH_MAX)

    def _among(self, collection: Any, ids: list[str] | None, vector: Any, limit: int) -> list[tuple[str, float]] | None:
        """The `limit` nearest of these records of the segment (None: not listed, so not searched here)."""
        if ids is None:
            return None
        if not ids:
            return []
        got = collection.query(query_embeddings=[vector], n_results=min(limit, len(ids)), ids=ids,
                               include=["distances"])  # fmt: skip
        return [(rid, float(d)) for rid, d in zip(got["ids"][0], got["distances"][0], strict=True)]

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
