"""Reliability in one table: hostile files, kill -9 during ingest, damaged stores, injection in the browser,
faults around a live store, load on the served page, and the memory a 200k-row CSV costs to ingest.

Run:  python benchmarks/reliability.py [--only hostile,kills,damage,injection,faults,load,memory]
                                       [--rows 200000] [--clients 50] [--duration 120]

Each row is measured, not assumed: the test-backed rows run those tests (real files, real processes, a real
browser) and count what they did; the load row starts a real server and 50 clients
(`benchmarks/ui_load.py`); the memory row writes a synthetic postings CSV (`benchmarks/synthetic.py`) and
ingests it into an empty store in a child process, whose peak resident memory the kernel reports.
Takes about 20 minutes on 2 cores; run it alone (other load on the machine changes the timings).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = ("hostile", "kills", "damage", "injection", "faults", "load", "memory")


@dataclass
class Row:
    check: str
    target: str
    measured: str
    ok: bool


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}


def _pytest(*args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Run pytest on the given selection; the outcome of each test by its id (passed, failed, skipped, error)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *args],
            cwd=REPO, env=env or _env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not report.exists():
            return {}
        outcomes: dict[str, str] = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            outcomes[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
        return outcomes


def _tally(outcomes: dict[str, str]) -> str:
    counts = Counter(outcomes.values())
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no tests ran"


def hostile() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "outcomes.jsonl"
        outcomes = _pytest("tests/test_hostile.py", env={**_env(), "HOSTILE_OUTCOMES_LOG": str(log)})
        lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    kinds = Counter(line["outcome"] for line in lines)
    tests = Counter(line["test"] for line in lines)
    by_test = ", ".join(f"{n} {test}" for test, n in tests.items())
    measured = (f"{len(lines)} tried ({by_test}): {kinds['crashed']} crashed, {kinds['hung']} hung, "
                f"{kinds['partial']} partial ({kinds['read']} read, {kinds['refused']} refused with a reason); "
                f"tests: {_tally(outcomes)}")  # fmt: skip
    failures = kinds["crashed"] + kinds["hung"] + kinds["partial"]
    ok = len(lines) >= 500 and not failures and set(outcomes.values()) == {"passed"}
    return [Row("hostile files: tried / crashed / hung / partial", "≥ 500 / 0 / 0 / 0", measured, ok)]


def kills() -> list[Row]:
    outcomes = _pytest("tests/test_atomic.py", "-k", "kill_9")
    passed = sum(1 for v in outcomes.values() if v == "passed")
    return [Row("kill -9 during ingest, then `check` from another process", "20/20 consistent",
                f"{passed}/{len(outcomes)} consistent (store as before, or the whole new generation)",
                passed == len(outcomes) >= 20)]  # fmt: skip


def damage() -> list[Row]:
    outcomes = _pytest("tests/test_check.py")
    damaged = {k: v for k, v in outcomes.items() if "damage" in k or "missing" in k or "dangling" in k}
    passed = sum(1 for v in damaged.values() if v == "passed")
    return [Row("damaged stores found by `check` (separate process) and repaired", "all",
                f"{passed}/{len(damaged)} damage cases; whole check suite: {_tally(outcomes)}",
                passed == len(damaged) > 0 and set(outcomes.values()) == {"passed"})]  # fmt: skip


def injection() -> list[Row]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("browser_cases", REPO / "tests" / "test_browser.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    documents = module.HOSTILE_MD + module.HOSTILE_HTML
    payloads = documents.count("window.__pwned") + documents.count("![")
    outcomes = _pytest("tests/test_browser.py", "-k", "text_is_shown_as_text")
    ok = bool(outcomes) and set(outcomes.values()) == {"passed"}
    return [
        Row(
            "HTML / script / image injection in documents, in the real browser",
            "all rendered as text",
            f"{payloads} payloads (script, img onerror, escaped tags, markdown image, javascript: link) in the "
            f"chat and sources panel: {'all as text, nothing run or fetched' if ok else _tally(outcomes)}",
            ok,
        )
    ]


def faults() -> list[Row]:
    outcomes = _pytest("tests/test_faults.py")
    ask = {k: v for k, v in outcomes.items() if "while_an_ingest" in k}
    disk = {k: v for k, v in outcomes.items() if "disk" in k}
    return [
        Row("questions while two ingests write to the served store", "no failed question, new data after",
            _tally(ask), bool(ask) and set(ask.values()) == {"passed"}),
        Row("disk full during ingest (a small tmpfs, 4 amounts of free space)", "store as before, clear error",
            _tally(disk), bool(disk) and set(disk.values()) <= {"passed", "skipped"} and "passed" in disk.values()),
    ]  # fmt: skip


def load(clients: int, duration: float) -> list[Row]:
    run = subprocess.run(
        [sys.executable, "benchmarks/ui_load.py", "--clients", str(clients), "--duration", str(duration),
         "--rounds", "1"],
        cwd=REPO, env=_env(), capture_output=True, text=True,
    )  # fmt: skip
    row = re.search(rf"\| {clients} clients[^|]*\| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", run.stdout)
    memory = re.search(r"server memory under load: ([\d,]+) MB after .*?, ([\d,]+) MB at the end \(([-+\d.]+)%\)",
                       run.stdout)  # fmt: skip
    if not row or not memory:
        return [
            Row(
                f"load: {clients} clients × {duration:.0f} s",
                "0 errors, memory growth < 10%",
                f"the load run failed: {(run.stdout + run.stderr)[-400:]}",
                False,
            )
        ]
    requests, errors, _, p95 = (int(g) for g in row.groups())
    start, end, growth = memory.group(1), memory.group(2), float(memory.group(3))
    return [Row(f"load: {clients} clients × {duration:.0f} s on one server", "0 errors, memory growth < 10%",
                f"{requests:,} answers, {errors} errors, p95 {p95:,} ms; server memory {start} → {end} MB "
                f"({growth:+.1f}%) after warm-up", errors == 0 and growth < 10)]  # fmt: skip


def memory(rows: int) -> list[Row]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from synthetic import write_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / f"postings_{rows}.csv", rows)
        size = path.stat().st_size
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "assistant.cli", "ingest", str(path), "--store", str(Path(tmp) / "store"), "-q"],
            cwd=REPO, env=_env(), capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child: the ingest
    ok = run.returncode == 0 and peak_mb < 1000
    detail = "" if run.returncode == 0 else f"; the ingest failed: {run.stderr.strip()[-300:]}"
    return [
        Row(
            f"ingest a {rows:,}-row CSV ({size / 1e6:.0f} MB) into an empty store",
            "peak memory < 1 GB",
            f"peak {peak_mb:,.0f} MB, {seconds:,.0f} s{detail}",
            ok,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120)
    args = parser.parse_args()
    chosen = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(chosen) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s): {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    runs = {
        "hostile": hostile, "kills": kills, "damage": damage, "injection": injection, "faults": faults,
        "load": lambda: load(args.clients, args.duration), "memory": lambda: memory(args.rows),
    }  # fmt: skip
    table: list[Row] = []
    for part in chosen:
        started = time.perf_counter()
        got = runs[part]()
        table.extend(got)
        print(f"{part}: {time.perf_counter() - started:,.0f} s", file=sys.stderr, flush=True)
    print(f"\nReliability, {os.cpu_count()} cores\n")
    print("| check | target | measured | met |")
    print("|---|---|---|---|")
    for row in table:
        print(f"| {row.check} | {row.target} | {row.measured} | {'yes' if row.ok else '**no**'} |")
    if not all(row.ok for row in table):
        sys.exit(1)


if __name__ == "__main__":
    main()
