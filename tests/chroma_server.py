"""A real Chroma server for tests: `chroma run` from the chromadb package, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMA = Path(sys.executable).parent / "chroma"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """`chroma run --path DATA --host 127.0.0.1 --port N`, started on entry, stopped (and waited for) on exit.

    With a `token`: the README's recipe for a shared server, `chroma run` on a loopback port behind nginx, which
    passes only requests carrying the token (the server block is read from the README, so the two agree).
    """

    def __init__(self, data: Path, port: int | None = None, token: str | None = None) -> None:
        self.data = data
        self.token = token
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.proxy: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"chroma-{self.port}.log"

    def __enter__(self) -> ChromaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        inner = _free_port() if self.token else self.port
        command = [str(CHROMA), "run", "--path", str(self.data), "--host", "127.0.0.1", "--port", str(inner)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait(f"http://127.0.0.1:{inner}", self.process, {})
        if self.token:
            conf = _nginx_conf(self.data.parent / f"nginx-{self.port}", self.port, inner, self.token)
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            self.proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", str(conf.parent)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            self._wait(self.url, self.proxy, {"Authorization": f"Bearer {self.token}"})

    def _wait(self, url: str, process: subprocess.Popen[bytes], headers: dict[str, str]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{process.args!r} exited ({process.returncode}): {self.log.read_text()[-2000:]}")
            try:
                request = urllib.request.Request(f"{url}/api/v2/heartbeat", headers=headers)
                with urllib.request.urlopen(request, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{url} did not answer in 60 s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        for process in (self.proxy, self.process):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.process = self.proxy = None

    def client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        return chromadb.HttpClient(
            host="127.0.0.1", port=self.port, settings=ChromaSettings(anonymized_telemetry=False)
        )


README = Path(__file__).resolve().parent.parent / "README.md"


def recipe_server_block() -> str:
    """The nginx server block of the README's "Running at scale" (after `<!-- recipe:nginx -->`)."""
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- recipe:nginx -->", 1)[1].split("```", 2)[1]
    return block.split("\n", 1)[1]  # past the fence's language tag


def _nginx_conf(folder: Path, port: int, inner: int, token: str) -> Path:
    """A whole nginx configuration around the README's server block, its addresses and token filled in."""
    folder.mkdir(parents=True, exist_ok=True)
    server = recipe_server_block().replace("10.0.0.5:8000", f"127.0.0.1:{port}")
    server = server.replace("127.0.0.1:8001", f"127.0.0.1:{inner}").replace("CHANGE-ME-long-random-token", token)
    temp = " ".join(
        f"{name}_temp_path {folder / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        # Run as root, nginx's workers would switch to an unprivileged user that cannot use the test's folder.
        ("user root; " if os.geteuid() == 0 else "")
        + f"daemon off; worker_processes 1; pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'};\n"
        f"events {{ worker_connections 64; }}\nhttp {{ access_log off; {temp}\n{server}\n}}\n",
        encoding="utf-8",
    )
    return conf
