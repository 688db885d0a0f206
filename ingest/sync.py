"""Make the vector records match the postings table: embed only texts no record holds, into a new segment."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.config import Settings
from assistant.errors import RuntimeFailure
from assistant.generations import KINDS, Segment, new_segment_name
from assistant.market import PostingsTable
from ingest.report import IngestReport
from ingest.summarize import embedding_text

if TYPE_CHECKING:
    from assistant.store import VectorSpace


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def vector_key(text: str, board: str) -> str:
    """The id of the one vector record that all of a board's postings with this embedded text share.

    The embedded text holds title, role family, city and skills, so those postings agree on every field a
    filter uses; a third of the bundled postings repeat another's text (reposts, other dates, other firms).
    """
    return "v" + text_sha(f"{board}\x1f{text}")


def chunk_key(chunk_id: str, text: str) -> str:
    """The id of an article chunk's vector record: its chunk and its text (an edited chunk is a new record)."""
    return "c" + text_sha(f"{chunk_id}\x1f{text}")


def _posting_meta(record: dict[str, Any]) -> dict[str, Any]:
    """What Chroma keeps beside a posting's vector: the fields its `where` filters use, nothing else (each
    field costs ~0.8 s per 10k records to write). The record's id is a hash of its text, which is how a
    re-run finds the vector again; text, pay and dates live in the postings table."""
    return {"city": record["city"], "role_family": record["role_family"], "source": record["source"]}


def chunk_text(record: dict[str, Any]) -> str:
    """What an article chunk's vector is computed from: its article's title, then the chunk."""
    return f"{record['title']}\n{record['text']}"


def posting_text(record: dict[str, Any]) -> str:
    """What a posting's vector is computed from (see `ingest.summarize.embedding_text`)."""
    return embedding_text(record["title"], record["role_family"], record["city"], record["skills"])


#: Segments of one kind a generation lists at most; past it, the smaller ones are folded into the new one.
MAX_SEGMENTS = 6
#: A segment with fewer live records than this share is folded (its live records copied) into the new one.
MIN_LIVE_SHARE = 0.5


def sync_vectors(
    table: PostingsTable,
    space: VectorSpace,
    settings: Settings,
    report: IngestReport,
    say: Callable[[str], None],
    generation: int,
    base: list[Segment],
    touched: bool,
) -> list[Segment]:
    """Make the vector records match the table, touching only what changed; returns the segments the new
    generation lists.

    Each posting maps to the record of its (board, embedded text), each chunk to the record of its text
    (`posting_vectors`, `chunk_vectors`). Records no longer mapped are marked dead and records mapped
    again are marked live, in the table alone; only texts held by no record are embedded, into one new
    segment written by this run. The segments of the live generation are never written: readers keep
    reading them while this runs, and a failed or killed run leaves a segment nothing lists (removed by the
    next run). A segment mostly dead, or past `MAX_SEGMENTS`, is folded: its live records are copied into
    the new segment. `touched`: only the touched postings' vector keys are computed again.
    """
    model = _Model(settings, say, report)
    spill = _Spill(table.path.parent / ".vectors-spill")
    listed = {s.name for s in base}
    segments: list[Segment] = []
    try:
        read_again = _map_postings(table, touched)
        _map_chunks(table)
        for kind in KINDS:
            retired, revived, missing = table.reconcile_records(kind)
            report.records_deleted += retired
            # The postings read again whose text a record already holds: their vectors are used as they are.
            report.texts_reused += read_again - len(missing) if kind == "posting" else revived
            counts = {name: c for name, c in table.segment_counts().items() if c[0] == kind and name in listed}
            fold = _to_fold(counts)
            new_name = new_segment_name(kind, generation)
            written = 0
            if missing:
                _embed_missing(table, kind, set(missing), touched, model, spill, say)
                model.release()
                return_free_memory()
                collection = space.create(new_name)
                say(f"writing {spill.count:,} new {kind} vectors")
                keys: list[str] = []
                for ids, embeddings, metadatas in spill.slices(_SLICE):
                    space.add(collection, ids, embeddings, metadatas)
                    keys += ids
                table.add_records(kind, new_name, keys)
                written += len(keys)
                spill.remove()
                spill = _Spill(table.path.parent / ".vectors-spill")
            for old in fold:
                live = table.live_keys(old)
                if live:
                    collection = space.create(new_name)
                    say(f"folding {len(live):,} live {kind} vectors of segment {old} into {new_name}")
                    source = space.open(old)
                    for start in range(0, len(live), _SLICE):
                        ids, embeddings, metadatas = space.get(source, live[start : start + _SLICE])
                        if len(ids) != len(live[start : start + _SLICE]):
                            raise RuntimeFailure(f"vector segment {old} lacks records the table lists; run "
                                                 "`career-assistant check`")  # fmt: skip
                        space.add(collection, ids, embeddings, metadatas)
                    written += len(live)
                table.fold_segment(old, new_name)
            after = table.segment_counts()
            for name in [*sorted(counts), new_name]:
                if name in after and name not in fold and after[name][1]:
                    _, records, live_count = after[name]
                    segments.append(Segment(name, kind, records, live_count))
    finally:
        spill.remove()
    return segments


def sync_lexical(table: PostingsTable, touched: bool, say: Callable[[str], None]) -> None:
    """Index the words of the touched postings and chunks (or of all) for BM25, in the postings table."""
    from collections import Counter

    from assistant.words import tokenize

    def documents() -> Iterator[tuple[str, str, dict[str, int], int]]:
        for kind, rid, text in table.lexical_sources(touched):
            tokens = tokenize(text) or ["_"]  # an empty document still counts, as rank_bm25 counts it
            yield kind, rid, dict(Counter(tokens)), len(tokens)

    say("indexing words" + (" of what changed" if touched else ""))
    table.write_lexical(documents(), touched)


def _to_fold(counts: dict[str, tuple[str, int, int]]) -> list[str]:
    """The live generation's segments of a kind to fold into the new one: the mostly dead ones, and, when the
    others would leave no room for the new segment under `MAX_SEGMENTS`, the smallest of them, so that half
    the places are free again (the large segments of bulk loads are not copied for a small file)."""
    fold = [name for name, (_, records, live) in counts.items() if live < MIN_LIVE_SHARE * records]
    rest = sorted((c[2], name) for name, c in counts.items() if name not in fold)
    if len(rest) > MAX_SEGMENTS - 1:
        fold += [name for _, name in rest[: len(rest) - (MAX_SEGMENTS // 2 - 1)]]
    return sorted(fold)


def _map_postings(table: PostingsTable, touched: bool) -> int:
    """Map the (touched) postings to their records; returns how many distinct records they use."""
    pairs = [(r["posting_id"], vector_key(posting_text(r), r["source"])) for r in table.posting_records(touched)]
    table.set_vector_keys(pairs, "posting", touched=touched)
    return len({key for _, key in pairs})


def _map_chunks(table: PostingsTable) -> None:
    pairs = [(r["chunk_id"], chunk_key(r["chunk_id"], chunk_text(r))) for r in table.chunk_records()]
    table.set_vector_keys(pairs, "article")


def _embed_missing(
    table: PostingsTable,
    kind: str,
    missing: set[str],
    touched: bool,
    model: _Model,
    spill: _Spill,
    say: Callable[[str], None],
) -> None:
    """Embed the texts of the records to make, a slice at a time, into the spill (ids, vectors, metadata)."""
    if kind == "posting":
        records = (
            (vector_key(posting_text(r), r["source"]), posting_text(r), _posting_meta(r))
            for r in table.posting_records(touched)
        )
    else:
        records = (
            (chunk_key(r["chunk_id"], chunk_text(r)), chunk_text(r), {"source_file": r["source_file"]})
            for r in table.chunk_records()
        )
    say(f"embedding {len(missing):,} new texts ({kind}s)")
    slice_: list[tuple[str, str, dict[str, Any]]] = []
    with model.bar(len(missing), kind) as bar:
        for key, text, meta in records:
            if key not in missing:
                continue
            missing.discard(key)
            slice_.append((key, text, meta))
            if len(slice_) >= _SLICE:
                _spill_slice(slice_, model, bar, spill)
                slice_ = []
        if slice_:
            _spill_slice(slice_, model, bar, spill)


def _spill_slice(slice_: list[tuple[str, str, dict[str, Any]]], model: _Model, bar: Any, spill: _Spill) -> None:
    """Embed one slice of records (each distinct text once) and spill it."""
    by_sha: dict[str, str] = {}
    for _, text, _ in slice_:
        by_sha.setdefault(text_sha(text), text)
    embedded = dict(zip(by_sha, model.embed(list(by_sha.values()), bar), strict=True))
    spill.add([key for key, _, _ in slice_], np.stack([embedded[text_sha(text)] for _, text, _ in slice_]),
              [meta for _, _, meta in slice_])  # fmt: skip


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
        with (
            (self.folder / "vectors.f32").open("rb") as vecs,
            (self.folder / "records.jsonl").open(encoding="utf-8") as records,
        ):
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
