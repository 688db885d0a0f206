"""Words of a text for BM25: lower-cased, lightly stemmed English words and jieba's segments of Chinese runs.

Light on purpose (no LangChain): ingest indexes with it and the retriever searches with it.
"""

from __future__ import annotations

import re
import threading
from functools import cache, lru_cache
from typing import Any

_TOKEN = re.compile(r"[a-z0-9+#.]+|[\u4e00-\u9fff]+")
_STOP = {
    "the", "a", "an", "of", "in", "for", "and", "or", "to", "is", "are", "what", "which", "how", "do", "does",
    "i", "my", "me", "on", "with", "at", "by", "as", "be", "it", "this", "that", "there", "about", "from",
    "的", "了", "是", "在", "和", "吗", "呢", "什么", "哪些", "怎么", "如何", "我", "有", "多少", "一个",
}  # fmt: skip


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


_JIEBA_LOCK = threading.Lock()


def _jieba() -> Any:
    """jieba, set up once (see `_setup_jieba`), whichever thread asks first (ingest loads it in the background)."""
    with _JIEBA_LOCK:
        return _setup_jieba()


@cache
def _setup_jieba() -> Any:
    """jieba, with the vocabulary's Chinese skill names as words, so that domain terms stay whole
    (自然语言处理, 大模型) instead of being cut into characters. Set up once, before any segmentation."""
    import logging as _logging

    import jieba

    from assistant.vocab import all_skills, skill_aliases

    jieba.setLogLevel(_logging.WARNING)
    for name in all_skills():
        for alias in skill_aliases(name):
            if any("\u4e00" <= ch <= "\u9fff" for ch in alias):
                jieba.add_word(alias)
    return jieba


def load_dictionary() -> None:
    """Load jieba's dictionary now (it is otherwise loaded by the first Chinese text split)."""
    _jieba().initialize()


@lru_cache(maxsize=1 << 17)
def _segment(run: str) -> tuple[str, ...]:
    """jieba's search segmentation of one run of Chinese characters, without stop words. Memoised: role
    labels, cities and common title words repeat across thousands of postings (index build 9 s -> 2.5 s)."""
    return tuple(t for t in _jieba().lcut_for_search(run) if t not in _STOP)


def tokenize(text: str) -> list[str]:
    """Lower-cased, lightly stemmed words and jieba segments of Chinese runs, without stop words."""
    tokens: list[str] = []
    for piece in _TOKEN.findall(text.lower()):
        if piece[0] >= "\u4e00":
            tokens.extend(_segment(piece))
        elif piece not in _STOP and len(piece) > 1 or piece in ("c", "r"):
            tokens.append(stem(piece.strip(".")))
    return tokens
