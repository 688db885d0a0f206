"""Make the vector collections match the postings table: embed only texts not embedded before."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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
    hash; only new texts go through the model. Vectors are made a slice at a time and spilled to a file
    beside the table; the model is let go, and then the spill is written to the vector store a slice at a
    time. The model and the vector index (which grows with the store) are never in memory together.
    """
    model = _Model(settings, say, report)
    spill = _Spill(table.path.parent / ".vectors-spill")
    try:
        run = _Sync(table, vectors, report, say, previous, model)
        _embed_postings(run, spill)
        chunks = _embed_chunks(run)
        model.release()
        return_free_memory()
        if spill.count:
            say(f"writing {spill.count:,} records ({vectors.postings.name})")
            for ids, embeddings, metadatas in spill.slices(_SLICE):
                vectors.upsert(vectors.postings, ids=ids, embeddings=embeddings, metadatas=metadatas)
        if chunks is not None:
            ids, embeddings, metadatas = chunks
            say(f"writing {len(ids):,} records ({vectors.articles.name})")
            vectors.upsert(vectors.articles, ids=ids, embeddings=embeddings, metadatas=metadatas)
    finally:
        spill.remove()


@dataclass
class _Sync:
    """One sync's parts: the table read, the collections written, the live generation's, the model."""

    table: PostingsTable
    vectors: VectorCollections
    report: IngestReport
    say: Callable[[str], None]
    previous: VectorCollections | None
    model: _Model


def _embed_postings(run: _Sync, spill: _Spill) -> None:
    """Map postings to records, drop stale records, and spill the vectors of records to write."""
    table, vectors, report, say, previous, model = (
        run.table, run.vectors, run.report, run.say, run.previous, run.model)  # fmt: skip
    collection = vectors.postings
    wanted: set[str] = set()  # record ids only: the texts are made again from the table when embedded
    pairs: list[tuple[str, str]] = []
    for r in table.posting_records():
        key = vector_key(posting_text(r), r["source"])
        pairs.append((r["posting_id"], key))
        wanted.add(key)
    table.set_vector_keys(pairs)
    del pairs
    existing = vectors.existing(collection)
    stale = [rid for rid in existing if rid not in wanted]
    if stale:
        vectors.delete(collection, stale)
    old: set[str] = set(previous.existing(previous.postings)) if previous is not None else set()
    if previous is not None and not existing:
        report.records_deleted += sum(1 for rid in old if rid not in wanted)
    todo = wanted - set(existing)  # an id is a hash of the text: a record that exists is current
    del wanted
    if not todo:
        return
    reusable = todo & old
    # Records, not texts: two boards' postings with one text are embedded once per slice they share.
    new_texts = len(todo) - len(reusable)
    report.texts_reused += len(reusable)
    if new_texts:
        model.load()
        say(f"embedding {new_texts:,} unique texts ({collection.name})")
    slice_: list[tuple[str, str, dict[str, Any]]] = []
    with model.bar(new_texts, collection.name) as bar:
        for r in table.posting_records():
            text = posting_text(r)
            key = vector_key(text, r["source"])
            if key not in todo:
                continue
            todo.discard(key)
            slice_.append((key, text, _posting_meta(r)))
            if len(slice_) >= _SLICE:
                _spill_slice(slice_, previous, reusable, model, bar, spill)
                slice_ = []
        if slice_:
            _spill_slice(slice_, previous, reusable, model, bar, spill)


def _spill_slice(
    slice_: list[tuple[str, str, dict[str, Any]]],
    previous: VectorCollections | None,
    reusable: set[str],
    model: _Model,
    bar: Any,
    spill: _Spill,
) -> None:
    """Embed (or take from the live generation) one slice of posting records and spill it."""
    found: dict[str, np.ndarray] = {}
    if previous is not None:
        found = previous.vectors_by_id(previous.postings, [rid for rid, _, _ in slice_ if rid in reusable])
    by_sha: dict[str, str] = {}
    for rid, text, _ in slice_:
        if rid not in found:
            by_sha.setdefault(text_sha(text), text)
    embedded = dict(zip(by_sha, model.embed(list(by_sha.values()), bar), strict=True)) if by_sha else {}
    spill.add(
        [rid for rid, _, _ in slice_],
        np.stack([found[rid] if rid in found else embedded[text_sha(text)] for rid, text, _ in slice_]),
        [meta for _, _, meta in slice_],
    )


class _Spill:
    """Vectors waiting to be written: raw float32 rows in one file, their ids and metadata as JSON lines."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count, self.dimension = 0, 0

    def add(self, ids: list[str], embeddings: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        self.folder.mkdir(exist_ok=True)
        self.dimension = int(embeddings.shape[1])
        with (self.folder / "vectors.f32").open("ab") as out:
            out.write(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes())
        with (self.folder / "records.jsonl").open("a", encoding="utf-8") as out:
            for rid, meta in zip(ids, metadatas, strict=True):
                out.write(json.dumps([rid, meta], ensure_ascii=False) + "\n")
        self.count += len(ids)

    def slices(self, size: int) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        row_bytes = self.dimension * 4
        with (self.folder / "vectors.f32").open("rb") as vecs, (self.folder / "records.jsonl").open(
            encoding="utf-8"
        ) as records:
            while True:
                lines = [line for _, line in zip(range(size), records, strict=False)]
                if not lines:
                    return
                pairs = [json.loads(line) for line in lines]
                data = vecs.read(row_bytes * len(pairs))
                embeddings = np.frombuffer(data, dtype=np.float32).reshape(len(pairs), self.dimension)
                yield [p[0] for p in pairs], embeddings, [p[1] for p in pairs]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _embed_chunks(run: _Sync) -> tuple[list[str], np.ndarray, list[dict[str, Any]]] | None:
    """Article chunks (a few thousand at most, kept in memory): ids are not text hashes, so each keeps its
    text's hash. Returns what to write (ids, vectors, metadata), or None when nothing is to be written."""
    table, vectors, report, say, previous, model = (
        run.table, run.vectors, run.report, run.say, run.previous, run.model)  # fmt: skip
    collection = vectors.articles
    wanted: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for r in table.chunk_records():
        text = chunk_text(r)
        sha = text_sha(text)
        wanted[r["chunk_id"]] = (text, sha, _chunk_meta(r, sha))
    existing = vectors.existing(collection)
    stale = [rid for rid in existing if rid not in wanted]
    if stale:
        vectors.delete(collection, stale)
    todo = [rid for rid, (_, sha, _) in wanted.items() if existing.get(rid) != sha]
    if previous is not None and not existing:
        old = previous.existing(previous.articles)
        report.records_deleted += sum(1 for rid in old if rid not in wanted)
    if not todo:
        return None
    by_sha: dict[str, str] = {}
    for rid in todo:
        text, sha, _ = wanted[rid]
        by_sha.setdefault(sha, text)
    cached: dict[str, np.ndarray] = {}
    for source in (vectors, previous):
        if source is not None:
            cached.update(source.vectors_by_text_sha(source.articles, set(by_sha) - set(cached)))
    new_shas = [sha for sha in by_sha if sha not in cached]
    report.texts_reused += len(by_sha) - len(new_shas)
    if new_shas:
        model.load()
        say(f"embedding {len(new_shas):,} unique texts ({collection.name})")
        with model.bar(len(new_shas), collection.name) as bar:
            cached.update(zip(new_shas, model.embed([by_sha[s] for s in new_shas], bar), strict=True))
    return todo, np.stack([cached[wanted[rid][1]] for rid in todo]), [wanted[rid][2] for rid in todo]


def return_free_memory() -> None:
    """Give memory freed so far back to the system before the vector store grows (glibc keeps freed heap
    pages otherwise; parsing a 200k-row file left ~100 MB behind)."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


#: Records embedded and written together: large enough for the embedder's own batching and threads, small
#: enough that a slice's texts and vectors (~8 MB at 512 dimensions) are all the memory a store's size costs.
_SLICE = 4096


class _Model:
    """The embedding model, loaded when the first text needs it; counts what it embeds in the report."""

    def __init__(self, settings: Settings, say: Callable[[str], None], report: IngestReport) -> None:
        self.settings, self.say, self.report = settings, say, report
        self.embedder: Any = None

    def load(self) -> None:
        if self.embedder is None:
            from assistant.embeddings import get_embedder

            self.say("loading the embedding model")
            self.embedder = get_embedder(self.settings)
            self.report.dimension = self.embedder.dimension

    def release(self) -> None:
        """Let the model go before the vector store grows (the next `load` loads it again)."""
        if self.embedder is not None:
            from assistant.embeddings import release_embedder

            self.embedder = None
            release_embedder(self.settings)

    def bar(self, total: int, label: str) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, desc=f"embedding {label}", unit="text", file=sys.stderr, disable=None)

    def embed(self, texts: list[str], bar: Any) -> np.ndarray:
        self.load()
        t0 = time.perf_counter()
        out = self.embedder.embed_documents(texts)
        self.report.embed_seconds += time.perf_counter() - t0
        self.report.texts_embedded += len(texts)
        bar.update(len(texts))
        return np.asarray(out, dtype=np.float32)
