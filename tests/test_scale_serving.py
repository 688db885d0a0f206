"""Serving from a Chroma server with the real model: the page in Chromium, and two page replicas sharing one
store that answer the same question identically while an ingest runs (README: Running at scale)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from tests.chroma_server import ChromaServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
POSTINGS = REPO / "ingest" / "corpus" / "postings" / "lagou_2017"
ARTICLE = sorted((REPO / "ingest" / "corpus" / "articles").glob("*.txt"))[0]
QUESTION = "北京NLP工程师的月薪是多少？"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, ChromaServer]]:
    """A store of two bundled posting files and an article, its vectors on a real `chroma run`."""
    root = tmp_path_factory.mktemp("scale-serving")
    with ChromaServer(root / "chroma") as server:
        settings = Settings(store=root / "store", chroma_url=server.url)
        run = subprocess.run(
            [sys.executable, "-m", "assistant.cli", "ingest", str(POSTINGS / "nlp.csv"), str(POSTINGS / "java.csv"),
             str(ARTICLE), "--store", str(settings.store), "--chroma-url", server.url, "-q"],
            capture_output=True, text=True, cwd=REPO, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        yield settings, server


def test_the_page_answers_from_a_chroma_server(served: tuple[Settings, ChromaServer], browser: Any,
                                               free_port: Callable[[], int]) -> None:  # fmt: skip
    from assistant.ui import serve

    settings, _ = served
    port = free_port()
    demo = serve(settings, port=port, block=False)
    page = browser.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#question textarea")
        page.fill("#question textarea", QUESTION)
        page.press("#question textarea", "Enter")
        page.wait_for_function("document.querySelectorAll('#sources .turn').length > 0")
        answer = page.locator('#chat [data-testid="bot"]').last.inner_text()
        assert "北京" in answer and "[1]" in answer, answer
        assert page.locator("#sources details.source").count() > 0
    finally:
        page.close()
        demo.close()


def test_an_upload_goes_to_the_chroma_server(served: tuple[Settings, ChromaServer], tmp_path: Path) -> None:
    """A file added through the API (the page's upload path: a worker process, given the server's URL) lands in
    a new segment on the server and is found at once."""
    from assistant.api import CareerAssistant

    settings, server = served
    upload = tmp_path / "heron.csv"
    upload.write_text("title,company,city,salary\n向量数据库内核工程师,Heron Data,成都,30k-45k\n", encoding="utf-8")
    store_id = (settings.store / "STORE_ID").read_text().strip()

    def segments() -> int:
        return len([c for c in server.client().list_collections() if c.name.startswith(f"ca-{store_id}-p")])

    listed = segments()
    with CareerAssistant(settings=settings) as ca:
        before = int(ca.stats()["postings"])
        report = ca.add_files([upload], copy=True)
        assert report.committed and [(f.status, f.records) for f in report.files] == [("added", 1)], report
        assert int(ca.stats()["postings"]) == before + 1
        docs = ca.retriever.invoke("向量数据库内核工程师 成都")
    assert any(d.metadata["title"] == "向量数据库内核工程师" for d in docs), [d.metadata for d in docs]
    assert not (settings.store / "vectors").exists()  # every vector is on the server
    assert segments() == listed + 1


def _replica(settings: Settings, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--store", str(settings.store), "--chroma-url",
         settings.chroma_url or "", "--port", str(port), "--no-uploads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip


def _ask(url: str) -> Any:
    from gradio_client import Client

    deadline = time.monotonic() + 120
    while True:
        try:
            result = Client(url, verbose=False).predict(QUESTION, api_name="/ask")
            return (result["answer"], str(result["citations"]), str(result["figures"]))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_two_replicas_answer_identically_while_an_ingest_runs(
    served: tuple[Settings, ChromaServer], free_port: Callable[[], int]
) -> None:
    settings, server = served
    ports = [free_port(), free_port()]
    replicas = [_replica(settings, port) for port in ports]
    urls = [f"http://127.0.0.1:{port}/" for port in ports]
    try:
        before = [_ask(url) for url in urls]
        assert before[0] == before[1]
        # A file with more Beijing NLP postings changes the answer: each replica must give the old one or the new.
        ingest = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "ingest", str(POSTINGS / "machine_learning.csv"),
             str(POSTINGS / "data_mining.csv"), "--store", str(settings.store), "--chroma-url", server.url, "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        )  # fmt: skip
        during: list[list[Any]] = []
        while ingest.poll() is None:
            answers: list[Any] = [None, None]

            def ask(i: int, out: list[Any] = answers) -> None:
                out[i] = _ask(urls[i])

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            during.append(answers)
        assert ingest.returncode == 0, ingest.stdout.read() if ingest.stdout else ""
        time.sleep(2)  # each replica looks for a new generation at most once a second
        after = [_ask(url) for url in urls]
        assert after[0] == after[1] and after[0] != before[0]
        assert len(during) >= 2, "the ingest finished before the replicas were asked"
        for pair in during:
            assert all(a in (before[0], after[0]) for a in pair), "a replica answered from neither generation"
        # Asked at the same moment, the two differ only in the second or so when one has switched first.
        assert sum(pair[0] != pair[1] for pair in during) <= 1, during
    finally:
        for replica in replicas:
            replica.terminate()
            replica.wait(timeout=30)
