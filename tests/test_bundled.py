"""The whole bundled corpus through the real CLI, and figures checked against the raw files.

Expected values are computed here from the raw CSVs with the csv module only: this file does not
import the code under test to know what the answer should be.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "ingest" / "corpus" / "postings"


def _rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def _raw() -> dict[str, list[dict[str, str]]]:
    lagou = [r for f in sorted((CORPUS / "lagou_2017").glob("*.csv")) for r in _rows(f)]
    return {
        "Lagou": lagou,
        "Zhaopin": _rows(CORPUS / "zhaopin_ai_2025" / "ai_jobs.csv", "gbk"),
        "51job": _rows(CORPUS / "job51_python_2023" / "51job.csv"),
    }


@pytest.fixture(scope="module")
def built(bundled_store: tuple[Path, str]) -> tuple[Path, str]:
    return bundled_store


def _sql(store: Path, sql: str) -> list[tuple[object, ...]]:
    import duckdb  # the test reads the table directly, with its own SQL

    name = (store / "CURRENT").read_text().strip()
    con = duckdb.connect(str(store / name / "postings.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_distinct_postings_per_source_match_the_raw_files(built: tuple[Path, str]) -> None:
    store, _ = built
    raw = _raw()
    expected = {
        "Lagou": len({r["职位编码"] for r in raw["Lagou"]}),  # one posting per board job id
        "Zhaopin": len({tuple(r.values()) for r in raw["Zhaopin"]}),  # exact repeats are one posting
        "51job": len({tuple(r.values()) for r in raw["51job"] if r["jobName"].strip()}),
    }
    got = dict(_sql(store, "SELECT source, count(*) FROM postings GROUP BY source"))  # type: ignore[arg-type]
    assert got == expected
    assert expected["Lagou"] == 9109  # the README's 9,386 rows hold 277 repeats across keyword files


def test_keywords_of_a_job_listed_under_several_searches(built: tuple[Path, str]) -> None:
    store, _ = built
    files_by_id: dict[str, set[str]] = defaultdict(set)
    for path in sorted((CORPUS / "lagou_2017").glob("*.csv")):
        for row in _rows(path):
            files_by_id[row["职位编码"]].add(path.stem.replace("_", " "))
    multi = {k: sorted(v) for k, v in files_by_id.items() if len(v) > 1}
    got = {
        job: list(keywords)
        for job, keywords in _sql(store, "SELECT board_job_id, keywords FROM postings WHERE len(keywords) > 1")
    }
    assert got == multi and len(multi) > 150


@pytest.mark.parametrize(
    "source, text, low, high",
    [("Lagou", "15k-30k", 15000, 30000), ("Zhaopin", "1.5-2.5万", 15000, 25000), ("51job", "1-1.5万", 10000, 15000)],
)
def test_salary_counts_match_the_raw_strings(
    built: tuple[Path, str], source: str, text: str, low: int, high: int
) -> None:
    store, _ = built
    raw = _raw()[source]
    column = {"Lagou": "薪资待遇", "Zhaopin": "薪酬", "51job": "salary"}[source]
    key = {"Lagou": lambda r: r["职位编码"]}.get(source, lambda r: tuple(r.values()))
    expected = len({key(r) for r in raw if r[column].strip().lower() == text.lower()})
    got = _sql(
        store,
        f"SELECT count(*) FROM postings WHERE source = '{source}' AND salary_min = {low} AND salary_max = {high} "
        f"AND lower(salary_raw) = lower('{text}')",
    )[0][0]
    assert got == expected > 50


def test_lagou_median_salary_midpoint_for_nlp_search(built: tuple[Path, str]) -> None:
    store, _ = built
    mids = {}
    for row in _rows(CORPUS / "lagou_2017" / "nlp.csv"):
        match = re.fullmatch(r"(\d+)[kK]-(\d+)[kK]", row["薪资待遇"].strip())
        if match:
            mids[row["职位编码"]] = (int(match[1]) + int(match[2])) * 500
    values = sorted(mids.values())
    n = len(values)
    expected = (values[n // 2] + values[(n - 1) // 2]) / 2
    got = _sql(
        store,
        "SELECT median((salary_min + salary_max) / 2), count(*) FROM postings "
        "WHERE list_contains(keywords, 'nlp') AND regexp_full_match(salary_raw, '\\d+[kK]-\\d+[kK]')",
    )[0]
    assert (got[0], got[1]) == (expected, n)


def test_city_counts(built: tuple[Path, str]) -> None:
    store, _ = built
    raw = _raw()
    lagou_bj = len({r["职位编码"] for r in raw["Lagou"] if r["所在城市"] == "北京"})
    zhaopin_hz = len({tuple(r.values()) for r in raw["Zhaopin"] if r["城市"] == "杭州"})
    job51_wh = len({tuple(r.values()) for r in raw["51job"] if r["area"].startswith(("湖北省武汉", "武汉"))})
    got = dict(
        _sql(
            store,
            "SELECT source || ':' || city, count(*) FROM postings WHERE (source, city) IN "
            "(('Lagou', 'Beijing'), ('Zhaopin', 'Hangzhou'), ('51job', 'Wuhan')) GROUP BY 1",
        )  # type: ignore[arg-type]
    )
    assert got == {"Lagou:Beijing": lagou_bj, "Zhaopin:Hangzhou": zhaopin_hz, "51job:Wuhan": job51_wh}


def test_the_hand_edited_zhaopin_row_is_not_believed(built: tuple[Path, str]) -> None:
    store, _ = built
    row = _sql(store, "SELECT salary_min, salary_max FROM postings WHERE salary_raw = '1.5-30万'")
    assert row == [(None, None)]


def test_articles_and_report(built: tuple[Path, str]) -> None:
    store, stdout = built
    titles = dict(_sql(store, "SELECT source_file, any_value(title) FROM chunks GROUP BY 1"))  # type: ignore[arg-type]
    assert len(titles) == 5 and all(k.startswith("bundled:articles/") for k in titles)
    assert "Skip to main content" not in titles["bundled:articles/004_8fcb60a14126594e.txt"]
    assert "rows/s" in stdout and "texts embedded" in stdout


def test_reingest_is_a_no_op_and_stats_describe_the_store(built: tuple[Path, str]) -> None:
    store, _ = built
    run = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", "--bundled", "--store", str(store)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0 and "store unchanged" in run.stdout and "texts embedded: 0" in run.stdout
    stats = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "stats", "--store", str(store), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    doc = json.loads(stats.stdout)
    assert {s["source"] for s in doc["sources"]} == {"Lagou", "Zhaopin", "51job"}
    assert len(doc["articles"]) == 5 and doc["postings"] > 16000
