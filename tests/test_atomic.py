"""`kill -9` at any stage of an ingest leaves the store exactly as it was; a second writer is refused."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
POSTINGS = REPO / "ingest" / "corpus" / "postings"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args]


def _snapshot(store: Path) -> dict[str, str]:
    """The CURRENT pointer, every byte of the manifest and postings table, and Chroma's content.

    Chroma's own files change when a store is merely read (it records each open and rewrites index
    bookkeeping on queries), so its part of the snapshot is what the generation's segments hold, read through
    its API: the live records, every record's id and metadata, and how many sampled records find themselves.
    """
    name = (store / "CURRENT").read_text()
    out = {"CURRENT": name}
    for part in ("manifest.json", "postings.duckdb"):
        out[part] = hashlib.sha256((store / name.strip() / part).read_bytes()).hexdigest()
    code = """
import sys, hashlib
from pathlib import Path
from assistant.config import Settings
from assistant.corpus import Corpus

c = Corpus(Settings(store=Path(sys.argv[1])))
v = c.vectors
pairs, near = [], []
for seg in v.segments:
    col = v.collection(seg)
    got = col.get(include=["metadatas"])
    pairs += sorted((seg.name, i, repr(sorted((m or {}).items()))) for i, m in zip(got["ids"], got["metadatas"]))
    some = col.get(ids=sorted(got["ids"])[::17], include=["embeddings"])
    top = col.query(query_embeddings=some["embeddings"], n_results=1, include=[])
    near.append(str(sum(i == t[0] for i, t in zip(some["ids"], top["ids"]))))
keys = {r[0] for r in c.query("SELECT vector_key FROM posting_vectors JOIN postings USING (posting_id)")}
live = {r[0] for r in c.query("SELECT vector_key FROM vector_records WHERE live AND kind = 'posting'")}
print(len(live), hashlib.sha256(repr(pairs).encode()).hexdigest(), ",".join(near),
      c.query("SELECT count(*) FROM postings")[0][0], keys == live)
"""
    run = subprocess.run([sys.executable, "-c", code, str(store)], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    out["chroma"] = run.stdout.strip()
    return out


def _count(store: Path) -> tuple[int, int, bool]:
    """Vector records, postings, and whether every posting's vector record exists and no other does."""
    chroma, _, _, table, agree = _snapshot(store)["chroma"].split()
    return int(chroma), int(table), agree == "True"


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("atomic") / "store"
    run = subprocess.run(
        _cli("ingest", str(POSTINGS / "lagou_2017" / "nlp.csv"), "--store", str(store), "-q"),
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return store


def _start_big_ingest(store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _cli("ingest", str(POSTINGS), "--store", str(store)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip


def _kill_when(proc: subprocess.Popen[str], marker: str, delay: float) -> list[str]:
    seen: list[str] = []
    assert proc.stderr is not None
    deadline = time.monotonic() + 300
    for line in proc.stderr:
        seen.append(line.rstrip())
        if marker in line:
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            break
        assert time.monotonic() < deadline, seen
    proc.wait(timeout=60)
    seen += proc.stderr.read().splitlines()  # what it said before it died: did it reach committing?
    finished = proc.returncode == 0 and any("committing" in line for line in seen)  # done before a late kill
    assert proc.returncode == -signal.SIGKILL or finished, f"run ended before the kill point {marker!r}: {seen}"
    return seen


#: 20 moments spread over an ingest's phases: (progress message, seconds after it). The last one may land
#: after the new generation is published; every other one must leave the store exactly as it was.
KILL_MOMENTS = [
    ("reading", 0.0), ("reading", 0.3), ("reading", 1.0),  # parsing files
    ("writing the postings table", 0.0), ("writing the postings table", 0.2),  # copying, loading DuckDB
    ("writing the postings table", 0.5),
    ("loading the embedding model", 0.0), ("loading the embedding model", 0.3),
    ("new texts (postings)", 0.5), ("new texts (postings)", 2.0),  # mid-embedding
    ("new texts (postings)", 4.0), ("new texts (postings)", 6.0),
    ("new posting vectors", 0.1), ("new posting vectors", 0.8), ("new posting vectors", 1.6),  # mid-Chroma add
    ("new posting vectors", 2.4), ("new posting vectors", 3.2),
    ("reading", 0.6), ("writing the postings table", 0.8),
    ("committing", 0.0),
]  # fmt: skip


@pytest.mark.parametrize("marker, delay", KILL_MOMENTS)
def test_kill_9_leaves_the_store_as_it_was_and_consistent(
    base_store: Path, marker: str, delay: float, tmp_path: Path
) -> None:
    # Each kill on its own copy: a kill that lands after the run began committing may publish, and the other
    # tests must keep a store that still has the whole bundled corpus to ingest.
    store = tmp_path / "store"
    shutil.copytree(base_store, store, ignore=shutil.ignore_patterns(".lock"))
    before = _snapshot(store)
    seen = _kill_when(_start_big_ingest(store), marker, delay)
    after = _snapshot(store)
    # Checked from a separate process, as a person would after a crash.
    check = subprocess.run(_cli("check", "--store", str(store)), capture_output=True, text=True, cwd=REPO,
                           timeout=300)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    committing = any("committing" in line for line in seen)
    if committing and after["CURRENT"] != before["CURRENT"]:
        return  # killed once the run was committing and it published: the whole new generation, check passed
    assert after == before, seen


def test_after_a_kill_the_next_run_completes(base_store: Path) -> None:
    run = subprocess.run(
        _cli("ingest", str(POSTINGS / "lagou_2017" / "nlp.csv"), str(POSTINGS / "lagou_2017" / "python.csv"),
             "--store", str(base_store), "-q"),
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert not list(base_store.glob(".staging-*"))
    chroma, table, agree = _count(base_store)
    assert agree and table > 325 and 0 < chroma <= table


def test_a_second_writer_process_gets_a_clear_error(base_store: Path) -> None:
    first = _start_big_ingest(base_store)
    try:
        assert first.stderr is not None
        for line in first.stderr:
            if "reading" in line:
                break
        second = subprocess.run(
            _cli("ingest", str(POSTINGS / "lagou_2017" / "nlp.csv"), "--store", str(base_store)),
            capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # fmt: skip
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"error: store {base_store} is in use by PID {first.pid} (an ingest is running). "
            "Hint: wait for it to finish, or pass --store to write another store."
        )
    finally:
        first.kill()
        first.wait(timeout=60)
