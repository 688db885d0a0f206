"""Latency of the served `/ask` endpoint under load: one client alone, then many concurrent clients.

Run:  python benchmarks/ui_load.py [--store vectorstore] [--rounds 2] [--clients 20] [--questions 10]
      python benchmarks/ui_load.py --clients 50 --duration 120    (a soak: memory at start and end)

Starts a real `career-assistant serve` on a free local port, then calls `/ask` through `gradio_client`
like a user would: first one client asking a fixed set of English and Chinese questions in turn (after
one warm-up question), then `--clients` threads, each with its own Client, released together and each
asking `--questions` questions. Percentiles are nearest-rank (the smallest latency with at least p% of
the latencies at or below it), so every reported value is a latency that was actually measured.

With `--duration S`, each concurrent client asks in a loop for S seconds instead, and the server's resident
memory is read every second: "start" is after the first `--warm-up` seconds of load (caches filled, every
client connected), "end" is the last reading; growth between them is what a leak would show.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "What do NLP engineers earn in Beijing?",
    "深圳大模型岗位的月薪中位数是多少？",
    "Which cities have the most machine learning jobs?",
    "Compare NLP salaries in Beijing and Shanghai",
    "北京和杭州的大模型岗位哪个薪资高？",
    "How has demand for machine learning jobs changed over time?",
    "Why is there a shortage of AI talent in China?",
    "DeepSeek对招聘有什么影响？",
    "I'm a Java backend developer in Shanghai on 15k a month. How do I move into machine learning?",
    "我在北京做测试，月薪1.2万，怎么转数据分析？",
]
WARM_UP = "上海算法岗位最需要哪些技能？"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nearest_rank(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank: the ceil(p/100 * n)-th smallest value."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, stderr: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr.seek(0)
            raise SystemExit(
                f"the server exited with status {proc.returncode}:\n{stderr.read().decode(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer {url} within {timeout:.0f} s")


def _ask(client: Any, question: str, latencies: list[float], errors: list[str]) -> None:
    """One timed call; a failure or an empty answer counts as an error (lists are appended to atomically)."""
    t0 = time.perf_counter()
    try:
        reply = client.predict(question, api_name="/ask")
    except Exception as exc:  # every failure is a measured error, not a crash
        errors.append(f"{question!r}: {type(exc).__name__}: {exc}")
        return
    latencies.append((time.perf_counter() - t0) * 1000)
    answer = reply.get("answer") if isinstance(reply, dict) else None
    if not isinstance(answer, str) or not answer.strip():
        errors.append(f"{question!r}: reply without an answer: {str(reply)[:200]}")


def _peak_rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mb(pid: int) -> float | None:
    return _peak_rss_mb(pid, "VmRSS")


def _row(label: str, requests: int, errors: int, latencies: list[float], wall: float) -> str:
    if not latencies:
        return f"| {label} | {requests} | {errors} | - | - | - | 0.0 |"
    p50, p95 = _nearest_rank(latencies, 50), _nearest_rank(latencies, 95)
    answers = len(latencies) / wall
    return f"| {label} | {requests} | {errors} | {p50:.0f} | {p95:.0f} | {max(latencies):.0f} | {answers:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default="vectorstore")
    parser.add_argument("--rounds", type=int, default=2, help="single-client rounds over the questions")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients in the second phase")
    parser.add_argument("--questions", type=int, default=10, help="questions each concurrent client asks")
    parser.add_argument("--duration", type=float, default=0, help="seconds of load (instead of --questions each)")
    parser.add_argument("--warm-up", type=float, default=20, help="seconds of load before memory's start reading")
    parser.add_argument("--startup-timeout", type=float, default=180, help="seconds to wait for the server")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gradio_client import Client

    from assistant.generations import current_generation
    from assistant.ui import CONCURRENCY, QUEUE_SIZE

    store = Path(args.store).resolve()
    if not store.is_dir() or current_generation(store) is None:
        raise SystemExit(
            f"no store at {store}: build one first with `career-assistant ingest --bundled --store {args.store}`"
        )

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
    stderr = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "serve", "--store", str(store), "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
    )  # fmt: skip
    try:
        t_start = time.perf_counter()
        _wait_until_up(server, url, stderr, args.startup_timeout)
        startup = time.perf_counter() - t_start

        single: list[float] = []
        single_errors: list[str] = []
        client = Client(url, verbose=False)
        warm_up_errors: list[str] = []
        _ask(client, WARM_UP, [], warm_up_errors)
        t0 = time.perf_counter()
        for _ in range(args.rounds):
            for question in QUESTIONS:
                _ask(client, question, single, single_errors)
        single_wall = time.perf_counter() - t0

        clients = [Client(url, verbose=False) for _ in range(args.clients)]
        many: list[float] = []
        many_errors: list[str] = []
        barrier = threading.Barrier(args.clients + 1)

        deadline = [0.0]

        def user(index: int) -> None:
            barrier.wait()
            k = 0
            while (time.perf_counter() < deadline[0]) if args.duration else (k < args.questions):
                _ask(clients[index], QUESTIONS[(index + k) % len(QUESTIONS)], many, many_errors)
                k += 1

        threads = [threading.Thread(target=user, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        t0 = time.perf_counter()
        deadline[0] = t0 + args.duration
        barrier.wait()
        memory: list[tuple[float, float]] = []  # (seconds into the load, resident MB)
        while any(thread.is_alive() for thread in threads):
            now = _rss_mb(server.pid)
            if now is not None:
                memory.append((time.perf_counter() - t0, now))
            time.sleep(1)
        for thread in threads:
            thread.join()
        many_wall = time.perf_counter() - t0
        rss = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    stderr.seek(0)
    server_log = [line for line in stderr.read().decode(errors="replace").splitlines() if line.strip()]

    print(f"\n/ask under load: store {store}, {os.cpu_count()} cores, server up in {startup:.1f} s\n")
    print("| clients | requests | errors | p50 ms | p95 ms | max ms | throughput answers/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(_row("single client", args.rounds * len(QUESTIONS), len(single_errors), single, single_wall))
    label = f"{args.clients} clients" + (f" × {args.duration:.0f} s" if args.duration else "")
    requests = len(many) + len(many_errors)
    print(_row(label, requests, len(many_errors), many, many_wall))
    print()
    if single and many:
        p50_ratio = _nearest_rank(many, 50) / _nearest_rank(single, 50)
        p95_ratio = _nearest_rank(many, 95) / _nearest_rank(single, 95)
        print(f"- p50({args.clients})/p50(1) = {p50_ratio:.1f}x, p95({args.clients})/p95(1) = {p95_ratio:.1f}x")
    print(f"- server: concurrency limit {CONCURRENCY}, queue size {QUEUE_SIZE}; percentiles by nearest rank")
    print(f"- server peak RSS: {f'{rss:,.0f} MB' if rss is not None else 'unknown'}")
    if args.duration and memory:
        warm = [mb for at, mb in memory if at >= args.warm_up] or [memory[-1][1]]
        start, end = warm[0], memory[-1][1]
        print(
            f"- server memory under load: {start:,.0f} MB after {args.warm_up:.0f} s of warm-up, {end:,.0f} MB at "
            f"the end ({(end - start) / start:+.1%}); at the first reading {memory[0][1]:,.0f} MB"
        )
    if server_log:
        print(f"- server stderr ({len(server_log)} lines), last few:")
        for line in server_log[-5:]:
            print(f"    {line}")
    errors = warm_up_errors + single_errors + many_errors
    if errors:
        print(f"\n{len(errors)} errors, first few:")
        for error in errors[:5]:
            print(f"  {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()
