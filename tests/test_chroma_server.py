"""Client/server mode against a real `chroma run` (the Rust server in the chromadb wheel), and the incremental
store in both modes: an ingest adds one segment with what it embeds and never writes a segment a live
generation lists.

The embedder is the fast test one (tests/conftest.py); the page and the replicas, with the real model, are in
tests/test_scale_serving.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.corpus import Corpus
from assistant.errors import RuntimeFailure, StoreMismatchError, UserError
from assistant.store import VectorSpace
from ingest.check import check_store
from ingest.pipeline import IngestOptions, ingest
from ingest.sync import MAX_SEGMENTS
from tests.chroma_server import ChromaServer

CITIES = ["北京", "上海", "深圳", "杭州", "成都"]
ROLES = ["算法工程师", "数据工程师", "Java开发", "产品经理", "NLP工程师", "测试工程师"]


@pytest.fixture(autouse=True)
def _fast_model(fake_embedder: Callable[[str], object]) -> None:
    return None


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    with ChromaServer(tmp_path_factory.mktemp("chroma-data")) as server:
        yield server


def _jobs(path: Path, rows: int, start: int = 0, tag: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["title,company,city,salary"]
    lines += [f"{ROLES[i % 6]}{tag}{i},公司{i % 40},{CITIES[i % 5]},{10 + i % 20}k-{20 + i % 30}k"
              for i in range(start, start + rows)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    _jobs(root / "board" / "jobs.csv", 1500)
    (root / "notes.md").write_text("# AI hiring\n\nDemand for NLP engineers doubled in Beijing this year.\n",
                                   encoding="utf-8")  # fmt: skip
    return root


@pytest.fixture(params=["embedded", "server"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = request.getfixturevalue("chroma").url if request.param == "server" else None
    return Settings(store=tmp_path / "store", chroma_url=url)


def _opts() -> IngestOptions:
    return IngestOptions(source="TestBoard")


def _manifest(settings: Settings) -> dict[str, Any]:
    gen = settings.store / (settings.store / "CURRENT").read_text().strip()
    return dict(json.loads((gen / "manifest.json").read_text(encoding="utf-8")))


def _segment_ids(settings: Settings) -> dict[str, list[str]]:
    """Each listed segment's record ids, read with chromadb directly (not through the code under test)."""
    import chromadb

    out: dict[str, list[str]] = {}
    for segment in _manifest(settings)["segments"]:
        if settings.chroma_url:
            host, port = settings.chroma_url.removeprefix("http://").split(":")
            from chromadb.config import Settings as ChromaSettings

            provider = "chromadb.auth.token_authn.TokenAuthClientProvider"
            auth = {"chroma_client_auth_provider": provider, "chroma_client_auth_credentials": settings.chroma_token}
            auth = auth if settings.chroma_token else {}
            client: Any = chromadb.HttpClient(host=host, port=int(port), settings=ChromaSettings(**auth))
            store_id = (settings.store / "STORE_ID").read_text().strip()
            collection = client.get_collection(f"ca-{store_id}-{segment['name']}")
        else:
            client = chromadb.PersistentClient(path=str(settings.store / "vectors" / segment["name"]))
            collection = client.get_collection("vectors")
        out[segment["name"]] = sorted(collection.get(include=[])["ids"])
    return out


def _search(settings: Settings, text: str, k: int = 5) -> list[str]:
    from assistant import figures

    corpus = Corpus(settings)
    try:
        vector = corpus.embed_query(text)
        hits = corpus.vectors.search(
            "posting", vector, k, keep=lambda keys: figures.live_vector_keys(corpus, "posting", keys)
        )
        return [key for key, _ in hits]
    finally:
        corpus.close()


def _found(settings: Settings, text: str, city: str | None, k: int = 8) -> list[tuple[str, float]]:
    """The retriever's dense hits (posting id, score), in a city or anywhere."""
    from assistant.retrieval import _dense
    from assistant.schema import Filters

    corpus = Corpus(settings)
    try:
        found = _dense(corpus, corpus.embed_query(text), "posting", Filters(cities=(city,)) if city else None, k)
        return [(e.record_id, round(e.score, 5)) for e in found]
    finally:
        corpus.close()


def test_ingest_ask_and_check_against_a_real_chroma_server(files: Path, chroma: ChromaServer, tmp_path: Path) -> None:
    from assistant.api import CareerAssistant

    server = Settings(store=tmp_path / "server-store", chroma_url=chroma.url)
    embedded = Settings(store=tmp_path / "embedded-store")
    for settings in (server, embedded):
        report = ingest([files], settings, _opts())
        assert report.ok and report.postings == 1500 and report.chunks == 1
    assert _manifest(server)["vectors"]["mode"] == "server"
    assert not (server.store / "vectors").exists()  # every vector is on the server
    store_id = (server.store / "STORE_ID").read_text().strip()
    names = sorted(c.name for c in chroma.client().list_collections())
    assert [n for n in names if n.startswith(f"ca-{store_id}-")] == sorted(
        f"ca-{store_id}-{s['name']}" for s in _manifest(server)["segments"]
    )
    assert check_store(server).ok, check_store(server).render()
    # The same files give the same nearest records in both modes.
    for text, city in (("NLP工程师 北京", None), ("数据工程师", "Shanghai")):
        assert _found(server, text, city) == _found(embedded, text, city) != []
    with CareerAssistant(settings=server) as assistant:
        answer = assistant.ask("北京NLP工程师的月薪是多少？")
    with CareerAssistant(settings=embedded) as assistant:
        same = assistant.ask("北京NLP工程师的月薪是多少？")
    assert answer.figures and answer.text == same.text and answer.citations == same.citations


def test_a_three_row_file_adds_one_segment_and_leaves_the_others_untouched(files: Path, settings: Settings) -> None:
    ingest([files], settings, _opts())
    before = _segment_ids(settings)
    reader = Corpus(settings)  # opened on the first generation, before the ingest
    try:
        first = reader.vectors.search("posting", reader.embed_query("LLM推理工程师"), 3, keep=set)
        _jobs(files / "board" / "extra.csv", 3, start=5000, tag="LLM推理")
        report = ingest([files], settings, _opts())
        assert report.ok and report.committed and report.texts_embedded == 3
        after = _segment_ids(settings)
        assert {k: v for k, v in after.items() if k in before} == before  # the live segments were not written
        [new] = [k for k in after if k not in before]
        assert len(after[new]) == 3 and new.startswith("p000002-")
        # The reader on the old generation still searches its segments and finds what it found before.
        assert reader.vectors.search("posting", reader.embed_query("LLM推理工程师"), 3, keep=set) == first
    finally:
        reader.close()
    assert check_store(settings).ok
    assert _search(settings, "LLM推理工程师")[0] in after[new]


def test_changed_rows_leave_dead_records_that_readers_skip_and_a_mostly_dead_segment_is_folded(
    files: Path, settings: Settings
) -> None:
    ingest([files], settings, _opts())
    jobs = files / "board" / "jobs.csv"
    # A tenth of the rows change their title: their records die, new ones go to a new segment.
    text = jobs.read_text(encoding="utf-8").splitlines()
    text[1:151] = [line.replace("工程师", "专家", 1) for line in text[1:151]]
    jobs.write_text("\n".join(text) + "\n", encoding="utf-8")
    report = ingest([files], settings, _opts())
    segments = {s["name"]: s for s in _manifest(settings)["segments"] if s["kind"] == "posting"}
    base = next(s for s in segments.values() if s["name"].startswith("p000001-"))
    assert report.records_deleted == base["records"] - base["live"] > 0
    assert check_store(settings).ok
    # Dead records are never shown: every hit maps to a posting of the live generation.
    corpus = Corpus(settings)
    try:
        live = {r[0] for r in corpus.query("SELECT vector_key FROM posting_vectors")}
        hits = _search(settings, "算法工程师 北京", 50)
        assert len(hits) == 50 and set(hits) <= live
    finally:
        corpus.close()
    # Replacing most of the rows leaves the first segment mostly dead: its live records are copied and it goes.
    _jobs(jobs, 1500, tag="新")
    ingest([files], settings, _opts())
    names = [s["name"] for s in _manifest(settings)["segments"] if s["kind"] == "posting"]
    assert base["name"] not in names and check_store(settings).ok
    if not settings.chroma_url:
        assert not (settings.store / "vectors" / base["name"]).exists() or len(list(settings.store.glob("gen-*"))) > 1


def test_many_small_ingests_keep_the_segments_few(files: Path, settings: Settings) -> None:
    ingest([files], settings, _opts())
    for n in range(MAX_SEGMENTS + 2):
        _jobs(files / "board" / f"small-{n}.csv", 3, start=9000 + 10 * n, tag=f"批{n}")
        assert ingest([files], settings, _opts()).ok
        kinds = [s["kind"] for s in _manifest(settings)["segments"]]
        assert kinds.count("posting") <= MAX_SEGMENTS
    result = check_store(settings)
    assert result.ok, result.render()
    assert Corpus(settings).table.query("SELECT count(*) FROM postings")[0][0] == 1500 + 3 * (MAX_SEGMENTS + 2)


def test_a_failed_run_leaves_a_segment_nothing_lists_and_the_next_run_removes_it(
    files: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([files], settings, _opts())
    listed = set(_segment_ids(settings))
    _jobs(files / "board" / "extra.csv", 3, start=7000, tag="新增")
    real_add = VectorSpace.add

    def add_then_fail(self: VectorSpace, *args: Any, **kwargs: Any) -> None:
        real_add(self, *args, **kwargs)  # the records reach the new segment, then the run dies
        raise RuntimeFailure("writing to the vector store failed: killed")

    monkeypatch.setattr(VectorSpace, "add", add_then_fail)
    with pytest.raises(RuntimeFailure, match="killed"):
        ingest([files], settings, _opts())
    monkeypatch.setattr(VectorSpace, "add", real_add)
    space = VectorSpace(settings.store, settings.embedding_backend, url=settings.chroma_url)
    try:
        assert space.names() > listed  # the dead run's segment is there, listed by nothing
        assert set(_segment_ids(settings)) == listed and check_store(settings).ok
        assert ingest([files], settings, _opts()).ok
        assert space.names() == set(_segment_ids(settings))
    finally:
        space.close()


def test_derived_postings_after_small_changes_equal_a_fresh_build(files: Path, tmp_path: Path) -> None:
    """The incremental derivation (touched postings only) against a build from scratch of the same files."""
    settings = Settings(store=tmp_path / "incremental")
    ingest([files], settings, _opts())
    jobs = files / "board" / "jobs.csv"
    lines = jobs.read_text(encoding="utf-8").splitlines()
    original = list(lines)
    # Near-duplicate groups change (a row repeated under another id, a title changed), rows go and come.
    lines[5] = lines[5].replace("公司5", "公司6")
    lines.append(lines[10])
    lines += [lines[20].replace(",", "X,", 1)]
    del lines[30:35]
    jobs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _jobs(files / "board" / "more.csv", 20, start=0)  # the same titles again: near-duplicates across files
    assert ingest([files], settings, _opts()).ok
    _assert_live_records_are_the_mapped_ones(settings)
    # The removed rows come back: their records, dead in the last generation, are used again (nothing embedded).
    jobs.write_text("\n".join(lines[:30] + original[30:35] + lines[30:]) + "\n", encoding="utf-8")
    report = ingest([files], settings, _opts())
    assert report.ok and report.texts_embedded == 0 and report.texts_reused >= 5
    _assert_live_records_are_the_mapped_ones(settings)
    fresh = Settings(store=tmp_path / "fresh")
    ingest([files], fresh, _opts())
    query = "SELECT * EXCLUDE (keywords) FROM postings ORDER BY posting_id"
    a, b = Corpus(settings), Corpus(fresh)
    try:
        assert a.query(query) == b.query(query)
        assert a.query("SELECT * FROM posting_vectors ORDER BY ALL") == b.query(
            "SELECT * FROM posting_vectors ORDER BY ALL"
        )
    finally:
        a.close()
        b.close()


def _assert_live_records_are_the_mapped_ones(settings: Settings) -> None:
    """Each posting's vector key is held by exactly one live record, and no other record is live."""
    corpus = Corpus(settings)
    try:
        mapped = {r[0] for r in corpus.query("SELECT vector_key FROM posting_vectors")}
        records = corpus.query("SELECT vector_key, live FROM vector_records WHERE kind = 'posting'")
        assert {k for k, live in records if live} == mapped
        assert len({k for k, _ in records}) == len(records)
    finally:
        corpus.close()


def _vectors_of(settings: Settings) -> dict[str, Any]:
    """Every record's stored vector, read with chromadb directly (not through the code under test)."""
    import chromadb
    import numpy as np

    out: dict[str, Any] = {}
    for segment in _manifest(settings)["segments"]:
        if segment["kind"] != "posting":
            continue
        if settings.chroma_url:
            client: Any = chromadb.HttpClient(*settings.chroma_url.removeprefix("http://").split(":"))
            store_id = (settings.store / "STORE_ID").read_text().strip()
            collection = client.get_collection(f"ca-{store_id}-{segment['name']}")
        else:
            client = chromadb.PersistentClient(path=str(settings.store / "vectors" / segment["name"]))
            collection = client.get_collection("vectors")
        got = collection.get(include=["embeddings"])
        out.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
    return out


@pytest.mark.parametrize("path", ["nearest first", "among those that pass", "chroma's filter"])
def test_a_filtered_search_finds_the_nearest_passing_records_whichever_way_it_searches(
    files: Path, settings: Settings, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city few postings are in: the records found are the exact nearest of those the table says pass,
    computed here from the stored vectors, whether found among the nearest unfiltered records, among the
    listed records that pass, or by Chroma's own filter."""
    import duckdb
    import numpy as np

    from assistant import retrieval, store
    from assistant.schema import Filters

    rare = files / "board" / "rare.csv"
    rare.write_text("title,company,city,salary\n" + "".join(f"大连算法岗{i},公司{i},大连,20k-30k\n" for i in range(9)),
                    encoding="utf-8")  # fmt: skip
    ingest([files], settings, _opts())
    if path == "among those that pass":
        monkeypatch.setattr(store, "_OVERFETCH_MAX", 200)
    if path == "chroma's filter":
        monkeypatch.setattr(store, "_OVERFETCH_MAX", 200)
        monkeypatch.setattr(retrieval, "ALLOWED_MAX", 3)
    ways: list[str] = []
    among, segment_search = store.VectorView._among, store.VectorView._search_segment
    monkeypatch.setattr(store.VectorView, "_among", lambda self, *a: ways.append("among") or among(self, *a))
    monkeypatch.setattr(
        store.VectorView, "_search_segment",
        lambda self, *a: ways.append("chroma" if a[4] else "plain") or segment_search(self, *a),
    )  # fmt: skip
    gen = settings.store / (settings.store / "CURRENT").read_text().strip()
    with duckdb.connect(str(gen / "postings.duckdb"), read_only=True) as con:
        city = con.execute("SELECT city FROM postings WHERE title = '大连算法岗0'").fetchone()[0]
        mapped = con.execute("SELECT v.vector_key, p.posting_id FROM postings p JOIN posting_vectors v "
                             "USING (posting_id) WHERE p.city = ?", [city]).fetchall()  # fmt: skip
    vectors = _vectors_of(settings)
    corpus = Corpus(settings)
    try:
        question = corpus.embed_query("NLP工程师 上海")
        q = np.asarray(question, dtype=np.float32)
        distance = {key: 1.0 - float(vectors[key] @ q / np.linalg.norm(vectors[key]) / np.linalg.norm(q))
                    for key, _ in mapped}  # fmt: skip
        expected = sorted(distance.values())[:5]
        found = retrieval._dense(corpus, question, "posting", Filters(cities=(city,)), 5)
    finally:
        corpus.close()
    assert len(mapped) == 9 and len(found) == 5
    assert [round(1.0 - e.score, 4) for e in found] == [round(d, 4) for d in expected]
    assert {e.record_id for e in found} <= {pid for _, pid in mapped}
    expected_ways = {"nearest first": [], "among those that pass": ["among"], "chroma's filter": ["among", "chroma"]}
    assert ways == expected_ways[path]


def test_a_missing_server_or_a_wrong_url_is_a_clear_error(
    files: Path, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    from assistant.cli import main

    down = Settings(store=tmp_path / "store", chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeFailure, match="cannot reach the Chroma server at http://127.0.0.1:.*Hint: start it"):
        ingest([files], down, _opts())
    assert not (tmp_path / "store" / "CURRENT").exists()
    with pytest.raises(UserError, match="must look like http://HOST:PORT"):
        Settings(store=tmp_path / "store", chroma_url="127.0.0.1:8000")
    assert main(["ingest", str(files), "--store", str(tmp_path / "store"), "--chroma-url", down.chroma_url or ""]) != 0


def test_a_store_is_read_only_in_the_mode_it_was_built_in(files: Path, chroma: ChromaServer, tmp_path: Path) -> None:
    embedded = Settings(store=tmp_path / "store")
    ingest([files], embedded, _opts())
    wrong = embedded.with_(chroma_url=chroma.url)
    with pytest.raises(StoreMismatchError, match="keeps its vectors in .*leave out --chroma-url"):
        ingest([files], wrong, _opts())
    with pytest.raises(StoreMismatchError, match="keeps its vectors in"):
        Corpus(wrong).vectors  # noqa: B018
    assert not check_store(wrong).ok
    assert ingest([files], wrong, IngestOptions(source="TestBoard", rebuild=True)).ok  # a rebuild moves it
    with pytest.raises(StoreMismatchError, match="on a Chroma server.*pass its --chroma-url"):
        Corpus(embedded).vectors  # noqa: B018


def test_check_finds_records_deleted_on_the_server(files: Path, chroma: ChromaServer, tmp_path: Path) -> None:
    settings = Settings(store=tmp_path / "store", chroma_url=chroma.url)
    ingest([files], settings, _opts())
    store_id = (settings.store / "STORE_ID").read_text().strip()
    posting = next(s["name"] for s in _manifest(settings)["segments"] if s["kind"] == "posting")
    collection = chroma.client().get_collection(f"ca-{store_id}-{posting}")
    collection.delete(ids=collection.get(limit=3, include=[])["ids"])
    result = check_store(settings)
    assert not result.ok and any("ids differ" in p for p in result.problems), result.render()
    chroma.client().delete_collection(f"ca-{store_id}-{posting}")
    result = check_store(settings)
    assert any(f"vector segment {posting} cannot be read" in p for p in result.problems), result.render()


def test_the_readme_recipe_passes_the_token_and_refuses_anything_else(files: Path, tmp_path: Path) -> None:
    """`chroma run` on loopback behind nginx with the README's server block: the token goes through."""
    token = "s3cret-token-for-tests"
    with ChromaServer(tmp_path / "chroma-auth", token=token) as server:
        settings = Settings(store=tmp_path / "store", chroma_url=server.url, chroma_token=token)
        assert ingest([files], settings, _opts()).ok
        result = check_store(settings)
        assert result.ok, result.render()
        assert _search(settings, "NLP工程师 北京")
        before = (_manifest(settings), _segment_ids(settings))
        _jobs(files / "board" / "extra.csv", 3, start=8000, tag="令牌")
        for wrong in (None, "not-the-token"):
            with pytest.raises(RuntimeFailure, match="refused the token"):
                Corpus(settings.with_(chroma_token=wrong)).vectors  # noqa: B018
            with pytest.raises(RuntimeFailure, match="refused the token"):
                ingest([files], settings.with_(chroma_token=wrong), _opts())
            assert (_manifest(settings), _segment_ids(settings)) == before  # nothing written, nothing lost
        result = check_store(settings.with_(chroma_token=None))
        assert not result.ok and "refused the token" in result.render() and "--repair" not in result.render()


def test_folding_copies_mostly_dead_segments_and_the_smallest_when_segments_are_many() -> None:
    from ingest.sync import _to_fold

    big = {"p1": ("posting", 1_000_000, 990_000), "p2": ("posting", 400_000, 400_000)}
    assert _to_fold(big) == []
    assert _to_fold({**big, "p3": ("posting", 10, 4)}) == ["p3"]  # more dead than live
    many = {**big, **{f"s{i}": ("posting", 3 + i, 3 + i) for i in range(MAX_SEGMENTS - 2)}}
    assert len(many) == MAX_SEGMENTS  # no room left for the new segment: the small ones go, the two large stay
    assert _to_fold(many) == sorted(f"s{i}" for i in range(MAX_SEGMENTS - 2))
