"""A new user's own export, through the page alone: the page starts on an empty store, the file is uploaded,
the mapping step shows its first rows and a suggested mapping, one wrong suggestion is corrected in the page,
and the figures then equal what the standard library computes from the file (real Chromium, real model)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from tests.exports import EDUCATION, distinct, postings, save_xlsx, stated

SHOTS = Path(__file__).resolve().parent / "output" / "browser"
pytestmark = pytest.mark.slow

#: The export's shape, with "岗位" holding the department (a header-name match for the title that is wrong
#: here) and the titles in "职位全称".
COLUMNS = {"职位全称": "title", "岗位": "department", "工作城市": "city", "最低月薪": "low", "最高月薪": "high",
           "职位描述": "description", "学历要求": "education", "要求经验": "experience",
           "发布日期": "date"}  # fmt: skip
CITIES = {"北京": "Beijing", "上海": "Shanghai", "茂名": "Maoming"}


def test_an_export_goes_in_through_the_mapping_step_and_its_figures_match_the_file(
    browser: Any, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    from assistant import figures
    from assistant.api import CareerAssistant
    from assistant.schema import Filters
    from assistant.ui import serve

    store = tmp_path / "new-store"  # does not exist yet: the page must start anyway
    rows = postings(80, list(CITIES), seed=11, blank_pay=0)
    export = save_xlsx(tmp_path / "ai_jobs_2023.xlsx", COLUMNS, rows)
    port = free_port()
    demo = serve(Settings(store=store), port=port, block=False)
    context = browser.new_context(viewport={"width": 1500, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#question textarea")
        assert "This store has no data yet" in page.locator("#store").inner_text()

        page.set_input_files("#upload input[type=file]", [str(export)])
        page.wait_for_selector("#mapping #map-rows table", timeout=60_000)
        note = page.locator("#map-note").inner_text()
        assert "ai_jobs_2023.xlsx" in note and "9 columns" in note, note
        shown = page.locator("#map-rows").inner_text()
        assert "职位全称" in shown and rows[0]["title"] in shown  # the headers and the first rows
        assert page.locator("#map-city input").input_value() == "工作城市"
        assert page.locator("#map-salary_min input").input_value() == "最低月薪"
        assert page.locator("#map-education input").input_value() == "学历要求"
        assert page.locator("#map-title input").input_value() == "岗位"  # by header name, and wrong here

        page.click("#map-title input")
        page.fill("#map-title input", "职位全称")
        page.locator("ul[role=listbox] li", has_text="职位全称").first.click()
        page.wait_for_function("document.querySelector('#map-note').innerText.includes('your choice')")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "mapping-step.png"), full_page=True)

        page.click("#add")
        page.wait_for_function("document.querySelector('#upload-report').innerText.includes('(added)')",
                               timeout=300_000)  # fmt: skip
        merged = distinct(rows, list(COLUMNS.values()))
        report = page.locator("#upload-report").inner_text()
        assert f"ai_jobs_2023.xlsx: {len(rows)} posting rows (added)" in report, report
        assert f"store holds: {len(merged)} postings" in report, report
        assert str(store) not in report
        page.wait_for_function(f"document.querySelector('#store').innerText.includes('{len(merged)} postings')")
        assert "ai_jobs_2023" in page.locator("#store").inner_text()  # the source is named by the file
        page.screenshot(path=str(SHOTS / "mapping-added.png"), full_page=True)
    finally:
        context.close()
        demo.close()

    ca = CareerAssistant(settings=Settings(store=store))
    try:
        db = ca.corpus.table
        titles = {r[0] for r in db.query("SELECT DISTINCT title FROM postings")}
        assert titles == {r["title"] for r in rows}  # the corrected column, not the departments
        for chinese, city in CITIES.items():
            mine = [r for r in merged if r["city"] == chinese]
            got = {f.name: f for f in figures.count(db, Filters(cities=(city,)))}
            assert got["count"].value == len(mine), city
            paid = [(r["low"] + r["high"]) / 2 for r in mine if stated(r["low"]) and stated(r["high"])]
            median = next(f for f in figures.salary(db, Filters(cities=(city,))) if f.name == "salary_median")
            assert (median.n, median.value) == (len(paid), round(statistics.median(paid), 1)), city
            levels = Counter(EDUCATION[r["education"]] for r in mine)
            for level in ("bachelor", "master"):
                (share,) = figures.share(db, Filters(cities=(city,), education=(level,)), Filters(cities=(city,)))
                assert share.value == round(100 * levels[level] / len(mine), 1), (city, level)
    finally:
        ca.close()
