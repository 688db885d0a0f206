"""parse_salary on real strings from the bundled postings (source named in each id), and on all."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from ingest.salary import Salary, SalaryError, parse_salary

POSTINGS = Path(__file__).resolve().parent.parent / "ingest" / "corpus" / "postings"

DAY = "per day × 21.75 working days"
HOUR = "per hour × 8 hours × 21.75 working days"
MONTH = "monthly as written"
YEAR = "per year ÷ 12"


@pytest.mark.parametrize(
    ("text", "low", "high", "months", "period", "rule"),
    [
        pytest.param("25k-40k", 25_000, 40_000, None, "month", MONTH, id="lagou/nlp.csv k"),
        pytest.param("10K-20K", 10_000, 20_000, None, "month", MONTH, id="lagou/java.csv K"),
        pytest.param("15k以上", 15_000, None, None, "month", MONTH, id="lagou 以上 min only"),
        pytest.param("1k-2k", 1_000, 2_000, None, "month", MONTH, id="lagou smallest range"),
        pytest.param("2-3.5万", 20_000, 35_000, None, "month", MONTH, id="zhaopin 万 for both"),
        pytest.param("1.2-1.5万·13薪", 12_000, 15_000, 13, "month", MONTH, id="zhaopin 万 13薪"),
        pytest.param("2-4万·20薪", 20_000, 40_000, 20, "month", MONTH, id="zhaopin 20薪"),
        pytest.param("8000-15000元·13薪", 8_000, 15_000, 13, "month", MONTH, id="zhaopin 元 13薪"),
        pytest.param("7000-10000元", 7_000, 10_000, None, "month", MONTH, id="zhaopin 元"),
        pytest.param("4001-6000元", 4_001, 6_000, None, "month", MONTH, id="zhaopin odd bound"),
        pytest.param("150-200元/天", 3_262.5, 4_350, None, "day", DAY, id="zhaopin 元/天"),
        pytest.param("2000-4000元/天", 43_500, 87_000, None, "day", DAY, id="zhaopin lecturer day rate"),
        pytest.param("25元/时", 4_350, 4_350, None, "hour", HOUR, id="zhaopin 元/时"),
        pytest.param("800-1000元/时", 139_200, 174_000, None, "hour", HOUR, id="zhaopin hourly range"),
        pytest.param("10-12万", 100_000, 120_000, None, "month", MONTH, id="zhaopin executive 万 monthly"),
        pytest.param("1-1.5万", 10_000, 15_000, None, "month", MONTH, id="51job 万"),
        pytest.param("6千-1.2万", 6_000, 12_000, None, "month", MONTH, id="51job mixed units per side"),
        pytest.param("6-8千·13薪", 6_000, 8_000, 13, "month", MONTH, id="51job 千 13薪"),
        pytest.param("0.8-1万", 8_000, 10_000, None, "month", MONTH, id="51job 0.8万"),
        pytest.param("7.5千-1.5万·13薪", 7_500, 15_000, 13, "month", MONTH, id="51job 7.5千"),
        pytest.param("3千及以下", None, 3_000, None, "month", MONTH, id="51job 及以下 max only"),
        pytest.param("20-28万/年", 16_666.67, 23_333.33, None, "year", YEAR, id="51job 万/年"),
        pytest.param("12-21.6万/年", 10_000, 18_000, None, "year", YEAR, id="51job decimal 万/年"),
        pytest.param("3万及以下/年", None, 2_500, None, "year", YEAR, id="51job 及以下/年"),
        pytest.param("200元/天", 4_350, 4_350, None, "day", DAY, id="51job single day rate"),
        pytest.param("1.5千/天", 32_625, 32_625, None, "day", DAY, id="51job 千/天"),
        pytest.param("100-200/天", 2_175, 4_350, None, "day", DAY, id="bare numbers per day"),
        pytest.param("30-60K·14薪", 30_000, 60_000, 14, "month", MONTH, id="DESIGN.md K 14薪"),
        pytest.param("20k+", 20_000, None, None, "month", MONTH, id="plus is min only"),
        pytest.param("1.5-2万/月", 15_000, 20_000, None, "month", MONTH, id="explicit /月"),
        pytest.param("50万/年", 41_666.67, 41_666.67, None, "year", YEAR, id="single 万/年"),
    ],
)
def test_parse_salary_cny(
    text: str, low: float | None, high: float | None, months: int | None, period: str, rule: str
) -> None:
    assert parse_salary(text) == Salary(low, high, months, period, "CNY", rule)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$120k/yr", Salary(10_000, 10_000, None, "year", "USD", YEAR)),
        ("¥25k-40k", Salary(25_000, 40_000, None, "month", "CNY", MONTH)),
        ("25k-40k/month", Salary(25_000, 40_000, None, "month", "CNY", MONTH)),
        ("RMB 20,000-30,000 per month", Salary(20_000, 30_000, None, "month", "CNY", MONTH)),
        ("USD 8,000/mo", Salary(8_000, 8_000, None, "month", "USD", MONTH)),
        ("€60k-80k p.a.", Salary(5_000, 6_666.67, None, "year", "EUR", YEAR)),
        ("HK$30k-40k", Salary(30_000, 40_000, None, "month", "HKD", MONTH)),
        ("$40-50/hour", Salary(6_960, 8_700, None, "hour", "USD", HOUR)),
    ],
)
def test_parse_salary_english_and_currencies(text: str, expected: Salary) -> None:
    assert parse_salary(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "面议", "薪资面议", "negotiable", "Negotiable"])
def test_not_stated_is_none(text: str | None) -> None:
    # "面议" is zhaopin (89 rows); "" is 51job (158 rows)
    assert parse_salary(text) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("1.5-30万", "implausible range 15000-300000", id="zhaopin hand-edited first row"),
        pytest.param("9\ufffd-1.5万·13薪", "unreadable character", id="51job cut character"),
        pytest.param("5k-60k", "implausible range 5000-60000", id="ratio above 10"),
        pytest.param("40k-20k", "minimum above maximum 40000-20000", id="reversed"),
        pytest.param("200元", "implausible minimum 200/month", id="under 500 a month"),
        pytest.param("50万/天", "implausible maximum 10875000/month", id="over 1,000,000 a month"),
        pytest.param("15-25", "amount without unit '15-25'", id="bare small numbers"),
        pytest.param("14薪", "no amount", id="months only"),
        pytest.param("10k-20k·30薪", "implausible months per year 30", id="months"),
        pytest.param("about ten thousand", "no amount", id="words"),
        pytest.param("10k-20k-30k", "unrecognised salary format", id="three numbers"),
        pytest.param("10k-20k以上", "a range with an open bound", id="range and 以上"),
        pytest.param("9" * 400 + "k", "amount too long to be a salary '99999", id="400 digits"),
        pytest.param("1" + "0" * 20 + "-2" + "0" * 20, "amount too long to be a salary", id="21-digit range"),
    ],
)
def test_rejections_say_why(text: str, reason: str) -> None:
    with pytest.raises(SalaryError) as info:
        parse_salary(text)
    assert reason in str(info.value)
    assert isinstance(info.value, ValueError)
    assert len(str(info.value)) < 120  # a reason, not the value echoed back


def _salary_strings() -> dict[str, list[str]]:
    """Every salary string of the three bundled sources, read with csv (Zhaopin is GBK)."""
    found: dict[str, list[str]] = {"lagou": [], "zhaopin": [], "51job": []}
    for path in sorted((POSTINGS / "lagou_2017").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            found["lagou"] += [row["薪资待遇"] for row in csv.DictReader(fh)]
    with open(POSTINGS / "zhaopin_ai_2025" / "ai_jobs.csv", encoding="gbk", newline="") as fh:
        found["zhaopin"] = [row["薪酬"] for row in csv.DictReader(fh)]
    with open(POSTINGS / "job51_python_2023" / "51job.csv", encoding="utf-8", newline="") as fh:
        found["51job"] = [row["salary"] for row in csv.DictReader(fh)]
    return found


def test_every_salary_string_in_the_data() -> None:
    """Measured: lagou 9386/0/0, zhaopin 2685/89/1, 51job 4422/158/1 (parsed/not stated/rejected)."""
    expected = {
        "lagou": (9386, 0, 0, set()),
        "zhaopin": (2685, 89, 1, {"implausible range 15000-300000"}),
        "51job": (4422, 158, 1, {"unreadable character (U+FFFD) in salary text"}),
    }
    for source, strings in _salary_strings().items():
        counts: Counter[str] = Counter()
        reasons: set[str] = set()
        for text in strings:
            try:  # any exception other than SalaryError fails the test
                salary = parse_salary(text)
            except SalaryError as exc:
                counts["rejected"] += 1
                reasons.add(str(exc))
                continue
            counts["parsed" if salary else "not stated"] += 1
            if salary is not None:
                assert salary.currency == "CNY"
                assert salary.min_monthly is not None or salary.max_monthly is not None
        parsed, not_stated, rejected, why = expected[source]
        found = (counts["parsed"], counts["not stated"], counts["rejected"])
        assert found == (parsed, not_stated, rejected), source
        assert reasons == why, source
