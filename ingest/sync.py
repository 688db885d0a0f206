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


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _posting_meta(record: dict[str, Any], sha: str) -> dict[str, Any]:
    posted = record["posted"]
    return {
        "text_sha": sha,
        "source": record["source"],
        "source_file": record["source_file"],
        "row": record["row"],
        "title": record["title"],
        "city": record["city"],
        "role_family": record["role_family"],
        "salary_min": record["salary_min"],
        "salary_max": record["salary_max"],
        "posted": posted.isoformat() if posted else None,
        # An integer date (20170427) so Chroma `where` filters can compare ranges.
        "posted_int": int(posted.strftime("%Y%m%d")) if posted else None,
        "skills": record["skills"],
    }


def _chunk_meta(record: dict[str, Any], sha: str) -> dict[str, Any]:
    return {
        "text_sha": sha,
        "source_file": record["source_file"],
        "title": record["title"],
        "position": record["position"],
        "article_id": record["article_id"],
    }


def sync_vectors(
    table: PostingsTable,
    vectors: VectorCollections,
    embedder: Any,
    settings: Settings,
    report: IngestReport,
    say: Callable[[str], None],
) -> None:
    """Delete records that are gone, embed and upsert those whose text is new or changed."""
    wanted_postings = {
        r["posting_id"]: (r["summary"], _posting_meta(r, text_sha(r["summary"]))) for r in table.posting_records()
    }
    wanted_chunks = {}
    for r in table.chunk_records():
        text = f"{r['title']}\n{r['text']}"
        wanted_chunks[r["chunk_id"]] = (text, _chunk_meta(r, text_sha(text)))
    for collection, wanted in ((vectors.postings, wanted_postings), (vectors.articles, wanted_chunks)):
        existing = vectors.existing(collection)
        stale = [rid for rid in existing if rid not in wanted]
        if stale:
            vectors.delete(collection, stale)
            report.records_deleted += len(stale)
        todo = [rid for rid, (_, meta) in wanted.items() if existing.get(rid) != meta["text_sha"]]
        if not todo:
            continue
        # Cache by text hash: a text already embedded under any id (this run or before) is not embedded again.
        by_sha: dict[str, str] = {}
        for rid in todo:
            text, meta = wanted[rid]
            by_sha.setdefault(meta["text_sha"], text)
        known = {sha: rid for rid, sha in existing.items() if sha in by_sha and rid in wanted}
        vectors_by_sha: dict[str, np.ndarray] = {}
        if known:
            got = collection.get(ids=list(known.values()), include=["embeddings", "metadatas"])
            for emb, meta in zip(got["embeddings"], got["metadatas"], strict=True):
                vectors_by_sha[str(meta["text_sha"])] = np.asarray(emb, dtype=np.float32)
        new_shas = [sha for sha in by_sha if sha not in vectors_by_sha]
        report.texts_reused += len(by_sha) - len(new_shas)
        if new_shas:
            say(f"embedding {len(new_shas):,} unique texts ({collection.name})")
            t0 = time.perf_counter()
            embedded = _embed_with_progress(embedder, [by_sha[s] for s in new_shas], settings, collection.name)
            report.embed_seconds += time.perf_counter() - t0
            report.texts_embedded += len(new_shas)
            vectors_by_sha.update(zip(new_shas, embedded, strict=True))
        say(f"writing {len(todo):,} records ({collection.name})")
        matrix = np.stack([vectors_by_sha[wanted[rid][1]["text_sha"]] for rid in todo])
        vectors.upsert(
            collection,
            ids=todo,
            documents=[wanted[rid][0] for rid in todo],
            embeddings=matrix,
            metadatas=[wanted[rid][1] for rid in todo],
        )


def _embed_with_progress(embedder: Any, texts: list[str], settings: Settings, label: str) -> np.ndarray:
    from tqdm import tqdm

    # Large slices keep the embedder's own length-sorting effective; the bar only needs a few steps.
    step = max(settings.embed_batch_size * 16, 1024)
    parts = []
    with tqdm(total=len(texts), desc=f"embedding {label}", unit="text", file=sys.stderr, disable=None) as bar:
        for start in range(0, len(texts), step):
            parts.append(embedder.embed_documents(texts[start : start + step]))
            bar.update(min(step, len(texts) - start))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), dtype=np.float32)
