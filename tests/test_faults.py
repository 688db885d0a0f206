"""Faults around a live store: a page answering while an ingest writes to its store, and a disk that fills up
during an ingest (real server, real ingest processes, a real small file system)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.config import Settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
POSTINGS = REPO / "ingest" / "corpus" / "postings"
QUESTION = "What do NLP engineers earn in Lanzhou?"  # the bundled corpus has no NLP posting there


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args]


def _write_postings(path: Path, rows: int, tag: str) -> Path:
    """Recent NLP postings in Lanzhou, each its own (distinct company), so each adds one to the figure's count."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["title", "company", "city", "salary", "date"])
        for i in range(rows):
            out.writerow([f"NLP算法工程师（{tag}）", f"{tag} Labs {i}", "兰州", f"{20 + i % 10}k-{40 + i % 10}k",
                          "2025-06-01"])  # fmt: skip
    return path


def _count_in(path: Path) -> int:
    """Rows of a file written by `_write_postings`, read with the csv module (not the code under test)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(1 for row in csv.DictReader(fh) if row["city"] == "兰州" and "NLP" in row["title"])


def _pay_n(answer: dict[str, object]) -> int:
    """The number of postings behind the answer's median pay figure for Lanzhou (0 when it has none: no data yet;
    the nearest population the answer gives instead, NLP roles everywhere, is not counted)."""
    figures = answer["figures"]
    assert isinstance(figures, list) and answer["answer"], answer
    return max((int(f["n"]) for f in figures if f["name"] == "salary_median"
                and "Lanzhou" in str(f.get("filters", {}).get("cities", ""))), default=0)  # fmt: skip


@pytest.fixture
def served(copy_of_bundled_store: Callable[[str], Path], free_port: Callable[[], int]) -> Iterator[tuple[Path, str]]:
    from assistant.ui import serve

    store = copy_of_bundled_store("ask-while-ingest")
    port = free_port()
    demo = serve(Settings(store=store), port=port, block=False)
    try:
        yield store, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_questions_are_answered_while_an_ingest_writes_and_see_its_data_after(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    from gradio_client import Client

    store, url = served
    first = _write_postings(tmp_path / "xiamen_a.csv", 40, "A")
    second = _write_postings(tmp_path / "xiamen_b.csv", 25, "B")
    before = _pay_n(Client(url, verbose=False).predict(QUESTION, api_name="/ask"))
    assert before == 0

    answered: list[tuple[float, int]] = []  # (when, figure's n)
    errors: list[str] = []
    stop = threading.Event()

    def ask_until_stopped() -> None:
        client = Client(url, verbose=False)
        while not stop.is_set():
            try:
                answered.append((time.monotonic(), _pay_n(client.predict(QUESTION, api_name="/ask"))))
            except Exception as exc:  # every failure is a finding
                errors.append(f"{type(exc).__name__}: {exc}")

    askers = [threading.Thread(target=ask_until_stopped) for _ in range(2)]
    for asker in askers:
        asker.start()
    try:
        # Two ingests one after the other: the second one deletes the generation the page opened first.
        spans = []
        for path in (first, second):
            started = time.monotonic()
            run = subprocess.run(_cli("ingest", str(path), "--store", str(store), "-q"), capture_output=True,
                                 text=True, cwd=REPO, timeout=600)  # fmt: skip
            spans.append((started, time.monotonic()))
            assert run.returncode == 0, run.stdout + run.stderr
        time.sleep(2 * 1.0 + 1)  # past the page's check for new data
    finally:
        stop.set()
        for asker in askers:
            asker.join(timeout=120)

    assert not errors, errors[:5]
    during = [n for when, n in answered if any(start <= when <= end for start, end in spans)]
    assert len(during) >= 5, f"only {len(during)} questions were answered while the ingests ran"
    expected = before + _count_in(first) + _count_in(second)
    # Every answer saw the store before, between or after the ingests: never a figure of part of one.
    assert {n for _, n in answered} <= {before, before + _count_in(first), expected}
    after = _pay_n(Client(url, verbose=False).predict(QUESTION, api_name="/ask"))
    assert after == expected


def _mount_small_fs(folder: Path, megabytes: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)],
                         capture_output=True, text=True)  # fmt: skip
    if run.returncode != 0:
        pytest.skip(f"this machine does not let a test mount a small file system: {run.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "small"
    _mount_small_fs(folder, 48)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _snapshot(store: Path) -> dict[str, object]:
    gen = store / (store / "CURRENT").read_text().strip()
    return {
        "CURRENT": (store / "CURRENT").read_text(),
        "generations": sorted(p.name for p in store.iterdir() if p.name.startswith("gen-")),
        "manifest": (gen / "manifest.json").read_bytes(),
        "table": (gen / "postings.duckdb").read_bytes(),
    }


#: Free space left before the second ingest; on this machine the disk fills while copying the postings table,
#: while loading the new rows, while deriving the postings, and while writing the vectors, in that order.
@pytest.mark.parametrize("free_mb", [0.5, 2, 6, 12])
def test_a_disk_that_fills_up_during_an_ingest_leaves_the_store_as_it_was(small_fs: Path, free_mb: float) -> None:
    store = small_fs / "store"
    built = subprocess.run(_cli("ingest", str(POSTINGS / "lagou_2017" / "nlp.csv"), "--store", str(store), "-q"),
                           capture_output=True, text=True, cwd=REPO, timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    before = _snapshot(store)
    filler = small_fs / "filler"
    free = shutil.disk_usage(small_fs).free
    with filler.open("wb") as fh:  # leave `free_mb` free
        fh.truncate(0)
        fh.write(b"\0" * max(0, free - int(free_mb * 1e6)))
    run = subprocess.run(
        _cli("ingest", str(POSTINGS / "zhaopin_ai_2025" / "ai_jobs.csv"), str(POSTINGS / "lagou_2017" / "python.csv"),
             "--store", str(store)),
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert run.returncode != 0, "the ingest should not fit"
    assert "Traceback" not in run.stderr, run.stderr
    assert "no space left" in (run.stdout + run.stderr).lower(), run.stdout + run.stderr
    assert _snapshot(store) == before
    assert not [p for p in store.iterdir() if p.name.startswith(".staging")]
    filler.unlink()
    check = subprocess.run(_cli("check", "--store", str(store)), capture_output=True, text=True, cwd=REPO,
                           timeout=300)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
