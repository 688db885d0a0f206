"""Test-wide guards: no network, no writes under the real $HOME, offline model loading."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from pathlib import Path

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
