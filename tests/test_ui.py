"""The chat UI and its HTTP API, served for real on a free local port and called like a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings  # noqa: E402
from assistant.errors import UserError  # noqa: E402
from assistant.schema import Figure  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
JSON_KEYS = {"answer", "citations", "figures", "language", "intent", "advice", "notice"}


@pytest.fixture(scope="module")
def server(bundled_store: tuple[Path, str], free_port: Callable[[], int]) -> Iterator[str]:
    """The UI served by `serve` (the same safe defaults as `career-assistant serve`): its URL."""
    from assistant.ui import serve

    port = free_port()
    demo = serve(Settings(store=bundled_store[0]), port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def app(bundled_store: tuple[Path, str]) -> Iterator[Any]:
    """The page's Blocks over the bundled store, not served: its handlers are called in process."""
    from assistant.api import CareerAssistant
    from assistant.ui import build_app

    assistant = CareerAssistant(settings=Settings(store=bundled_store[0]))
    try:
        yield build_app(assistant)
    finally:
        assistant.close()


def _curl_ask(url: str, question: str, *extra: str) -> str:
    """POST /gradio_api/call/ask, then read the event stream (Gradio's two-step HTTP API)."""
    body = json.dumps({"data": [question]})
    post = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"{url}gradio_api/call/ask", "-H", "Content-Type: application/json",
         "-d", body, *extra],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    event_id = json.loads(post.stdout)["event_id"]
    get = subprocess.run(
        ["curl", "-sS", "-N", f"{url}gradio_api/call/ask/{event_id}", *extra],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return get.stdout


def _assert_cited_answer_with_figures(result: dict[str, Any], language: str) -> None:
    assert set(result) == JSON_KEYS
    assert result["language"] == language
    assert "[1]" in result["answer"]
    assert result["citations"] and set(result["citations"][0]) == {"source_file", "locator", "text", "kind"}
    assert result["figures"] and set(result["figures"][0]) == {"name", "value", "n", "filters", "source", "period"}


@pytest.mark.slow
def test_ask_endpoint_in_english_and_chinese(server: str) -> None:
    from gradio_client import Client

    client = Client(server, verbose=False)
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask", "/chat"]

    english = client.predict("What do NLP engineers earn in Beijing?", api_name="/ask")
    _assert_cited_answer_with_figures(english, "en")
    assert "Beijing" in english["answer"]
    assert any(f["name"] == "salary_median" and f["filters"].get("cities") == "Beijing" for f in english["figures"])

    chinese = client.predict("北京和上海的大模型岗位哪个薪资高？", api_name="/ask")
    _assert_cited_answer_with_figures(chinese, "zh")
    assert "北京" in chinese["answer"] and "上海" in chinese["answer"]
    cities = {f["filters"].get("cities") for f in chinese["figures"] if f["name"] == "salary_median"}
    assert cities == {"Beijing", "Shanghai"}


@pytest.mark.slow
def test_chat_endpoint_takes_history_profile_and_filters(server: str) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    first = client.predict("What do NLP engineers earn in Beijing?", api_name="/chat")
    assert set(first) == JSON_KEYS
    history = [{"role": "user", "content": "What do NLP engineers earn in Beijing?"},
               {"role": "assistant", "content": first["answer"]}]  # fmt: skip
    followup = client.predict("and in Shanghai?", history, None, {"sources": ["Zhaopin"]}, api_name="/chat")
    assert {f["filters"]["cities"] for f in followup["figures"]} == {"Shanghai"}
    assert {f["filters"]["sources"] for f in followup["figures"]} == {"Zhaopin"}
    advice = client.predict(
        "How do I move into machine learning?", None,
        {"role": "Java backend developer", "skills": "Java, Python", "city": "上海", "monthly_pay": 15000},
        api_name="/chat",
    )  # fmt: skip
    assert advice["advice"] and advice["advice"][0]["role"] == "ml" and "Python" in advice["advice"][0]["have"]
    with pytest.raises(AppError, match="unknown city 'Atlantis'"):
        client.predict("NLP pay", None, None, {"cities": ["Atlantis"]}, api_name="/chat")


@pytest.mark.slow
def test_ask_endpoint_with_curl(server: str) -> None:
    stream = _curl_ask(server, "Which cities have the most AI jobs?")
    assert "event: complete" in stream, stream
    data = stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0]
    (result,) = json.loads(data)
    _assert_cited_answer_with_figures(result, "en")
    assert result["figures"][0]["name"] == "top_city"


@pytest.mark.slow
def test_empty_question_is_a_clear_error_and_the_server_carries_on(server: str) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    with pytest.raises(AppError, match="empty question"):
        client.predict("   ", api_name="/ask")

    stream = _curl_ask(server, "")
    assert "event: error" in stream and "empty question" in stream and "Traceback" not in stream

    assert client.predict("深圳大模型岗位要求哪些技能？", api_name="/ask")["language"] == "zh"


@pytest.mark.slow
def test_auth_protects_the_page_and_the_api(bundled_store: tuple[Path, str], free_port: Callable[[], int]) -> None:
    from gradio_client import Client

    from assistant.ui import serve

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    demo = serve(Settings(store=bundled_store[0]), port=port, auth=("ann", "s3cret"), block=False)
    try:

        def status(*args: str) -> str:
            run = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args], capture_output=True,
                                 text=True, timeout=30)  # fmt: skip
            return run.stdout

        assert status(f"{url}config") == "401"
        assert status("-X", "POST", f"{url}gradio_api/call/ask", "-H", "Content-Type: application/json",
                      "-d", '{"data": ["hi"]}') == "401"  # fmt: skip
        assert status("-X", "POST", f"{url}login", "-d", "username=ann", "-d", "password=wrong") == "400"
        with pytest.raises(Exception, match="credentials"):
            Client(url, verbose=False)
        result = Client(url, auth=("ann", "s3cret"), verbose=False).predict("北京NLP工程师薪资多少？", api_name="/ask")
        assert result["figures"]
    finally:
        demo.close()


@pytest.mark.slow
def test_chat_streams_cites_charts_and_keeps_context(app: Any) -> None:
    respond = _handler(app, "respond")
    updates = list(respond("What do NLP engineers earn in Beijing?", [], []))
    texts = [u[1][-1]["content"] for u in updates]
    assert len(updates) > 1 and all(texts[-1].startswith(t) for t in texts)  # the text so far, growing
    question, chat, cited, sources, chart, pick, figures, gap = updates[-1]
    assert question == "" and [m["role"] for m in chat] == ["user", "assistant"]
    assert len(cited) == 1 and cited[0][0]["source_file"].endswith("ai_jobs.csv")
    assert '<details class="source" id="source-0-1">' in sources and "ai_jobs.csv" in sources and "row " in sources
    assert chart.visible and list(chart.value["columns"]) == ["label", "value"]
    assert pick.visible and len(pick.choices) == len(figures) and figures[0]["name"] == "salary_median"
    assert not gap.visible

    # The Chatbot hands history back as content blocks; the follow-up inherits "NLP".
    blocks = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in chat]
    *_, (_, chat2, cited2, sources2, *_) = respond("and in Shanghai?", blocks, cited)
    assert len(chat2) == 4 and "NLP" in chat2[-1]["content"] and "Shanghai" in chat2[-1]["content"]
    assert len(cited2) == 2 and 'id="source-1-1"' in sources2 and 'id="source-0-1"' in sources2  # earlier, folded

    *_, (_, _, _, sources3, chart3, *_) = respond("Why is there a shortage of AI talent in China?", [], [])
    assert "articles/" in sources3 and not chart3.visible


@pytest.mark.slow
def test_profile_gives_advice_with_a_gap_list(app: Any) -> None:
    respond = _handler(app, "respond")
    profile = ("Java backend developer", "Java, Spring, Python", "Shanghai", 15000)
    *_, last = respond("How can I move into AI roles from where I am now?", [], [], *profile)
    from assistant.ui import as_written

    answer, gap = as_written(last[1][-1]["content"]), last[7]  # the chat shows it escaped for Markdown
    assert "Java backend developer (15,000 CNY/month)" in answer and "in Shanghai" in answer
    assert gap.visible and gap.value.startswith("**Your gap**") and "you have Python" in gap.value
    chart = last[4]  # the target roles' median pay, labelled by role
    labels = [row[0] for row in chart.value["data"]]
    assert chart.visible and any(label.startswith("Machine learning & algorithms (n=") for label in labels)
    # Every target role's postings can be opened as "rows behind" (advice numbers are figures too).
    # (advice describes the market now: the 2023–2025 postings when there are enough of them)
    assert any(f["filters"] == {"cities": "Shanghai", "roles": "ml", "years": "2023, 2024, 2025"} for f in last[6])
    # A pay the box cannot read is said in the chat, and nothing else changes.
    (update,) = list(respond("How can I move into AI roles?", [], last[2], "Java backend developer", "", "", "a lot"))
    assert update[1][-1]["content"].startswith("⚠️ monthly pay must be CNY a month such as 15000, 15k or 1.5万")
    assert update[2] == [*last[2], []]


@pytest.mark.slow
def test_filters_narrow_figures_and_evidence(app: Any) -> None:
    respond = _handler(app, "respond")
    no_profile = ("", "", "", None)
    *_, last = respond("What do NLP engineers earn?", [], [], *no_profile, ["Beijing"], [], ["2025"], ["Zhaopin"])
    figures = last[6]
    assert figures and all(f["filters"] == {"cities": "Beijing", "roles": "nlp", "years": "2025",
                                            "sources": "Zhaopin"} for f in figures)  # fmt: skip
    assert all(c["kind"] == "posting" for c in last[2][-1])  # articles not ticked: none cited
    *_, last = respond("Why is there a shortage of AI talent in China?", [], [], *no_profile, [], [], [], ["Lagou"])
    assert "left out by the source filter" in last[1][-1]["content"] and last[2] == [[]]
    *_, last = respond("NLP pay in Beijing", [], [], *no_profile, [], [], [], ["articles"])
    assert last[1][-1]["content"].startswith("Job postings are left out by the source filter, so I give no figure")
    assert last[6] == [] and all(c["kind"] == "article" for c in last[2][-1])
    # Every source ticked is no restriction at all; a city in the question wins over the filter.
    everything = ["Lagou", "51job", "Zhaopin", "articles"]
    *_, last = respond("NLP pay in Shanghai", [], [], *no_profile, ["Beijing"], [], [], everything)
    assert {f["filters"]["cities"] for f in last[6]} == {"Shanghai"} and "sources" not in last[6][0]["filters"]


@pytest.mark.slow
def test_rows_behind_a_figure_and_their_csv(app: Any) -> None:
    import csv

    respond, show_rows = _handler(app, "respond"), _handler(app, "show_rows")
    *_, last = respond("Which cities have the most machine learning jobs?", [], [])
    figures = last[6]
    for index, figure in enumerate(figures):
        table, download, caption = show_rows(index, figures)
        assert table.visible and download.visible
        with open(download.value["path"], encoding="utf-8-sig", newline="") as fh:
            header, *rows = list(csv.reader(fh))
        # A top-list entry's value is the number of its postings, and the CSV holds exactly those.
        assert len(rows) == figure["value"], figure
        assert {r[header.index("city")] for r in rows} == {figure["filters"]["city"]}
        assert {r[header.index("role_family")] for r in rows} == {"ml"}
        assert f"**{figure['value']:,} postings**" in caption.value
    assert show_rows(None, figures)[0].visible is False


def test_chat_shows_errors_as_a_message_not_a_traceback(bundled_store: tuple[Path, str]) -> None:
    from assistant.api import CareerAssistant
    from assistant.ui import as_written, build_app

    class Failing(CareerAssistant):
        def ask(self, question: str, *args: Any, **kwargs: Any) -> Any:
            raise UserError("no store at ./vectorstore. Hint: run `career-assistant ingest --bundled` first.")

    assistant = Failing(settings=Settings(store=bundled_store[0]))
    try:
        respond = _handler(build_app(assistant), "respond")
        (update,) = list(respond("What do NLP engineers earn?", [], []))
        assert update[1][-1]["role"] == "assistant"
        shown = update[1][-1]["content"]
        assert as_written(shown) == "⚠️ no store at ./vectorstore. Hint: run `career-assistant ingest --bundled` first."
        assert update[2] == [[]]  # the error message has its (empty) place among the answers' citations
        assert list(respond("  ", [], [])) and list(respond("  ", [], []))[0][1] == []  # blank input: nothing happens
    finally:
        assistant.close()


def test_csv_cells_never_run_as_formulas() -> None:
    from assistant.ui import safe_cell

    cells = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "Python", "", None, 12.5, ["a", "b"]]
    assert [safe_cell(c) for c in cells] == [
        "'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "Python", "", "", "12.5", "a, b"
    ]  # fmt: skip


def test_upload_names_stay_inside_the_uploads_folder() -> None:
    from assistant.api import upload_name

    assert upload_name("../../etc/passwd") == "passwd"
    assert upload_name("..\\..\\boot.ini") == "boot.ini"
    assert upload_name(".bashrc") == "upload.bashrc"  # never a hidden file
    assert upload_name("my jobs (2025).CSV") == "my_jobs_2025.csv"
    assert upload_name("招聘数据.xlsx") == "招聘数据.xlsx"
    assert upload_name("..") == "upload" and upload_name("") == "upload"


def test_chart_data_picks_top_lists_then_pay_then_counts() -> None:
    from assistant.ui import chart_data

    top = [Figure("top_city", 475, 1146, {"skills": "AI", "city": "Beijing"}),
           Figure("top_city", 213, 1146, {"skills": "AI", "city": "Shanghai"})]  # fmt: skip
    frame, title, _ = chart_data(top)
    assert frame is not None and frame.to_dict("list") == {"label": ["Beijing", "Shanghai"], "value": [475, 213]}
    assert title == "Postings by city"

    one = [Figure(n, v, 215, {"cities": "Beijing", "roles": "nlp"}) for n, v in
           [("salary_median", 25000.0), ("salary_p25", 21500.0), ("salary_p75", 33500.0), ("count", 216)]]  # fmt: skip
    frame, title, _ = chart_data(one)
    assert frame is not None and frame["value"].tolist() == [21500.0, 25000.0, 33500.0]
    assert "Beijing · NLP" in title

    two = [Figure("salary_median", 25000.0, 114, {"cities": "Beijing", "roles": "llm"}),
           Figure("salary_median", 24000.0, 46, {"cities": "Shanghai", "roles": "llm"})]  # fmt: skip
    frame, _, _ = chart_data(two)
    assert frame is not None and frame["label"].tolist() == ["Beijing (n=114)", "Shanghai (n=46)"]

    trend = [Figure("count", 5194, 5194, {"skills": "Java", "year": "2017", "source": "Lagou"}),
             Figure("salary_median", 13500.0, 5194, {"skills": "Java", "year": "2017", "source": "Lagou"}),
             Figure("count", 124, 124, {"skills": "Java", "year": "2025", "source": "Zhaopin"})]  # fmt: skip
    frame, title, _ = chart_data(trend, "trend")
    assert frame is not None and frame["label"].tolist() == ["2017 · Lagou", "2025 · Zhaopin"] and title == "Postings"

    assert chart_data([])[0] is None


@pytest.mark.slow
def test_serve_command_says_where_the_page_is_and_stops_on_ctrl_c(
    bundled_store: tuple[Path, str], free_port: Callable[[], int]
) -> None:
    import signal
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--store", str(bundled_store[0]), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server is up
        assert line.startswith(f"career-assistant: the chat page is at http://127.0.0.1:{port} "), line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200 and "Career assistant" in page.read().decode()
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.returncode is not None, "serve did not stop on Ctrl+C"
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in stderr and "share=True" not in stderr + line, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_serve_command_rejects_a_malformed_login_without_echoing_it() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "serve", "--auth", "ann-s3cret"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert "--auth must be USER:PASS" in run.stderr and "s3cret" not in run.stderr


def _handler(demo: Any, name: str) -> Any:
    return next(f.fn for f in demo.fns.values() if f.name == name)


def test_monthly_pay_is_read_as_people_write_it() -> None:
    from assistant.api import _monthly_pay

    written = {"15000": 15000, "15,000": 15000, "15k": 15000, "15K": 15000, "1.5万": 15000, "2w": 20000,
               "8千": 8000, "15000元/月": 15000, 12000: 12000, 0: None, "": None, None: None}  # fmt: skip
    assert {k: _monthly_pay(k) for k in written} == written
    for bad in ("abc", "-5", "15k-20k", "a lot"):
        with pytest.raises(UserError, match="monthly pay must be CNY a month"):
            _monthly_pay(bad)


def test_old_csv_downloads_are_deleted(tmp_path: Path) -> None:
    import os
    import time

    from assistant.ui import KEEP_FILES_S
    from assistant.ui.render import _prune

    old, new = tmp_path / "rows-old.csv", tmp_path / "rows-new.csv"
    old.write_text("a\n")
    new.write_text("a\n")
    stale = time.time() - KEEP_FILES_S - 5
    os.utime(old, (stale, stale))
    _prune(tmp_path, KEEP_FILES_S)
    assert not old.exists() and new.exists()


def test_chat_text_shows_every_character_literally_and_reads_back_as_written() -> None:
    from assistant.ui import as_written, chat_text

    hostile = ("Quote: <img src=x onerror=alert(1)> ![p](http://evil/p.png) [go](javascript:alert(2)) `x` *y* &lt;\n"
               "- a list line [1]\n# not a heading | a \\ b \\. www.x.org")  # fmt: skip
    shown = chat_text(hostile)
    assert "<" not in shown.replace("\\<", "") and "![" not in shown and "](" not in shown
    assert "http://" not in shown and "www.x" not in chat_text("see www.x.org or https://x.org")
    assert shown.splitlines()[1].startswith("- a list line")  # answers' list lines stay lists
    assert as_written(shown) == hostile
