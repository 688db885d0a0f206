"""Uploads from the page: what a person's files can and cannot do to the store (real ingest, real store)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings

pytestmark = pytest.mark.slow

GOOD = "title,company,city,salary\nLLM 应用工程师,Heron Data,成都,20k-30k\nRAG engineer,Heron Data,Chengdu,30k-40k\n"


@pytest.fixture(scope="module")
def store(copy_of_bundled_store: Callable[[str], Path]) -> Path:
    return copy_of_bundled_store("uploads")


@pytest.fixture
def assistant(store: Path) -> Iterator[Any]:
    from assistant.api import CareerAssistant

    ca = CareerAssistant(settings=Settings(store=store))
    try:
        yield ca
    finally:
        ca.close()


def _postings(assistant: Any) -> int:
    return int(assistant.stats()["postings"])


def _outcome(report: Any) -> dict[str, tuple[str, str]]:
    return {Path(f.display).name: (f.status, f.error) for f in report.files}


def test_wrong_types_and_oversized_files_are_refused_before_anything_runs(store: Path, tmp_path: Path) -> None:
    from assistant.api import CareerAssistant

    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ\x90\x00")
    big = tmp_path / "big.csv"
    big.write_bytes(b"t,c,city,salary\n" + b"x,y,z,1k\n" * 4000)  # 36,016 bytes
    ca = CareerAssistant(settings=Settings(store=store, max_file_mb=0.01))
    try:
        before = _postings(ca)
        report = ca.add_files([exe, big, tmp_path / "gone.csv"], copy=True)
        got = _outcome(report)
        assert got["setup.exe"][0] == "failed" and got["setup.exe"][1].startswith("unknown file type")
        assert got["big.csv"] == ("failed", "0.036 MB is over the 0.01 MB limit")
        assert got["gone.csv"] == ("failed", "not a readable file")
        assert not report.committed and not any((store / "uploads").iterdir()) and _postings(ca) == before
    finally:
        ca.close()


def test_a_good_file_goes_in_and_a_bad_replacement_keeps_the_good_one(assistant: Any, store: Path,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    before = _postings(assistant)
    upload = tmp_path / "heron.csv"
    upload.write_text(GOOD, encoding="utf-8")
    report = assistant.add_files([upload], copy=True)
    assert report.committed and [(f.status, f.records) for f in report.files] == [("added", 2)]
    assert _postings(assistant) == before + 2  # the assistant answers from the new generation at once
    kept = (store / "uploads" / "heron.csv").read_bytes()

    upload.write_text("title,company\nno salary or city columns,Heron Data\n", encoding="utf-8")
    report = assistant.add_files([upload], copy=True)
    status, error = _outcome(report)["heron.csv"]
    assert status == "failed" and "salary" in error
    assert (store / "uploads" / "heron.csv").read_bytes() == kept  # the previous upload is back
    assert _postings(assistant) == before + 2


def test_a_mapping_reads_a_file_in_no_known_layout(assistant: Any, store: Path, tmp_path: Path) -> None:
    """Headers no synonym knows: refused without a mapping, read with the one the preview suggests from values."""
    from assistant.api import preview_file

    upload = tmp_path / "opaque.csv"
    upload.write_text("a,b,c,d\nLLM 算法工程师,Heron Data,成都,2万-3万\nRAG 工程师,Heron Data,Chengdu,25k-35k\n"
                      "数据工程师,Heron Data,成都,15k-20k\n", encoding="utf-8")  # fmt: skip
    before = _postings(assistant)
    status, error = _outcome(assistant.add_files([upload], copy=True))["opaque.csv"]
    assert status == "failed" and "no title column" in error
    preview = preview_file(upload, assistant.settings)
    assert preview.suggested == {"title": "a", "city": "c", "salary": "d"} and preview.ready, preview
    report = assistant.add_files([upload], columns=preview.suggested, copy=True)
    assert [(f.status, f.records) for f in report.files] == [("added", 3)]
    assert _postings(assistant) == before + 3


def test_an_ingest_that_runs_too_long_is_stopped_and_loses_nothing(assistant: Any, store: Path,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    from assistant.errors import RuntimeFailure

    upload = tmp_path / "heron.csv"  # possibly the name of a file an earlier test added: then its bytes come back
    upload.write_text(GOOD.replace("Heron Data", "Slow Co"), encoding="utf-8")
    target = store / "uploads" / "heron.csv"
    before, kept = _postings(assistant), target.read_bytes() if target.exists() else None
    with pytest.raises(RuntimeFailure, match=r"took over 0\.5 s and was stopped; the store is as it was"):
        assistant.add_files([upload], copy=True, timeout_s=0.5)  # the worker cannot even import in 0.5 s
    assert (target.read_bytes() if target.exists() else None) == kept and _postings(assistant) == before


def test_a_store_in_use_adds_nothing_and_says_why(assistant: Any, store: Path, tmp_path: Path) -> None:
    from assistant.errors import StoreLockedError
    from assistant.generations import WriterLock

    upload = tmp_path / "while_locked.csv"
    upload.write_text(GOOD, encoding="utf-8")
    before = _postings(assistant)
    with WriterLock(store), pytest.raises(StoreLockedError, match="in use by PID"):
        assistant.add_files([upload], copy=True)
    assert not (store / "uploads" / "while_locked.csv").exists() and _postings(assistant) == before


def test_the_server_refuses_uploads_over_the_size_limit(store: Path, tmp_path: Path, free_port: Callable[[], int]
                                                        ) -> None:  # fmt: skip
    from assistant.ui import serve

    port = free_port()
    demo = serve(Settings(store=store, max_file_mb=0.01), port=port, block=False)
    try:
        big = tmp_path / "big.csv"
        big.write_bytes(b"a,b\n" * 10_000)
        small = tmp_path / "small.csv"
        small.write_text(GOOD, encoding="utf-8")

        def post(path: Path) -> str:
            run = subprocess.run(
                ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"files=@{path}",
                 f"http://127.0.0.1:{port}/gradio_api/upload"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            return run.stdout

        assert post(big) == "413"
        assert post(small) == "200"
    finally:
        demo.close()


def test_rows_from_companies_named_like_common_words_do_not_change_other_answers(
    copy_of_bundled_store: Callable[[str], Path], tmp_path: Path
) -> None:
    """Company names come from whatever a visitor uploads: three postings each from companies called "in",
    "AI", "数据" and "start" must not change how anyone else's question is read, nor its figures."""
    from assistant.api import CareerAssistant

    questions = [
        "What do NLP engineers earn in Beijing?",
        "How many AI jobs are there in Shanghai?",
        "北京的数据分析岗位有多少？",
        "Do I start with Python or Java?",
        "Which companies hire the most data engineers?",
    ]
    before_store = copy_of_bundled_store("before_common_words")
    ca = CareerAssistant(settings=Settings(store=before_store))
    try:
        before = {q: (ca.plan(q), ca.ask(q).text) for q in questions}
    finally:
        ca.close()
    rows = "".join(
        f"门店收银员{i},{company},成都,{3 + i}k-{4 + i}k\n"
        for company in ("in", "AI", "数据", "start")
        for i in range(3)
    )
    upload = tmp_path / "common_words.csv"
    upload.write_text("title,company,city,salary\n" + rows, encoding="utf-8")
    store = copy_of_bundled_store("common_words")
    run = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", str(upload), "--store", str(store)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    ca = CareerAssistant(settings=Settings(store=store))
    try:
        assert {"in", "AI", "数据", "start"} <= set(ca.corpus.companies)  # the rows are there to be matched
        for question in questions:
            plan, text = before[question]
            assert ca.plan(question).subjects == plan.subjects, question
            if "companies" not in question:
                assert ca.ask(question).text == text, question
    finally:
        ca.close()
