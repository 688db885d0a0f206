"""The chat page in a real headless Chromium (the Debian `chromium` package, driven by Playwright).

Each test opens the page served by `serve` on a copy of the bundled store, does what a person would do,
and saves a screenshot under tests/output/browser/. No browser is downloaded: Playwright drives
/usr/bin/chromium (install: `apt-get install chromium fonts-wqy-microhei`).
"""

from __future__ import annotations

import csv
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "tests" / "output" / "browser"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(copy_of_bundled_store: Callable[[str], Path]) -> Path:
    """A copy of the bundled store that uploads may change."""
    return copy_of_bundled_store("browser")


@pytest.fixture(scope="module")
def server(store: Path, free_port: Callable[[], int]) -> Iterator[str]:
    from assistant.ui import serve

    port = free_port()
    demo = serve(Settings(store=store), port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server)
    page.wait_for_selector("#question textarea")
    try:
        yield page
    finally:
        context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _ask(page: Any, question: str) -> str:
    """Type a question, press Enter, wait for the finished answer (its sources are shown last); its text."""
    page.wait_for_selector("#chat")
    answers = page.locator('#chat [data-testid="bot"]').count()
    # Record the answer's length at every change, to see it arrive in pieces.
    page.evaluate(
        """(n) => { window.__lengths = []; new MutationObserver(() => {
             const bots = document.querySelectorAll('#chat [data-testid="bot"]');
             if (bots.length > n) window.__lengths.push(bots[n].innerText.length);
           }).observe(document.querySelector('#chat'), {childList: true, subtree: true, characterData: true}); }""",
        answers,
    )
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#sources .turn').length > 0 && "
        "document.querySelector('#sources .turn').dataset.turn == String(n)",
        arg=answers,
    )
    return str(page.locator('#chat [data-testid="bot"]').nth(answers).inner_text())


def _open(page: Any, accordion: str) -> None:
    page.locator(f"#{accordion} > button").first.click()


def test_english_question_streams_cites_and_charts(page: Any) -> None:
    answer = _ask(page, "What do NLP engineers earn in Beijing?")
    assert "NLP roles in Beijing, 2023–2025: median advertised pay" in answer
    lengths = page.evaluate("window.__lengths")
    assert len({n for n in lengths if n > 0}) >= 2, lengths  # shown in pieces, then whole

    marker = page.locator("#chat a.cite").first
    assert marker.inner_text() == "[1]"
    assert not page.locator("#source-0-1").evaluate("d => d.open")
    marker.click()
    assert page.locator("#source-0-1").evaluate("d => d.open")
    quote = page.locator("#source-0-1 blockquote")
    assert quote.is_visible() and "Beijing" in quote.inner_text()
    assert "row " in page.locator("#source-0-1 summary").inner_text()

    chart = page.locator("#chart")
    assert chart.is_visible() and chart.locator("canvas, svg").count() > 0
    _shot(page, "english-answer")


def test_chinese_question_answers_in_chinese(page: Any) -> None:
    answer = _ask(page, "北京和上海的大模型岗位哪个薪资高？")
    assert "北京" in answer and "上海" in answer and "元" in answer
    page.locator("#chat a.cite").last.click()
    opened = page.locator("#sources details.source[open]")
    assert opened.count() == 1 and opened.locator("blockquote").is_visible()
    assert page.locator("#chart").is_visible()
    _shot(page, "chinese-answer")


def test_profile_gives_advice_and_a_gap_list(page: Any) -> None:
    page.fill("#profile-role textarea", "Java backend developer")
    page.fill("#profile-skills textarea", "Java, Spring, MySQL, Python")
    page.fill("#profile-city textarea", "Shanghai")
    page.fill("#profile-pay textarea", "1.5万")
    page.click("#advise")
    page.wait_for_selector("#gap", state="visible")
    answer = page.locator('#chat [data-testid="bot"]').last.inner_text()
    assert "Java backend developer (15,000 CNY/month)" in answer and "in Shanghai" in answer
    gap = page.locator("#gap").inner_text()
    assert "Your gap" in gap and "to learn" in gap and "you have Python" in gap
    _shot(page, "advice")


def test_rows_behind_a_figure_download_as_csv(page: Any) -> None:
    answer = _ask(page, "What do NLP engineers earn in Beijing?")
    n = int(re.search(r"\(n=([\d,]+)[,)]", answer)[1].replace(",", ""))  # type: ignore[index]  # "(n=17, thin evidence)"
    page.click("#figure-pick input")
    page.locator("ul[role=listbox] li").first.click()  # "median monthly pay ..."
    page.wait_for_selector("#rows-csv", state="visible")
    assert f"{n:,} postings" in page.locator("#rows-caption").inner_text()
    assert page.locator("#rows table tbody tr").count() > 0
    with page.expect_download() as got:
        page.click("#rows-csv")
    path = got.value.path()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert len(rows) == n and {r[header.index("city")] for r in rows} == {"Beijing"}
    assert all(r[header.index("salary_min")] and r[header.index("salary_max")] for r in rows)
    _shot(page, "rows-behind")


def test_filters_narrow_the_answer(page: Any) -> None:
    _open(page, "filters")
    page.click("#f-city input")
    page.keyboard.type("Shenzhen")
    page.locator("ul[role=listbox] li").filter(has_text="Shenzhen").first.click()
    page.keyboard.press("Escape")
    answer = _ask(page, "What do NLP engineers earn?")
    assert "NLP roles in Shenzhen" in answer and "Beijing" not in answer.split("\n")[0]
    _shot(page, "filters")


def test_store_panel_counts_match_the_raw_files(page: Any) -> None:
    sys.path.insert(0, str(REPO / "eval"))
    from expected import load_postings  # the eval's stdlib reader of the raw files, not the code under test

    by_source = Counter(p.source for p in load_postings())
    _open(page, "store-panel")
    panel = page.locator("#store").inner_text()
    for source, count in by_source.items():
        assert re.search(rf"{re.escape(source)}\s+{count:,}\s", panel), (source, count, panel)
    assert f"{sum(by_source.values()):,} postings" in panel and "5 articles" in panel


def test_uploads_add_good_files_and_name_the_bad_ones(page: Any, store: Path, tmp_path: Path) -> None:
    good = tmp_path / "my jobs (2025).csv"
    good.write_text(
        "title,company,city,salary\n"
        "LLM 应用工程师,Qilin Robotics,成都,20k-30k\n"
        '=HYPERLINK("http://evil"),Qilin Robotics,成都,25k-35k\n'
        "RAG engineer,Qilin Robotics,Chengdu,30k-40k\n",
        encoding="utf-8",
    )
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01\x02 not text")
    _open(page, "upload-panel")
    page.set_input_files("#upload input[type=file]", [str(good), str(broken)])
    page.wait_for_selector("#upload .file-preview, #upload table", timeout=30_000)
    page.click("#add")
    page.wait_for_function("document.querySelector('#upload-report').innerText.includes('broken.csv')",
                           timeout=180_000)  # fmt: skip
    report = page.locator("#upload-report").inner_text()
    assert "my_jobs_2025.csv: 3 posting rows (added)" in report
    assert "broken.csv: binary content" in report
    assert str(store) not in report  # visitors do not learn where the store lives
    # Only what went in stays in the uploads folder, under a safe name, inside the store.
    assert sorted(p.name for p in (store / "uploads").iterdir()) == ["my_jobs_2025.csv"]
    _shot(page, "upload")

    # The running page answers from the new postings at once, and their rows download neutralised.
    answer = _ask(page, "How many jobs does Qilin Robotics have?")
    assert "3 postings" in answer, answer
    page.click("#figure-pick input")
    page.locator("ul[role=listbox] li").first.click()
    with page.expect_download() as got:
        page.locator("#rows-csv").click()
    text = Path(got.value.path()).read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_a_full_queue_tells_the_visitor_to_try_again(
    browser: Any, bundled_store: tuple[Path, str], free_port: Callable[[], int]
) -> None:
    from gradio_client import Client

    from assistant.api import CareerAssistant
    from assistant.ui import build_app

    gate = threading.Event()

    class Held(CareerAssistant):
        """The real assistant, held at the door so the queue fills deterministically."""

        def ask(self, *args: Any, **kwargs: Any) -> Any:
            gate.wait(60)
            return super().ask(*args, **kwargs)

    held = Held(settings=Settings(store=bundled_store[0]))
    demo = build_app(held, uploads=False)
    demo.queue(default_concurrency_limit=1, max_size=1)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False, js=_citations_js())
    url = f"http://127.0.0.1:{port}/"
    try:
        client = Client(url, verbose=False)
        running = client.submit("What do NLP engineers earn in Beijing?", api_name="/ask")
        _wait_for(lambda: running.status().code.name == "PROCESSING")
        waiting = client.submit("深圳大模型岗位要求哪些技能？", api_name="/ask")
        _wait_for(lambda: waiting.status().code.name == "IN_QUEUE")
        page = browser.new_page()
        page.goto(url)
        page.fill("#question textarea", "Which cities have the most AI jobs?")
        page.press("#question textarea", "Enter")
        page.get_by_text("currently busy").first.wait_for(timeout=30_000)
        _shot(page, "busy")
        page.close()
        gate.set()
        assert running.result(timeout=60)["answer"] and waiting.result(timeout=60)["language"] == "zh"
    finally:
        gate.set()
        demo.close()
        held.close()


def _citations_js() -> str:
    from assistant.ui import CITATIONS_JS

    return CITATIONS_JS


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


HOSTILE_MD = """# Quokka engineers in Chengdu

Quokka engineers earn a premium in Chengdu <script>window.__pwned = 1</script> according to recruiters.

Quokka engineers <img src="http://127.0.0.1:9/tracker.png" onerror="window.__pwned = 2"> are hired by Acme \
![pixel](http://127.0.0.1:9/pixel.png) and [click here](javascript:window.__pwned=3) for quokka engineer details.
"""
HOSTILE_HTML = """<html><head><title>Quokka engineer reviews</title></head><body>
<p>Quokka engineers write &lt;script&gt;window.__pwned = 4&lt;/script&gt; in their quokka code reviews.</p>
<p>Quokka engineers paste &lt;img src=http://127.0.0.1:9/escaped.png onerror=window.__pwned=5&gt; into chats.</p>
</body></html>
"""


def test_document_text_is_shown_as_text_never_as_html(
    browser: Any, copy_of_bundled_store: Callable[[str], Path], free_port: Callable[[], int], tmp_path: Path
) -> None:
    from assistant.ui import serve
    from ingest.pipeline import ingest

    store = copy_of_bundled_store("hostile")
    (tmp_path / "quokka.txt").write_text(HOSTILE_MD, encoding="utf-8")  # .txt: its markup stays in the text
    (tmp_path / "quokka.html").write_text(HOSTILE_HTML, encoding="utf-8")
    assert ingest([tmp_path], Settings(store=store)).ok
    port = free_port()
    demo = serve(Settings(store=store), port=port, block=False)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.set_default_timeout(60_000)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#question textarea")
        shown = ""
        questions = ("What do articles say about the pay of Quokka engineers in Chengdu?",
                     "文章里说Quokka工程师的工作怎么样？")  # fmt: skip
        for question in questions:
            shown += _ask(page, question)
        for n in range(1, page.locator("#chat a.cite").count() + 1):
            page.locator("#chat a.cite").nth(n - 1).click()  # every quoted source opened in the panel
        # The documents' text, shown as text: their tags, an escaped tag of the HTML page, a markdown image.
        for literal in ("<script>window.__pwned = 1</script>", "<script>window.__pwned = 4</script>",
                        '<img src="http://127.0.0.1:9/tracker.png"', "![pixel](http://127.0.0.1:9/pixel.png)"):
            assert literal in shown, (literal, shown)
        assert page.evaluate("typeof window.__pwned") == "undefined"
        for area in ("#chat", "#sources"):
            assert page.locator(f"{area} script").count() == 0
            assert page.locator(f"{area} img[src*='127.0.0.1:9'], {area} img[onerror]").count() == 0
            assert page.locator(f"{area} a[href^='javascript']").count() == 0
        assert not [url for url in requested if "127.0.0.1:9" in url]  # no remote image was fetched
        _shot(page, "hostile-article")
    finally:
        page.close()
        demo.close()
