"""`career-assistant check [--repair]` on real stores (DuckDB and Chroma on disk), healthy and damaged.

The vectors are read by a separate process, as `check` does; the embedder is the fast test one
(tests/conftest.py), so the stores are built in seconds. Each damage is made on a copy of one store.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import Settings
from ingest.check import check_store, repair_store
from ingest.pipeline import IngestOptions, ingest

ROWS = 1500  # past Chroma's sync threshold (1,000), so its vector index is written to files


@pytest.fixture(autouse=True)
def _fast_model(fake_embedder: Callable[[str], object]) -> None:
    return None


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("check-files")
    cities = ["北京", "上海", "深圳", "杭州", "成都"]
    roles = ["算法工程师", "数据工程师", "Java开发", "产品经理", "NLP工程师", "测试工程师"]
    lines = ["title,company,city,salary"]
    lines += [f"{roles[i % 6]}{i},公司{i % 40},{cities[i % 5]},{10 + i % 20}k-{20 + i % 30}k" for i in range(ROWS)]
    (root / "board").mkdir()
    (root / "board" / "jobs.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "notes.md").write_text("# AI hiring\n\nDemand for NLP engineers doubled in Beijing this year.\n",
                                   encoding="utf-8")  # fmt: skip
    return root


@pytest.fixture
def store(files: Path, tmp_path: Path) -> Settings:
    settings = Settings(store=tmp_path / "store")
    report = ingest([files], settings, IngestOptions(source="TestBoard"))
    assert report.ok and report.postings == ROWS
    return settings


def _gen(settings: Settings) -> Path:
    name = (settings.store / "CURRENT").read_text().strip()
    return settings.store / name


def test_a_healthy_store_passes_and_says_what_it_checked(store: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    result = check_store(store)
    assert result.ok, result.render()
    text = result.render()
    assert f"{ROWS:,} postings in the table, as the manifest says" in text
    assert "1,500 live postings vectors in 1 segment(s) (1,500 records) match the table and answer a query" in text
    assert main(["check", "--store", str(store.store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:64] = b"\xff" * min(64, len(data))
    path.write_bytes(bytes(data))


def _cut_last_element(header: Path) -> None:
    """Drop the last element from a segment's level-0 data: a file short by one element of what its header says."""
    per_element = int.from_bytes(header.read_bytes()[28:36], "little")  # independent of the code under test
    data = header.parent / "data_level0.bin"
    with data.open("r+b") as f:
        f.truncate(max(0, data.stat().st_size - per_element))


def _segments(gen: Path) -> list[Path]:
    """The vector segment folders the generation lists (postings first), read from its manifest directly."""
    listed = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))["segments"]
    return [gen.parent / "vectors" / s["name"] for s in sorted(listed, key=lambda s: s["kind"] != "posting")]


def _index_files(gen: Path, name: str) -> list[Path]:
    found = sorted(_segments(gen)[0].glob(f"*/{name}"))
    assert found, f"no {name} in {_segments(gen)[0]}"
    return found


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated postings table": lambda gen: _truncate(gen / "postings.duckdb", 0.3),
    "garbled postings table header": lambda gen: _garble(gen / "postings.duckdb"),
    "truncated vector index": lambda gen: [_truncate(p, 0.1) for p in _index_files(gen, "data_level0.bin")],
    "vector index one element short": lambda gen: [_cut_last_element(p) for p in _index_files(gen, "header.bin")],
    "garbled vector index header": lambda gen: [_garble(p) for p in _index_files(gen, "header.bin")],
    "missing vector segment": lambda gen: [shutil.rmtree(p.parent) for p in _index_files(gen, "header.bin")],
    "garbled Chroma database": lambda gen: _garble(_segments(gen)[0] / "chroma.sqlite3"),
    "missing Chroma folder": lambda gen: shutil.rmtree(_segments(gen)[0]),
    "missing article segment": lambda gen: shutil.rmtree(_segments(gen)[-1]),
    "garbled manifest": lambda gen: (gen / "manifest.json").write_text("{not json", encoding="utf-8"),
}


@pytest.mark.slow  # eight stores built, damaged, checked and rebuilt: about 45 s
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damage_is_found_from_a_separate_process_and_repaired(store: Settings, damage: str) -> None:
    before = check_store(store)
    DAMAGES[damage](_gen(store))
    found = check_store(store)
    assert not found.ok, f"{damage} went unnoticed:\n{found.render()}"
    assert "career-assistant check --repair" in found.render()
    if damage == "garbled manifest":
        with pytest.raises(Exception, match="cannot repair from this store's manifest"):
            repair_store(store)
        return
    reports = repair_store(store)
    assert all(r.ok and r.committed for r in reports)
    after = check_store(store)
    assert after.ok, after.render()
    assert [n for n in after.notes if "postings in the table" in n] == [
        n for n in before.notes if "postings in the table" in n
    ]


def test_records_missing_from_the_vectors_are_found(store: Settings) -> None:
    from assistant.store import VectorSpace

    space = VectorSpace(store.store, store.embedding_backend)
    try:
        collection = space.open(_segments(_gen(store))[0].name)
        collection.delete(ids=collection.get(limit=3)["ids"])
    finally:
        space.close()
    result = check_store(store)
    assert not result.ok and any("ids differ" in p for p in result.problems), result.render()


@pytest.mark.slow
def test_repair_reads_each_file_the_way_it_was_read(store: Settings, files: Path) -> None:
    manifest = json.loads((_gen(store) / "manifest.json").read_text(encoding="utf-8"))
    entry = next(e for k, e in manifest["files"].items() if k.endswith("jobs.csv"))
    assert entry["read_with"] == {"source": "TestBoard"}
    DAMAGES["missing Chroma folder"](_gen(store))
    assert main(["check", "--store", str(store.store), "--repair"]) == 0
    from assistant.market import PostingsTable

    with PostingsTable(_gen(store) / "postings.duckdb", read_only=True) as table:
        assert table.query("SELECT DISTINCT source FROM postings") == [("TestBoard",)]


def test_no_store_and_a_dangling_pointer_are_problems(tmp_path: Path, store: Settings) -> None:
    assert not check_store(Settings(store=tmp_path / "nowhere")).ok
    (store.store / "CURRENT").write_text("gen-999999\n", encoding="utf-8")
    result = check_store(store)
    assert not result.ok and "damaged" in result.render()
