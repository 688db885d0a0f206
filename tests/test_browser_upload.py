"""A new user's own export, through the page alone: the page starts on an empty store, the file is uploaded,
the mapping step shows its first rows and a suggested mapping, one wrong suggestion is corrected in the page,
and the figures then equal what the standard library computes from the file (real Chromium, real model)."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent / "output" / "browser"
pytestmark = pytest.mark.slow

#: The export's shape: two numeric pay columns, education and experience, Chinese headers; "岗位" holds the
#: department (a header-name match for the title that is wrong), the titles are in "职位全称".
HEADERS = ["职位全称", "岗位", "工作城市", "最低月薪", "最高月薪", "职位描述", "学历要求", "要求经验", "发布日期"]
CITIES = {"北京": "Beijing", "上海": "Shanghai", "茂名": "Maoming"}
EDUCATION = {"本科": "bachelor", "硕士": "master", "大专": "college", "学历不限": None}


def _export(path: Path, rows: int = 80, seed: int = 11) -> list[list[Any]]:
    from openpyxl import Workbook

    rng = random.Random(seed)
    made: list[list[Any]] = []
    for i in range(rows):
        low = rng.choice([8000, 12000, 15000, 20000, 25000])
        pay = (0, 0) if rng.random() < 0.1 else (low, low + rng.choice([3000, 5000, 10000]))
        made.append([rng.choice(["算法工程师", "数据分析师", "大模型应用开发", "机器学习工程师"]),
                     rng.choice(["技术部", "数据中心", "研发二部"]), rng.choice(list(CITIES)), pay[0], pay[1],
                     f"负责第{i}个模型的训练与部署", rng.choice(list(EDUCATION)), rng.choice(["1-3年", "3-5年"]),
                     f"2023-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"])  # fmt: skip
    made += [list(made[0]), list(made[3])]  # exact repeats: one posting each
    book = Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    for row in made:
        sheet.append(row)
    book.save(path)
    return made


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: install it with `apt-get install chromium fonts-wqy-microhei`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def test_an_export_goes_in_through_the_mapping_step_and_its_figures_match_the_file(
    browser: Any, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    from assistant import figures
    from assistant.api import CareerAssistant
    from assistant.schema import Filters
    from assistant.ui import serve

    store = tmp_path / "new-store"  # does not exist yet: the page must start anyway
    export = tmp_path / "ai_jobs_2023.xlsx"
    rows = _export(export)
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
        assert "职位全称" in shown and str(rows[0][0]) in shown  # the headers and the first rows
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
        distinct = [list(r) for r in dict.fromkeys(tuple(r) for r in rows)]
        report = page.locator("#upload-report").inner_text()
        assert f"ai_jobs_2023.xlsx: {len(rows)} posting rows (added)" in report, report
        assert f"store holds: {len(distinct)} postings" in report, report
        assert str(store) not in report
        page.wait_for_function(f"document.querySelector('#store').innerText.includes('{len(distinct)} postings')")
        page.screenshot(path=str(SHOTS / "mapping-added.png"), full_page=True)
    finally:
        context.close()
        demo.close()

    ca = CareerAssistant(settings=Settings(store=store))
    try:
        db = ca.corpus.table
        titles = {r[0] for r in db.query("SELECT DISTINCT title FROM postings")}
        assert titles == {r[0] for r in rows}  # the corrected column, not the departments
        for chinese, city in CITIES.items():
            mine = [r for r in distinct if r[2] == chinese]
            got = {f.name: f for f in figures.count(db, Filters(cities=(city,)))}
            assert got["count"].value == len(mine), city
            paid = [(r[3] + r[4]) / 2 for r in mine if r[3] and r[4]]
            median = next(f for f in figures.salary(db, Filters(cities=(city,))) if f.name == "salary_median")
            assert (median.n, median.value) == (len(paid), round(statistics.median(paid), 1)), city
            levels = Counter(EDUCATION[r[6]] for r in mine)
            for level in ("bachelor", "master"):
                (share,) = figures.share(db, Filters(cities=(city,), education=(level,)), Filters(cities=(city,)))
                assert share.value == round(100 * levels[level] / len(mine), 1), (city, level)
    finally:
        ca.close()
