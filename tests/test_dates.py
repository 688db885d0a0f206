"""parse_post_date and infer_lagou_scrape_date on real date strings from the bundled postings."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from ingest.dates import infer_lagou_scrape_date, parse_post_date

LAGOU = Path(__file__).resolve().parent.parent / "ingest" / "corpus" / "postings" / "lagou_2017"
SCRAPED = date(2017, 5, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2017-04-27", date(2017, 4, 27), id="lagou absolute"),
        pytest.param("2023-12-12 09:22:00", date(2023, 12, 12), id="51job issueDate"),
        pytest.param("2025/4/1", date(2025, 4, 1), id="zhaopin 职位更新日期"),
        pytest.param("2024/12/31", date(2024, 12, 31), id="zhaopin two-digit month"),
        pytest.param("2024年5月17日", date(2024, 5, 17), id="chinese full date"),
        pytest.param("2023-12-12T09:22:00", date(2023, 12, 12), id="iso with T"),
    ],
)
def test_exact_dates_need_no_scrape_date(text: str, expected: date) -> None:
    assert parse_post_date(text, None) == (expected, "exact")
    assert parse_post_date(text, SCRAPED) == (expected, "exact")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("今天 09:55", date(2017, 5, 3), id="lagou 今天"),
        pytest.param("昨天 14:47", date(2017, 5, 2), id="lagou 昨天 (nlp.csv row 0)"),
        pytest.param("前天", date(2017, 5, 1), id="前天"),
        pytest.param("3天前", date(2017, 4, 30), id="3天前"),
        pytest.param("2周前", date(2017, 4, 19), id="2周前"),
        pytest.param("刚刚", date(2017, 5, 3), id="刚刚"),
        pytest.param("1小时前", date(2017, 5, 3), id="1小时前"),
        pytest.param("25小时前", date(2017, 5, 2), id="25小时前 is a whole day back"),
        pytest.param("30分钟前", date(2017, 5, 3), id="分钟前"),
        pytest.param("3 days ago", date(2017, 4, 30), id="english days ago"),
        pytest.param("yesterday", date(2017, 5, 2), id="english yesterday"),
        pytest.param("04-27", date(2017, 4, 27), id="month-day in scrape year"),
        pytest.param("4月27日", date(2017, 4, 27), id="chinese month-day"),
        pytest.param("12-30", date(2016, 12, 30), id="month-day after scrape day is last year"),
    ],
)
def test_relative_dates_resolve_against_the_scrape_date(text: str, expected: date) -> None:
    assert parse_post_date(text, SCRAPED) == (expected, "relative")
    assert parse_post_date(text, None) == (None, "unknown")  # never invented without a scrape date


@pytest.mark.parametrize(
    "text", [None, "", "   ", "garbage", "2017-02-30", "2月30日", "13-45", "下周", "1个月前", "2017"]
)
def test_unreadable_dates_are_unknown(text: str | None) -> None:
    assert parse_post_date(text, SCRAPED) == (None, "unknown")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("artificial_intelligence.csv", date(2017, 5, 3)),
        ("backend_development.csv", date(2017, 5, 3)),
        ("data_mining.csv", date(2017, 5, 3)),
        ("java.csv", date(2017, 5, 3)),
        # Newest absolute date 2017-04-30; the same job ids are 今天 here and 昨天 in data_mining.csv.
        ("machine_learning.csv", date(2017, 5, 2)),
        ("nlp.csv", date(2017, 5, 3)),
        ("python.csv", date(2017, 5, 3)),
        ("recommendation.csv", date(2017, 5, 3)),
        # 54 rows, newest absolute 2017-04-28: the rule gives the earliest consistent day.
        ("search_algorithms.csv", date(2017, 4, 30)),
    ],
)
def test_infer_lagou_scrape_date_on_each_file(name: str, expected: date) -> None:
    with open(LAGOU / name, encoding="utf-8", newline="") as fh:
        dates = [row["发布日期"] for row in csv.DictReader(fh)]
    scraped = infer_lagou_scrape_date(dates)
    assert scraped == expected
    resolved = [parse_post_date(text, scraped) for text in dates]
    assert all(precision in ("exact", "relative") for _, precision in resolved)
    assert max(day for day, _ in resolved if day is not None) == scraped


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["今天 10:00", "昨天 09:00", "2017-04-28", "2017-04-20"], date(2017, 4, 30)),
        (["今天 10:00", "2017-04-28"], None),  # no 昨天: the rule does not hold
        (["昨天 09:00", "2017-04-28"], None),
        (["今天 10:00", "昨天 09:00"], None),  # no absolute date to count from
        (["2017-04-28", "2017-04-27"], None),
        ([], None),
    ],
)
def test_infer_lagou_scrape_date_needs_today_yesterday_and_an_absolute_date(
    dates: list[str], expected: date | None
) -> None:
    assert infer_lagou_scrape_date(dates) == expected
