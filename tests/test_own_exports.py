"""A person's own export in the shape public datasets come in: pay as two numeric columns (lowest and highest
monthly pay) with 0 where none was stated, education and experience columns, Chinese headers. Its figures
must equal what the standard library computes from the same file."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.market import PostingsTable
from assistant.schema import Filters
from assistant.store import current_generation
from ingest.pipeline import IngestOptions, ingest

HEADERS = ["招聘岗位", "工作城市", "最低月薪", "最高月薪", "职位描述", "学历要求", "要求经验", "发布日期"]
CITIES = {"北京": "Beijing", "上海": "Shanghai", "杭州": "Hangzhou"}
EDUCATION = {"本科": "bachelor", "硕士": "master", "大专": "college", "学历不限": None}


def _export(path: Path, rows: int = 90, seed: int = 3) -> list[list[object]]:
    """An .xlsx of `rows` postings; pay is 0/0 in about one row in eight and blank in a few (not stated)."""
    from openpyxl import Workbook

    rng = random.Random(seed)
    made: list[list[object]] = []
    for i in range(rows):
        low = rng.choice([8000, 12000, 15000, 20000, 25000])
        high = low + rng.choice([3000, 5000, 10000])
        kind = rng.random()
        pay: tuple[object, object] = (0, 0) if kind < 0.12 else (None, None) if kind < 0.16 else (low, high)
        made.append([rng.choice(["算法工程师", "数据分析师", "大模型应用开发", "机器学习工程师"]),
                     rng.choice(list(CITIES)), pay[0], pay[1], f"岗位职责第{i}条", rng.choice(list(EDUCATION)),
                     rng.choice(["1-3年", "3-5年", "经验不限"]), "2023-05-01"])  # fmt: skip
    made += [list(made[0]), list(made[0]), list(made[1])]  # exact repeats, as exports have them
    book = Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    for row in made:
        sheet.append(row)
    book.save(path)
    return made


def _stated(value: object) -> bool:
    return value not in (None, "", 0)


@pytest.fixture
def table(tmp_path: Path, fake_embedder: Callable[[str], object]) -> tuple[PostingsTable, list[list[object]]]:
    rows = _export(tmp_path / "ai_jobs.xlsx")
    settings = Settings(store=tmp_path / "store")
    report = ingest([tmp_path / "ai_jobs.xlsx"], settings, IngestOptions(source="Export"))
    assert report.ok, report.render()
    (result,) = report.files
    distinct = {tuple(r) for r in rows}
    zero_or_blank = sum(1 for r in distinct if not _stated(r[2]) and not _stated(r[3]))
    assert result.unknown.get("salary not stated") == zero_or_blank  # 0 and blank are "not stated"
    assert not [reason for reason in result.unknown if "not understood" in reason]
    gen = current_generation(settings.store)
    assert gen is not None
    opened = PostingsTable(gen / "postings.duckdb", read_only=True)
    return opened, rows


def test_two_pay_columns_give_the_figures_the_file_gives(table: tuple[PostingsTable, list[list[object]]]) -> None:
    from assistant import figures

    db, rows = table
    try:
        for chinese, city in CITIES.items():
            listed = [r for r in rows if r[1] == chinese]
            mine = [list(r) for r in dict.fromkeys(tuple(r) for r in listed)]  # an exact repeat is one posting
            got = {f.name: f for f in figures.count(db, Filters(cities=(city,)))}
            assert got["count"].value == len(mine)
            if len(listed) != len(mine):
                assert got["count_rows"].value == len(listed)
            # No company column: near-duplicates can only be told by title and city, and the figure says so.
            assert "count_distinct_jobs" not in got
            assert got["count_distinct_title_city"].value == len({(r[0], r[1]) for r in mine})
            paid = [(int(r[2]) + int(r[3])) / 2 for r in mine if _stated(r[2]) and _stated(r[3])]  # type: ignore[call-overload]
            median = next(f for f in figures.salary(db, Filters(cities=(city,))) if f.name == "salary_median")
            assert median.n == len(paid) and median.value == round(statistics.median(paid), 1)
            levels = Counter(EDUCATION[str(r[5])] for r in mine)
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
