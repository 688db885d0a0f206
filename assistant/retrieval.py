"""Hybrid retrieval: dense (Chroma) plus lexical (BM25 over jieba tokens), fused.

The dense side embeds the question as asked: the multilingual encoder matches a Chinese question to an
English passage by itself, and appending glossary words to the question blurs its vector (dense recall
0.74 without them, 0.62 with them, on eval/retrieval_bilingual.jsonl). The lexical side searches the
question plus the glossary's other-script names of what it mentions (cross-lingual expansion).

How much the lexical list counts depends on how much of the question it could match: the number of the
question's distinctive words (not the corpus's common ones: AI, China, jobs...) that occur at all in the
passages searched. A Chinese question over English articles often matches none, and its BM25 list is then
noise that must not outvote the dense one; an English question over English articles matches several.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant import figures as fig
from assistant.figures import Filters
from assistant.words import tokenize

if TYPE_CHECKING:
    from langchain_core.documents import Document

log = logging.getLogger(__name__)

#: A filtered vector search that finds too few passing records among the nearest searches among the ones that
#: pass, by id, when there are at most this many in a segment (Chroma's own filter otherwise).
ALLOWED_MAX = 50_000
#: Reciprocal-rank-fusion constant: 60 is the usual choice; larger flattens the rank differences.
RRF_K = 60
#: The lexical list gets its full weight when this many of the question's distinctive words (or all of them,
#: if it has fewer) occur in the passages searched, and proportionally less below (none: the dense list alone).
LEXICAL_FULL_AT = 3
#: In the score fusion of article chunks, BM25 (relative to the best hit) gets at most this share; the dense
#: cosine, stretched to the pool's spread, the rest.
ARTICLE_LEXICAL_SHARE = 0.8
#: At most this many chunks of one article, and one posting per (title, company), in a result list. The
#: bundled articles are few and long, so an answer is often in the third-best chunk of the best article.
PER_ARTICLE = 3


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
    #: Cosine of each of `split_sentences(text)` to the question, when computed (fact answers).
    sentence_similarity: tuple[float, ...] = ()

    def to_document(self) -> Document:
        from langchain_core.documents import Document

        return Document(
            page_content=self.text,
            metadata={
                "kind": self.kind, "id": self.record_id, "source_file": self.source_file,
                "locator": self.locator, "title": self.title, "score": self.score,
            },
        )  # fmt: skip


def _scored(item: Evidence, score: float) -> Evidence:
    return Evidence(item.kind, item.record_id, item.text, item.source_file, item.locator, item.title, score)


class _LexicalIndex:
    """BM25 over all article chunks and posting summaries of one generation (Okapi BM25 as rank_bm25 computes
    it: k1 1.5, b 0.75, negative idf floored at a quarter of the average), from the term tables ingest keeps in
    the postings table. Nothing is built when a generation opens: the tables are made once, by ingest, and
    changed only for the documents an ingest touches."""

    def __init__(self, corpus: Any) -> None:
        self.corpus = corpus
        self.stats = fig.lexical_stats(corpus)

    def lexical_weight(self, text: str, kind: str) -> float:
        """0-1: how far the lexical list can be trusted for `text` over the passages of `kind`."""
        terms = distinctive_terms(text)
        found = len(fig.lexical_terms_present(self.corpus, sorted(terms), kind)) if terms else 0
        return min(1.0, found / max(1, min(LEXICAL_FULL_AT, len(terms))))

    def search(self, text: str, kind: str, filters: Filters | None, limit: int) -> list[Evidence]:
        tokens = tokenize(text)
        if not tokens:
            return []
        scored = fig.lexical_search(self.corpus, tokens, kind, filters, limit, self.stats)
        rows = {row[0]: row for row in fig.passages(self.corpus, kind, [rid for rid, _ in scored])}
        out = []
        for rid, score in scored:
            if rid in rows:
                _, passage, source_file, locator, title, *_ = rows[rid]
                out.append(Evidence(kind, rid, passage, source_file, locator, title, float(score)))
        return out


def lexical_index(corpus: Any) -> _LexicalIndex:
    """The generation's lexical index (its statistics read once per generation)."""
    index = corpus.__dict__.get("_lexical_index")
    if index is None:
        index = corpus.__dict__["_lexical_index"] = _LexicalIndex(corpus)
    return index


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
    where = _chroma_where(filters) if kind == "posting" else None
    if where is None or filters is None:
        hits = corpus.vectors.search(kind, vector, limit, keep=lambda keys: fig.live_vector_keys(corpus, kind, keys))
    else:
        # The table decides which records pass (the fields Chroma's metadata holds too, as before).
        narrow = Filters(cities=filters.cities, roles=filters.roles, sources=filters.sources)
        hits = corpus.vectors.search(
            kind, vector, limit,
            keep=lambda keys: fig.live_vector_keys(corpus, kind, keys, narrow),
            where=where,
            allowed=lambda segment: fig.segment_keys_passing(corpus, segment, narrow, ALLOWED_MAX),
            share=fig.share_passing(corpus, narrow),
        )  # fmt: skip
    keys = [key for key, _ in hits]
    # a posting record is shared by the postings with its text: one of them stands for it
    texts = fig.passages_of_chunk_vectors(corpus, keys) if kind == "article" else fig.passages_of_vectors(corpus, keys)
    out = []
    for key, dist in hits:
        if key in texts:  # a live record always has its row (one generation); skip rather than fail if not
            item_id, text, source_file, locator, title, *_ = texts[key]
            out.append(Evidence(kind, item_id, text, source_file, locator, title, 1.0 - float(dist)))
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


def fuse_scores(
    dense: Sequence[Evidence], lexical: Sequence[Evidence], k: int, lexical_share: float = ARTICLE_LEXICAL_SHARE
) -> list[Evidence]:
    """Score fusion for the (few) article chunks: BM25 relative to the best hit, with `lexical_share`,
    plus the dense cosine relative to the pool's spread. Rank fusion would let any passage found by both
    searches beat the best hit of either."""
    if not lexical or lexical_share <= 0:
        return fuse([dense], k)
    top_lexical = max(e.score for e in lexical) or 1.0
    cosines = [e.score for e in dense]
    low, high = (min(cosines), max(cosines)) if cosines else (0.0, 1.0)
    spread = (high - low) or 1.0
    combined: dict[str, float] = {}
    first: dict[str, Evidence] = {}
    for e in lexical:
        combined[e.record_id] = combined.get(e.record_id, 0.0) + lexical_share * e.score / top_lexical
        first.setdefault(e.record_id, e)
    for e in dense:
        combined[e.record_id] = combined.get(e.record_id, 0.0) + (1 - lexical_share) * (e.score - low) / spread
        first.setdefault(e.record_id, e)
    ranked = sorted(combined, key=lambda rid: -combined[rid])
    return fuse([[first[rid] for rid in ranked]], k)


def hybrid_search(
    corpus: Any,
    text: str,
    k: int = 5,
    kinds: Sequence[str] = ("article", "posting"),
    filters: Filters | None = None,
    expansion: str = "",
) -> list[Evidence]:
    """Fused results for `text` (+ `expansion`, the glossary's other-script names), per kind in order: the
    dense and the BM25 lists of each kind, fused (the LangChain retriever, `assistant.retriever`, wraps it)."""
    query = f"{text} {expansion}".strip()
    vector = corpus.embed_query(text)
    index = lexical_index(corpus)
    results: list[Evidence] = []
    for kind in kinds:
        pool = max(4 * k, 20)
        dense = _dense(corpus, vector, kind, filters, pool)
        lexical = index.search(query, kind, filters, pool)
        weight = index.lexical_weight(query, kind)
        if kind == "article":
            results.extend(fuse_scores(dense, lexical, k, ARTICLE_LEXICAL_SHARE * weight))
        else:
            results.extend(fuse([dense, lexical], k, weights=(1.0, weight)))
    return results


_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\s+-\s+")
#: A sentence's cosine to the question counts this many shared words per 1.0 (0.1 ~ one word): for a
#: Chinese question over an English passage it is all there is to go on.
SEMANTIC_WEIGHT = 10.0
_AMOUNT_QUESTION = re.compile(
    r"how (?:much|many)|what share|percent|\bsalar(?:y|ies)\b|\bpay\b|\bwages?\b|\bearn|\bcompare"
    r"|多少|几|比例|占比|百分|薪|工资|收入|待遇|比较|相比",
    re.I,
)
#: What kind of answer a question asks for, and what a sentence that gives it contains. "Which companies"
#: wants names (capitalised words inside the sentence), "which roles" a job title, "why" a cause.
_ASKS_FOR_NAMES = re.compile(
    r"\b(?:which|what)\b[^?]{0,40}\b(?:compan(?:y|ies)|firms?|giants?|players|employers|businesses)\b"
    r"|哪些[^？?]{0,12}(?:公司|企业|大厂|巨头|厂商|雇主)|哪家|哪几家",
    re.I,
)
_ASKS_FOR_ROLES = re.compile(
    r"\b(?:which|what)\b[^?]{0,30}\b(?:roles?|jobs?|positions?|occupations?|professions?)\b"
    r"|哪些[^？?]{0,12}(?:岗位|职位|工作|角色|职业)|什么(?:岗位|职位|工作)",
    re.I,
)
_ASKS_WHY = re.compile(r"\bwhy\b|为什么|为何|原因|怎么会", re.I)
_ROLE_WORDS = re.compile(
    r"\b(?:engineers?|scientists?|analysts?|developers?|researchers?|specialists?|architects?|designers?)\b"
    r"|工程师|科学家|分析师|研究员",
    re.I,
)
_CAUSE_WORDS = re.compile(
    r"\b(?:because|due to|as a result|driven by|owing to|reasons?|shortage|insufficient|lack(?:s|ing)?|gap|scarce|"
    r"scarcity|outpac\w*)\b|因为|由于|导致|缺乏|不足|短缺",
    re.I,
)
#: Capitalised words that are not names of firms: nationality and place words every passage has.
_NOT_NAMES = frozenset("China Chinese US U.S. American America AI The In As It This That These Its".split())
#: Added to a sentence's score when it holds the kind of answer the question asks for: any such sentence ranks
#: above those without it, however many words a sentence that only restates the question shares with it ("the
#: race for AI talent among tech giants" under "which tech giants compete for AI talent?").
ANSWER_KIND_BONUS = 50.0


def split_sentences(text: str, title: str = "") -> list[str]:
    """A passage's sentences, whitespace collapsed, without headings: the article's own title, a heading run
    into the sentence after it ("The AI Talent Race: … Tech Giants The global race …" keeps "The global race
    …"), and pieces that are headings themselves (short with no closing punctuation, or short and mostly
    capitalised). Nothing is dropped when nothing else would be left."""
    body = text.lstrip()
    head = title.rstrip("…").strip()
    if head and body.startswith(head):
        body = body[len(head) :]
    pieces = [" ".join(s.split()).lstrip("-*•· ") for line in body.splitlines() for s in _SENTENCE.split(line)]
    pieces = [p for p in pieces if p]
    kept = [_after_heading(s) for s in pieces if not _is_heading(s)]
    return kept or pieces


_SMALL_WORDS = frozenset("a an and as at but by for from in into of on or the to vs with beyond after".split())


def _is_heading(piece: str) -> bool:
    words = piece.split()
    if piece[-1] not in '.!?。！？"”’)' and len(words) <= 12:
        return True
    capitalised = sum(1 for w in words if w[:1].isupper() or w.lower() in _SMALL_WORDS)
    return len(words) <= 8 and capitalised >= 0.8 * len(words)


def _after_heading(piece: str) -> str:
    """The sentence without a title-case heading run into its start."""
    words = piece.split()
    for k, word in enumerate(words):
        if word[:1].islower() and word.lower() not in _SMALL_WORDS:
            # words[k - 1] opens the sentence; before it, a heading of at least four words.
            if k >= 5 and words[k - 1][-1:] not in ",:;" and not words[k - 2].endswith(","):
                return " ".join(words[k - 1 :])
            return piece
    return piece


def sentence_scores(sentences: Sequence[str], question: str, similarity: Sequence[float] = ()) -> list[float]:
    """How well each sentence answers the question: words shared with it (distinctive ones twice), a bonus
    when it holds the kind of answer asked for (a number for an amount, names for "which companies", a job
    title for "which roles", a cause for "why"), and the sentence's cosine to the question when given."""
    wanted = set(tokenize(question))
    special = distinctive_terms(question)
    numeric = bool(_AMOUNT_QUESTION.search(question))
    kinds = [(marks, need) for asks, marks, need in _ANSWER_KINDS if asks.search(question)]
    out = []
    for i, sentence in enumerate(sentences):
        words = set(tokenize(sentence))
        digits = numeric and bool(re.search(r"\d", sentence))
        semantic = SEMANTIC_WEIGHT * similarity[i] if i < len(similarity) else 0.0
        # An answer's marks must be its own, not the question's distinctive words: "China faces a shortage" names
        # no cause of the shortage asked about.
        own = [sum(1 for m in marks(sentence) if not special & set(tokenize(m))) >= need for marks, need in kinds]
        kind = ANSWER_KIND_BONUS if any(own) else 0.0
        out.append(len(wanted & words) + len(special & words) + (1.5 if digits else 0.0) + kind + semantic)
    return out


def _names(sentence: str) -> set[str]:
    """Capitalised names past a sentence's first word (ByteDance, Baidu), without nationality and place words."""
    found = {_POSSESSIVE.sub("", m.group()) for m in _CAPITALISED.finditer(sentence) if m.start() > 0}
    return found - _NOT_NAMES


def _words_of(pattern: re.Pattern[str]) -> Callable[[str], set[str]]:
    return lambda sentence: {m.group().lower() for m in pattern.finditer(sentence)}


#: (what a question asking for this kind says, the marks of an answer of this kind, how many it needs).
_ANSWER_KINDS: tuple[tuple[re.Pattern[str], Callable[[str], set[str]], int], ...] = (
    (_ASKS_FOR_NAMES, _names, 2),
    (_ASKS_FOR_ROLES, _words_of(_ROLE_WORDS), 1),
    (_ASKS_WHY, _words_of(_CAUSE_WORDS), 1),
)


_CAPITALISED = re.compile(r"\b[A-Z][\w’'-]*[a-z][\w’'-]*")
_POSSESSIVE = re.compile(r"[’']s$")


def with_sentence_similarity(corpus: Any, items: Sequence[Evidence], question: str) -> list[Evidence]:
    """The passages with each sentence's cosine to the question (one batch through the embedder)."""
    split = [split_sentences(e.text, e.title) for e in items]
    flat = [s for sentences in split for s in sentences]
    if not flat:
        return list(items)
    vectors = corpus.embedder.embed_documents(flat) @ np.asarray(corpus.embed_query(question), dtype=np.float32)
    out, start = [], 0
    for item, sentences in zip(items, split, strict=True):
        sims = tuple(float(x) for x in vectors[start : start + len(sentences)])
        start += len(sentences)
        out.append(Evidence(item.kind, item.record_id, item.text, item.source_file, item.locator, item.title,
                            item.score, sims))  # fmt: skip
    return out


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
