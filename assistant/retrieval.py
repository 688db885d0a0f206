"""Hybrid retrieval: dense (Chroma) plus lexical (BM25 over jieba tokens), fused by reciprocal rank.

The packaged embedding model reads almost no Chinese (STACK.md), so BM25 over jieba-segmented text
carries Chinese questions, and the glossary adds the other script's names of every city, role and skill
the question mentions (cross-lingual expansion) before either search runs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant import figures as fig
from assistant.figures import Filters

log = logging.getLogger(__name__)

#: Reciprocal-rank-fusion constant: 60 is the usual choice; larger flattens the rank differences.
RRF_K = 60
#: The dense list counts for less than the lexical one: the packaged English model gives every passage
#: of these AI-jobs articles a similar cosine (0.74-0.78 for a typical question), so its ranks are weak.
DENSE_WEIGHT = 0.5
#: In the score fusion of article chunks the dense cosine, stretched to the pool's spread, gets this share.
ARTICLE_DENSE_SHARE = 0.2
#: At most this many chunks of one article, and one posting per (title, company), in a result list.
PER_ARTICLE = 2
_TOKEN = re.compile(r"[a-z0-9+#.]+|[\u4e00-\u9fff]+")
_STOP = {
    "the", "a", "an", "of", "in", "for", "and", "or", "to", "is", "are", "what", "which", "how", "do", "does",
    "i", "my", "me", "on", "with", "at", "by", "as", "be", "it", "this", "that", "there", "about", "from",
    "的", "了", "是", "在", "和", "吗", "呢", "什么", "哪些", "怎么", "如何", "我", "有", "多少", "一个",
}  # fmt: skip


@dataclass(frozen=True)
class Evidence:
    """One retrieved passage: an article chunk or a posting summary, with where it lives."""

    kind: str  # "article" or "posting"
    record_id: str
    text: str
    source_file: str
    locator: str
    title: str
    score: float

    def to_document(self) -> Document:
        return Document(
            page_content=self.text,
            metadata={
                "kind": self.kind, "id": self.record_id, "source_file": self.source_file,
                "locator": self.locator, "title": self.title, "score": self.score,
            },
        )  # fmt: skip


_SAME_WORD = {"tech": "technology", "hiring": "hire", "jobs": "job", "roles": "role", "ai": "ai"}


def stem(word: str) -> str:
    """A light English stemmer, enough for "competing/competition/compete" or "salaries/salary" to meet:
    plural and -ing/-ed endings off, then the first six letters."""
    word = _SAME_WORD.get(word, word)
    if not word.isalpha() or len(word) <= 4:
        return word
    if word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    for ending in ("ing", "ed"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            word = word[: -len(ending)]
            break
    return word[:6]


def tokenize(text: str) -> list[str]:
    """Lower-cased, lightly stemmed words and jieba segments of Chinese runs, without stop words."""
    import jieba

    tokens: list[str] = []
    for piece in _TOKEN.findall(text.lower()):
        if piece[0] >= "\u4e00":
            tokens.extend(t for t in jieba.lcut_for_search(piece) if t not in _STOP)
        elif piece not in _STOP and len(piece) > 1 or piece in ("c", "r"):
            tokens.append(stem(piece.strip(".")))
    return tokens


def _scored(item: Evidence, score: float) -> Evidence:
    return Evidence(item.kind, item.record_id, item.text, item.source_file, item.locator, item.title, score)


class _LexicalIndex:
    """BM25 over all article chunks and posting summaries of one generation, built once."""

    def __init__(self, corpus: Any) -> None:
        import logging as _logging

        import jieba
        from rank_bm25 import BM25Okapi

        from assistant.vocab import all_skills, skill_aliases

        jieba.setLogLevel(_logging.WARNING)
        # Domain terms stay whole (自然语言处理, 大模型) instead of being cut into characters.
        for name in all_skills():
            for alias in skill_aliases(name):
                if any("\u4e00" <= ch <= "\u9fff" for ch in alias):
                    jieba.add_word(alias)
        self.records: list[Evidence] = []
        meta: list[tuple[str, str, str]] = []
        for kind in ("article", "posting"):
            for rid, text, source_file, locator, title, city, role, source in fig.passages(corpus, kind):
                self.records.append(Evidence(kind, rid, text, source_file, locator, title, 0.0))
                meta.append((city, role, source))
        self.kind = np.array([r.kind for r in self.records])
        self.city = np.array([m[0] for m in meta])
        self.role = np.array([m[1] for m in meta])
        self.source = np.array([m[2] for m in meta])
        self.bm25 = _InvertedBM25(BM25Okapi([tokenize(f"{r.title} {r.text}") or ["_"] for r in self.records]))

    def search(self, text: str, kind: str, filters: Filters | None, limit: int) -> list[Evidence]:
        tokens = tokenize(text)
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        mask = self.kind == kind
        if filters is not None and kind == "posting":
            for values, column in ((filters.cities, self.city), (filters.roles, self.role),
                                   (filters.sources, self.source)):  # fmt: skip
                if values:
                    mask &= np.isin(column, list(values))
        scores = np.where(mask & (scores > 0), scores, -1.0)
        best = np.argsort(-scores)[:limit]
        return [_scored(self.records[i], float(scores[i])) for i in best if scores[i] > 0]


class _InvertedBM25:
    """`BM25Okapi.get_scores`, computed from an inverted index: the same numbers, touching only the
    documents that contain a query term (rank_bm25 looks every term up in every document, ~50 ms a
    question over 16k postings; this is ~1 ms)."""

    def __init__(self, bm25: Any) -> None:
        self.idf: dict[str, float] = bm25.idf
        self.k1: float = bm25.k1
        doc_len = np.asarray(bm25.doc_len, dtype=np.float64)
        self.size = len(doc_len)
        self.norm = bm25.k1 * (1 - bm25.b + bm25.b * doc_len / bm25.avgdl)
        docs: dict[str, list[int]] = {}
        freqs: dict[str, list[int]] = {}
        for i, counts in enumerate(bm25.doc_freqs):
            for term, tf in counts.items():
                docs.setdefault(term, []).append(i)
                freqs.setdefault(term, []).append(tf)
        self.postings = {t: (np.asarray(d, dtype=np.int64), np.asarray(freqs[t], dtype=np.float64))
                         for t, d in docs.items()}  # fmt: skip

    def get_scores(self, query: Sequence[str]) -> np.ndarray:
        score = np.zeros(self.size)
        for term in query:
            hit = self.postings.get(term)
            if hit is None:
                continue
            idx, tf = hit
            score[idx] += (self.idf.get(term) or 0) * (tf * (self.k1 + 1) / (tf + self.norm[idx]))
        return score


#: Indexes of the most recently used generations (shared by every assistant open on one); a page that
#: reopens its store after each upload would otherwise keep one index per generation it ever served.
_INDEXES: OrderedDict[str, _LexicalIndex] = OrderedDict()
_INDEX_LOCK = threading.Lock()
_INDEXES_KEPT = 2


def lexical_index(corpus: Any) -> _LexicalIndex:
    key = str(corpus.generation)
    with _INDEX_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = _LexicalIndex(corpus)
            while len(_INDEXES) > _INDEXES_KEPT:
                _INDEXES.popitem(last=False)
        _INDEXES.move_to_end(key)
        return _INDEXES[key]


def _chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    if filters is None:
        return None
    parts = [
        {field: {"$in": list(values)}}
        for field, values in (("city", filters.cities), ("role_family", filters.roles), ("source", filters.sources))
        if values
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _dense(corpus: Any, vector: np.ndarray, kind: str, filters: Filters | None, limit: int) -> list[Evidence]:
    collection = corpus.vectors.articles if kind == "article" else corpus.vectors.postings
    where = _chroma_where(filters) if kind == "posting" else None
    total = collection.count()
    if not total:
        return []
    got = collection.query(query_embeddings=[vector], n_results=min(limit, total), where=where,
                           include=["distances"])  # fmt: skip
    ids, distances = got["ids"][0], got["distances"][0]
    texts = {row[0]: row for row in fig.passages(corpus, kind, list(ids))}
    out = []
    for rid, dist in zip(ids, distances, strict=True):
        if rid in texts:  # a vector always has its row (one generation); skip rather than fail if not
            _, text, source_file, locator, title, *_ = texts[rid]
            out.append(Evidence(kind, rid, text, source_file, locator, title, 1.0 - float(dist)))
    return out


def fuse(ranked_lists: Iterable[Sequence[Evidence]], k: int, weights: Sequence[float] | None = None) -> list[Evidence]:
    """Weighted reciprocal rank fusion, then diversity: a few chunks per article, one posting per title and
    company."""
    scores: dict[str, float] = {}
    first: dict[str, Evidence] = {}
    for number, ranked in enumerate(ranked_lists):
        weight = weights[number] if weights else 1.0
        for rank, item in enumerate(ranked):
            scores[item.record_id] = scores.get(item.record_id, 0.0) + weight / (RRF_K + rank + 1)
            first.setdefault(item.record_id, item)
    out: list[Evidence] = []
    per_source: dict[str, int] = {}
    for rid in sorted(scores, key=lambda r: -scores[r]):
        item = first[rid]
        group = item.source_file if item.kind == "article" else f"{item.title}|{item.text.split(' | ')[1:2]}"
        limit = PER_ARTICLE if item.kind == "article" else 1
        if per_source.get(group, 0) >= limit:
            continue
        per_source[group] = per_source.get(group, 0) + 1
        out.append(Evidence(item.kind, item.record_id, item.text, item.source_file, item.locator, item.title,
                            round(scores[rid], 5)))  # fmt: skip
        if len(out) == k:
            break
    return out


def fuse_scores(dense: Sequence[Evidence], lexical: Sequence[Evidence], k: int) -> list[Evidence]:
    """Score fusion for the (few) article chunks: BM25 relative to the best hit, plus the dense cosine
    relative to the pool's spread, weighted toward BM25. Rank fusion would let any passage found by
    both searches beat the best lexical hit, and the dense ranks are weak here (see DENSE_WEIGHT).
    The share was chosen on five fact questions about the bundled articles (eval/ measures it)."""
    if not lexical:
        return fuse([dense], k)
    top_lexical = max(e.score for e in lexical) or 1.0
    cosines = [e.score for e in dense]
    low, high = (min(cosines), max(cosines)) if cosines else (0.0, 1.0)
    spread = (high - low) or 1.0
    combined: dict[str, float] = {}
    first: dict[str, Evidence] = {}
    for e in lexical:
        combined[e.record_id] = combined.get(e.record_id, 0.0) + (1 - ARTICLE_DENSE_SHARE) * e.score / top_lexical
        first.setdefault(e.record_id, e)
    for e in dense:
        combined[e.record_id] = combined.get(e.record_id, 0.0) + ARTICLE_DENSE_SHARE * (e.score - low) / spread
        first.setdefault(e.record_id, e)
    ranked = sorted(combined, key=lambda rid: -combined[rid])
    return fuse([[first[rid] for rid in ranked]], k)


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over a store: `invoke("question")` gives fused, diverse Documents.

    Attributes:
        corpus: an opened store (`assistant.corpus.Corpus`).
        k: how many passages to return.
        kinds: which collections to search: "article", "posting" or both.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    corpus: Any
    k: int = 5
    kinds: tuple[str, ...] = ("article", "posting")

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [e.to_document() for e in self.search(query, k=self.k, kinds=self.kinds)]

    def search(
        self,
        text: str,
        k: int = 5,
        kinds: Sequence[str] = ("article", "posting"),
        filters: Filters | None = None,
        expansion: str = "",
    ) -> list[Evidence]:
        """Fused results for `text` (+ `expansion`, the glossary's other-script names), per kind in order."""
        query = f"{text} {expansion}".strip()
        vector = self.corpus.embed_query(query)
        index = lexical_index(self.corpus)
        results: list[Evidence] = []
        for kind in kinds:
            pool = max(4 * k, 20)
            dense = _dense(self.corpus, vector, kind, filters, pool)
            lexical = index.search(query, kind, filters, pool)
            if kind == "article":
                results.extend(fuse_scores(dense, lexical, k))
            else:
                results.extend(fuse([dense, lexical], k, weights=(DENSE_WEIGHT, 1.0)))
        return results


def distinctive_terms(text: str) -> set[str]:
    """The words of a text that can make a passage relevant: tokens other than the corpus's common words."""
    return {t for t in tokenize(text) if t not in _generic_terms() and len(t) > 1}


@cache
def _generic_terms() -> frozenset[str]:
    """Words every passage of this corpus shares (AI, China, jobs...): they do not make a passage relevant."""
    words = ("ai artificial intelligence china chinese job jobs work worker workers tech technology company companies "
             "talent demand market industry role roles career careers people new year years skill skills "
             "engineer engineers develop developer field sector more most many like how what why which who "
             "reason reasons why 为什么 原因 怎么 什么 哪些 "
             "人工智能 中国 工作 岗位 职位 行业 公司 人才 需求 技术 程序员 现在 已经 就业")  # fmt: skip
    return frozenset(t for w in words.split() for t in tokenize(w))
