"""A person's own export in the shape public datasets come in: pay as two numeric columns (lowest and highest
monthly pay) with 0 where none was stated, education and experience columns, Chinese headers. Its figures
must equal what the standard library computes from the same file."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.generations import current_generation
from assistant.market import PostingsTable
from assistant.schema import Filters
from ingest.pipeline import IngestOptions, ingest
from tests.exports import EDUCATION, distinct, postings, save_xlsx, stated

COLUMNS = {"招聘岗位": "title", "工作城市": "city", "最低月薪": "low", "最高月薪": "high", "职位描述": "description",
           "学历要求": "education", "要求经验": "experience", "发布日期": "date"}  # fmt: skip
CITIES = {"北京": "Beijing", "上海": "Shanghai", "杭州": "Hangzhou"}


@pytest.fixture
def table(tmp_path: Path, fake_embedder: Callable[[str], object]) -> tuple[PostingsTable, list[dict[str, Any]]]:
    rows = postings(90, list(CITIES), seed=3)
    save_xlsx(tmp_path / "ai_jobs.xlsx", COLUMNS, rows)
    settings = Settings(store=tmp_path / "store")
    report = ingest([tmp_path / "ai_jobs.xlsx"], settings, IngestOptions(source="Export"))
    assert report.ok, report.render()
    (result,) = report.files
    merged = distinct(rows, list(COLUMNS.values()))
    zero_or_blank = sum(1 for r in merged if not stated(r["low"]) and not stated(r["high"]))
    assert result.unknown.get("salary not stated") == zero_or_blank  # 0 and blank are "not stated"
    assert not [reason for reason in result.unknown if "not understood" in reason]
    gen = current_generation(settings.store)
    assert gen is not None
    opened = PostingsTable(gen / "postings.duckdb", read_only=True)
    return opened, rows


def test_two_pay_columns_give_the_figures_the_file_gives(table: tuple[PostingsTable, list[dict[str, Any]]]) -> None:
    from assistant import figures

    db, rows = table
    try:
        for chinese, city in CITIES.items():
            listed = [r for r in rows if r["city"] == chinese]
            mine = distinct(listed, list(COLUMNS.values()))  # an exact repeat is one posting
            got = {f.name: f for f in figures.count(db, Filters(cities=(city,)))}
            assert got["count"].value == len(mine)
            if len(listed) != len(mine):
                assert got["count_rows"].value == len(listed)
            # No company column: near-duplicates can only be told by title and city, and the figure says so.
            assert "count_distinct_jobs" not in got
            assert got["count_distinct_title_city"].value == len({(r["title"], r["city"]) for r in mine})
            paid = [(r["low"] + r["high"]) / 2 for r in mine if stated(r["low"]) and stated(r["high"])]
            median = next(f for f in figures.salary(db, Filters(cities=(city,))) if f.name == "salary_median")
            assert median.n == len(paid) and median.value == round(statistics.median(paid), 1)
            levels = Counter(EDUCATION[r["education"]] for r in mine)
            (bachelor,) = figures.share(db, Filters(cities=(city,), education=("bachelor",)), Filters(cities=(city,)))
            assert bachelor.value == round(100 * levels["bachelor"] / len(mine), 1)
    finally:
        db.close()


def test_one_sided_pay_and_a_yearly_export(tmp_path: Path, fake_embedder: Callable[[str], object]) -> None:
    path = tmp_path / "yearly.csv"
    path.write_text("title,city,salary_min,salary_max\nNLP工程师,北京,240000,360000\n数据工程师,上海,180000,0\n"
                    "算法工程师,杭州,,300000\n", encoding="utf-8")  # fmt: skip
    settings = Settings(store=tmp_path / "store")
    assert ingest([path], settings, IngestOptions(pay_period="year")).ok
    gen = current_generation(settings.store)
    assert gen is not None
    with PostingsTable(gen / "postings.duckdb", read_only=True) as db:
        got = db.query("SELECT title, salary_raw, salary_min, salary_max, salary_period FROM postings ORDER BY 1")
    assert got == [
        ("NLP工程师", "240000-360000元/年", 20000.0, 30000.0, "year"),
        ("数据工程师", "180000元/年以上", 15000.0, None, "year"),
        ("算法工程师", "300000元/年以下", None, 25000.0, "year"),
    ]


def test_a_file_without_any_pay_column_is_refused(tmp_path: Path, fake_embedder: Callable[[str], object]) -> None:
    path = tmp_path / "nopay.csv"
    path.write_text("title,city\nNLP工程师,北京\n", encoding="utf-8")
    report = ingest([path], Settings(store=tmp_path / "store"))
    (result,) = report.files
    assert result.status == "failed" and "no salary column" in result.error
