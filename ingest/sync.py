"""Make the vector collections match the postings table: embed only texts not embedded before."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.config import Settings
from assistant.market import PostingsTable
from assistant.store import VectorCollections
from ingest.report import IngestReport
from ingest.summarize import embedding_text


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def vector_key(text: str, board: str) -> str:
    """The id of the one vector record that all of a board's postings with this embedded text share.

    The embedded text holds title, role family, city and skills, so those postings agree on every field a
    filter uses; a third of the bundled postings repeat another's text (reposts, other dates, other firms).
    """
    return "v" + text_sha(f"{board}\x1f{text}")


def _posting_meta(record: dict[str, Any]) -> dict[str, Any]:
    """What Chroma keeps beside a posting's vector: the fields its `where` filters use, nothing else (each
    field costs ~0.8 s per 10k records to write). The record's id is a hash of its text, which is how a
    re-run finds the vector again; text, pay and dates live in the postings table."""
    return {"city": record["city"], "role_family": record["role_family"], "source": record["source"]}


def _chunk_meta(record: dict[str, Any], sha: str) -> dict[str, Any]:
    return {"text_sha": sha, "source_file": record["source_file"]}


def chunk_text(record: dict[str, Any]) -> str:
    """What an article chunk's vector is computed from: its article's title, then the chunk."""
    return f"{record['title']}\n{record['text']}"


def posting_text(record: dict[str, Any]) -> str:
    """What a posting's vector is computed from (see `ingest.summarize.embedding_text`)."""
    return embedding_text(record["title"], record["role_family"], record["city"], record["skills"])


def sync_vectors(
    table: PostingsTable,
    vectors: VectorCollections,
    settings: Settings,
    report: IngestReport,
    say: Callable[[str], None],
    previous: VectorCollections | None = None,
) -> None:
    """Make `vectors` hold one record per distinct (board, embedded text) of the table's postings, and its
    chunks; the table learns which record each posting's vector is (`posting_vectors`).

    A text already embedded (in `vectors`, or in the live generation `previous`) is reused by its
    hash; only new texts go through the model.
    """
    # record id -> (embedded text, its hash, metadata)
    wanted_postings: dict[str, tuple[str, str, dict[str, Any]]] = {}
    keys: list[tuple[str, str]] = []
    for r in table.posting_records():
        text = posting_text(r)
        key = vector_key(text, r["source"])
        keys.append((r["posting_id"], key))
        if key not in wanted_postings:
            wanted_postings[key] = (text, text_sha(text), _posting_meta(r))
    table.set_vector_keys(keys)
    wanted_chunks: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for r in table.chunk_records():
        text = chunk_text(r)
        sha = text_sha(text)
        wanted_chunks[r["chunk_id"]] = (text, sha, _chunk_meta(r, sha))
    # A posting record's id is a hash of its text; a chunk's is not, so its metadata keeps the text's hash.
    pairs = (("postings", wanted_postings, True), ("articles", wanted_chunks, False))
    embedder: Any = None
    for attr, wanted, keyed_by_text in pairs:
        collection = getattr(vectors, attr)
        existing = vectors.existing(collection)
        stale = [rid for rid in existing if rid not in wanted]
        if stale:
            vectors.delete(collection, stale)
        todo = [rid for rid, (_, sha, _) in wanted.items()
                if rid not in existing or not (keyed_by_text or existing[rid] == sha)]  # fmt: skip
        if previous is not None and not existing:
            old = previous.existing(getattr(previous, attr))
            report.records_deleted += sum(1 for rid in old if rid not in wanted)
        if not todo:
            continue
        by_sha: dict[str, str] = {}
        for rid in todo:
            text, sha, _ = wanted[rid]
            by_sha.setdefault(sha, text)
        cached: dict[str, np.ndarray] = {}
        for source in (vectors, previous):
            if source is None:
                continue
            if keyed_by_text:  # a keyed lookup of the records that would hold these texts
                found = source.vectors_by_id(
                    getattr(source, attr), [rid for rid in todo if wanted[rid][1] not in cached]
                )
                cached.update((wanted[rid][1], vector) for rid, vector in found.items())
            else:
                cached.update(source.vectors_by_text_sha(getattr(source, attr), set(by_sha) - set(cached)))
        new_shas = [sha for sha in by_sha if sha not in cached]
        report.texts_reused += len(by_sha) - len(new_shas)
        if new_shas:
            from assistant.embeddings import get_embedder

            if embedder is None:
                say("loading the embedding model")
                embedder = get_embedder(settings)  # loaded only when there is something to embed
            say(f"embedding {len(new_shas):,} unique texts ({collection.name})")
            t0 = time.perf_counter()
            report.dimension = embedder.dimension
            embedded = _embed_with_progress(embedder, [by_sha[s] for s in new_shas], settings, collection.name)
            report.embed_seconds += time.perf_counter() - t0
            report.texts_embedded += len(new_shas)
            cached.update(zip(new_shas, embedded, strict=True))
        say(f"writing {len(todo):,} records ({collection.name})")
        vectors.upsert(
            collection,
            ids=todo,
            embeddings=np.stack([cached[wanted[rid][1]] for rid in todo]),
            metadatas=[wanted[rid][2] for rid in todo],
        )


def _embed_with_progress(embedder: Any, texts: list[str], settings: Settings, label: str) -> np.ndarray:
    from tqdm import tqdm

    # Large slices keep the embedder's own batching and sharding effective; the bar only needs a few steps.
    step = max(settings.embed_batch_size * 64, 4096)
    parts = []
    with tqdm(total=len(texts), desc=f"embedding {label}", unit="text", file=sys.stderr, disable=None) as bar:
        for start in range(0, len(texts), step):
            parts.append(embedder.embed_documents(texts[start : start + step]))
            bar.update(min(step, len(texts) - start))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), dtype=np.float32)
