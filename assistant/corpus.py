"""The read side of a store: the live generation's postings table, vector collections and embedder."""

from __future__ import annotations

import threading
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.generations import (
    check_vectors_at,
    current_generation,
    manifest_segments,
    open_generation,
    vector_mode,
)
from assistant.market import PostingsTable
from assistant.store import VectorSpace, VectorView


class Corpus:
    """An opened store generation, shared by the retriever and the figure engine.

    Opening is cheap; the vector collections and the embedding model load on first use.
    """

    def __init__(self, settings: Settings) -> None:
        from assistant.embeddings import model_identity

        self.settings = settings
        identity = model_identity(settings)
        self.generation, self.manifest = open_generation(Path(settings.store), identity.model_id, identity.version)
        self.table = PostingsTable(self.generation / "postings.duckdb", read_only=True)
        # DuckDB connections are not safe to share across threads without a cursor each.
        self._lock = threading.Lock()

    def is_current(self) -> bool:
        """Whether this is still the store's live generation (an ingest publishes a new one when it commits).
        A pointer that cannot be read says nothing new: the generation in hand keeps answering."""
        try:
            return current_generation(Path(self.settings.store)) in (None, self.generation)
        except Exception:
            return True

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.table.con.cursor().execute(sql, params or []).fetchall()

    @cached_property
    def vectors(self) -> VectorView:
        """The generation's vector segments, embedded or on the configured Chroma server."""
        s = self.settings
        model = str(s.embedding_model) if s.embedding_model else None
        check_vectors_at(self.manifest, vector_mode(s.chroma_url), Path(s.store))
        space = VectorSpace(Path(s.store), s.embedding_backend, model, s.embedding_model_name, url=s.chroma_url,
                            token=s.chroma_token)  # fmt: skip
        return VectorView(space, manifest_segments(self.manifest))

    @cached_property
    def embedder(self) -> Any:
        from assistant.embeddings import get_embedder

        return get_embedder(self.settings)

    def embed_query(self, text: str) -> Any:
        """The question's vector, computed once per text: retrieval and the relevance check share it."""
        return self._embed_cached(text)

    @cached_property
    def _embed_cached(self) -> Any:
        return lru_cache(maxsize=256)(self.embedder.embed_query)

    @cached_property
    def companies(self) -> tuple[str, ...]:
        """Company names with at least 3 postings, for recognising them in questions."""
        rows = self.query("SELECT company FROM postings WHERE company IS NOT NULL GROUP BY 1 HAVING count(*) >= 3")
        return tuple(r[0] for r in rows)

    @cached_property
    def sources(self) -> tuple[str, ...]:
        """The job boards the generation holds postings from (as figures name them: "Lagou", "51job", ...)."""
        return tuple(r[0] for r in self.query("SELECT DISTINCT source FROM postings ORDER BY 1"))

    def stats(self) -> dict[str, Any]:
        """What the generation holds (postings by board, cities, roles, skills, articles) and how it was built."""
        with self._lock:
            stats = self.table.stats()
        stats["store"] = str(self.settings.store)
        stats["embedding_model"] = self.manifest.get("embedding_model")
        stats["updated"] = self.manifest.get("updated")
        stats["files"] = len(self.manifest.get("files", {}))
        return stats

    def close(self) -> None:
        if "vectors" in self.__dict__:
            self.vectors.close()
        self.table.close()
