"""The BM25 side of retrieval, kept as term tables in the postings table by ingest: its scores are rank_bm25's
(BM25Okapi over the same documents, computed here independently), after a full build and after incremental
ingests that change, remove and add rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.corpus import Corpus
from assistant.figures import lexical_search, lexical_stats
from assistant.retrieval import lexical_index, tokenize
from assistant.schema import Filters
from ingest.pipeline import IngestOptions, ingest

CITIES = ["北京", "上海", "深圳", "杭州"]
TITLES = ["NLP算法工程师", "数据开发工程师", "Java后端开发", "大模型应用工程师", "推荐算法专家", "Data Engineer",
          "Machine Learning Engineer", "计算机视觉研究员"]  # fmt: skip
QUERIES = ["北京 NLP 算法", "大模型 应用 上海", "data engineer spark", "推荐 算法 算法 深圳", "machine learning",
           "AI hiring demand"]  # fmt: skip


@pytest.fixture(autouse=True)
def _fast_model(fake_embedder: Callable[[str], object]) -> None:
    return None


def _jobs(path: Path, rows: range, tag: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["title,company,city,salary,skills"]
    lines += [f"{TITLES[i % 8]}{tag},公司{i % 13},{CITIES[i % 4]},{10 + i % 9}k-{20 + i % 11}k,\"Python,SQL\""
              for i in rows]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _reference(corpus: Corpus, query: str, kind: str, filters: Filters | None = None) -> list[tuple[str, float]]:
    """rank_bm25 over every document of the generation, as the first release built it in memory."""
    from rank_bm25 import BM25Okapi

    docs = [("article", r[0], f"{r[2]} {r[1]}") for r in corpus.query("SELECT chunk_id, text, title FROM chunks")]
    docs += [("posting", r[0], f"{r[2]} {r[1]}", r[3]) for r in  # type: ignore[misc]
             corpus.query("SELECT posting_id, summary, title, city FROM postings")]  # fmt: skip
    bm25 = BM25Okapi([tokenize(d[2]) or ["_"] for d in docs])
    scores = bm25.get_scores(tokenize(query))
    keep = [i for i, d in enumerate(docs) if d[0] == kind and scores[i] > 0
            and (filters is None or d[3] in filters.cities)]  # fmt: skip
    best = sorted(keep, key=lambda i: (-scores[i], docs[i][1]))[:20]
    return [(docs[i][1], float(scores[i])) for i in best]


def _assert_same(corpus: Corpus) -> None:
    stats = lexical_stats(corpus)
    for query in QUERIES:
        for kind, filters in (("posting", None), ("article", None), ("posting", Filters(cities=("Beijing",)))):
            got = lexical_search(corpus, tokenize(query), kind, filters, 20, stats)
            want = _reference(corpus, query, kind, filters)
            assert [rid for rid, _ in got] == [rid for rid, _ in want], (query, kind, filters)
            assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-9), (query, kind)


def test_scores_equal_rank_bm25_after_a_build_and_after_incremental_ingests(tmp_path: Path) -> None:
    files = tmp_path / "in"
    _jobs(files / "board" / "a.csv", range(300))
    _jobs(files / "board" / "b.csv", range(300, 420))
    (files / "notes.md").write_text("# AI hiring\n\nDemand for NLP engineers doubled in Beijing.\n\n"
                                    "Machine learning roles grew in Shanghai.\n", encoding="utf-8")  # fmt: skip
    settings = Settings(store=tmp_path / "store")
    assert ingest([files], settings, IngestOptions(source="T")).ok
    corpus = Corpus(settings)
    _assert_same(corpus)
    corpus.close()
    # Change rows, remove a file, add one, edit the article: the touched documents only are indexed again.
    _jobs(files / "board" / "a.csv", range(0, 250), tag="（新）")
    (files / "board" / "b.csv").unlink()
    _jobs(files / "board" / "c.csv", range(1000, 1040))
    (files / "notes.md").write_text("# AI hiring\n\nDemand for data engineers grew in Shenzhen.\n", encoding="utf-8")
    report = ingest([files], settings, IngestOptions(source="T", prune=True))
    assert report.ok and report.committed
    corpus = Corpus(settings)
    try:
        _assert_same(corpus)
        incremental = corpus.query("SELECT term, df FROM lexical_df ORDER BY ALL")
        assert lexical_index(corpus).lexical_weight("NLP engineer", "article") >= 0
    finally:
        corpus.close()
    fresh = Settings(store=tmp_path / "fresh")
    assert ingest([files], fresh, IngestOptions(source="T")).ok
    corpus = Corpus(fresh)
    try:
        assert corpus.query("SELECT term, df FROM lexical_df ORDER BY ALL") == incremental
    finally:
        corpus.close()
