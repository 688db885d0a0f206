"""Test-wide guards: no network, no writes under the real $HOME, offline model loading."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Hermetic: every cache (ONNX export, chroma, duckdb, jieba) goes to one temp home for the whole run.
_HOME = Path(tempfile.mkdtemp(prefix="career-assistant-test-home-"))
os.environ["HOME"] = str(_HOME)
os.environ["XDG_CACHE_HOME"] = str(_HOME / ".cache")
os.environ["XDG_CONFIG_HOME"] = str(_HOME / ".config")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
for _name in list(os.environ):
    if _name.startswith("CAREER_ASSISTANT_"):
        del os.environ[_name]

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "ingest" / "corpus"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def bundled_corpus() -> Path:
    return BUNDLED


@pytest.fixture(scope="session")
def bundled_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The whole bundled corpus ingested once per test run through the real CLI: (store, its report)."""
    import subprocess
    import sys

    store = tmp_path_factory.mktemp("bundled") / "store"
    run = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", "--bundled", "--store", str(store)],
        capture_output=True, text=True, cwd=REPO, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return store, run.stdout


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """A function giving a port on 127.0.0.1 that is free right now, for a server a test starts."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return pick


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser is ever downloaded)."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: install it with `apt-get install chromium fonts-wqy-microhei`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def copy_of_bundled_store(bundled_store: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
                          ) -> Callable[[str], Path]:  # fmt: skip
    """A function copying the bundled store for a test that changes it (uploads). Copied while no process
    has it open (Chroma writes to its files even when read, so a live store is never byte-copied)."""
    import shutil

    def copy(name: str) -> Path:
        target = tmp_path_factory.mktemp(name) / "store"
        shutil.copytree(bundled_store[0], target, symlinks=True, ignore=shutil.ignore_patterns(".lock"))
        return target

    return copy


def hash_embedder(model_id: str = "hash-bigrams@test") -> Any:
    """A tiny deterministic embedder for fast tests of the store contract: character bigrams hashed into 64
    buckets. It is an `Embedder` like the real ones, so everything downstream treats it as one."""
    import hashlib

    import numpy as np

    from assistant.embeddings import Embedder

    class HashEmbedder(Embedder):
        def _encode(self, texts: list[str], *, query: bool) -> Any:
            out = np.zeros((len(texts), self.dimension), dtype=np.float32)
            for row, text in enumerate(texts):
                padded = f" {text.lower()} "
                for a, b in zip(padded, padded[1:], strict=False):
                    out[row, hashlib.sha256((a + b).encode()).digest()[0] % self.dimension] += 1.0
            out[:, 0] += 1e-3  # no all-zero row
            return out

    return HashEmbedder(model_id, 64)


@pytest.fixture
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """The embedding model replaced for one test by `hash_embedder`: `get_embedder` and `model_identity`
    give the fake, whatever the settings. Call the fixture's value with another id to switch models."""
    from assistant import embeddings
    from assistant.model_source import ModelIdentity

    def use(model_id: str = "hash-bigrams@test") -> Any:
        fake = hash_embedder(model_id)
        monkeypatch.setattr(embeddings, "get_embedder", lambda settings: fake)
        monkeypatch.setattr(embeddings, "model_identity", lambda settings: ModelIdentity(model_id, "test 1", 64))
        return fake

    use()
    return use
