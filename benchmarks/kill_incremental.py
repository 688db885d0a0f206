"""`kill -9` during an incremental ingest into a large store, at 10 moments: the store stays as it was (or is the
new generation whole, when the kill lands after the commit), `check` passes, and a reader asking all along saw
the old data or the new, never a mix.

Run:  python benchmarks/kill_incremental.py --store DIR [--chroma-url URL] [--rows 2000]
      (DIR: a built store, e.g. the 100k store benchmarks/scale.py leaves in its work folder)

Each moment starts `career-assistant ingest DELTA.csv` (a monthly delta of `--rows` new postings, a new file
each time) and sends SIGKILL when its progress line names a phase, after a delay. Meanwhile a reader thread in
this process asks, over and over through `CareerAssistant` (which follows the store): how many postings there
are (the exact figure) and whether the delta's marker title is found by vector search. Each reply must be
(the old count, not found) or (the new count, found); a reply from a store half old and half new would be
neither. Prints one line per moment and a summary table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MOMENTS = [
    ("reading", 0.0), ("reading", 0.4), ("writing the postings table", 0.0), ("writing the postings table", 0.3),
    ("loading the embedding model", 0.3), ("new texts (postings)", 0.5), ("new texts (postings)", 2.0),
    ("new posting vectors", 0.0), ("new posting vectors", 0.3), ("committing", 0.0),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--chroma-url")
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    from assistant.api import CareerAssistant
    from assistant.config import Settings

    settings = Settings.from_env(store=args.store, chroma_url=args.chroma_url)
    work = args.store.parent / "kill-deltas"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    assistant = CareerAssistant(settings=settings)
    rows: list[dict[str, Any]] = []
    for n, (marker, delay) in enumerate(MOMENTS):
        delta, title = _delta(work, n, args.rows)
        old = _state(assistant, title)
        seen: set[tuple[int, bool]] = set()
        replies = [0]
        stop = threading.Event()

        def read(title: str = title, seen: set[tuple[int, bool]] = seen, stop: threading.Event = stop,
                 replies: list[int] = replies) -> None:  # fmt: skip
            while not stop.is_set():
                seen.add(_state(assistant, title))
                replies[0] += 1

        reader = threading.Thread(target=read)
        reader.start()
        killed, phase_log = _run_and_kill(settings, delta, marker, delay)
        stop.set()
        reader.join()
        assistant.reload()
        now = _state(assistant, title)
        check = subprocess.run(_cli("check", *_store_args(settings), "--json"), capture_output=True, text=True,
                               cwd=REPO, env=_env(), check=False)  # fmt: skip
        published = now != old
        new = (old[0] + args.rows, True)
        allowed = {old, new} if published or not killed else {old}
        row = {
            "moment": f"{marker} +{delay:.1f} s", "killed": killed, "published": published,
            "check_ok": check.returncode == 0, "replies": replies[0], "states_seen": len(seen),
            "mixed": sorted(s for s in seen if s not in {old, new}),
            "state_ok": now in ({old} if not published else {new}),
            "seen_ok": seen <= allowed,
        }  # fmt: skip
        if not row["check_ok"]:
            row["check"] = json.loads(check.stdout or "{}").get("problems") or check.stderr[-500:]
        if not killed:
            row["log"] = phase_log[-3:]
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    assistant.close()
    print()
    print("| moment | killed | published | check | reader replies | replies from a mix |")
    print("|---|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['moment']} | {r['killed']} | {r['published']} | {'passes' if r['check_ok'] else 'FAILS'} | "
              f"{r['replies']} | {len(r['mixed'])} |")  # fmt: skip
    good = all(r["check_ok"] and r["state_ok"] and r["seen_ok"] for r in rows)
    print(f"\n{sum(r['killed'] for r in rows)} of {len(rows)} runs killed; all consistent: {good}")


def _delta(work: Path, n: int, rows: int) -> tuple[Path, str]:
    """A new file of `rows` postings; its first row's title is unlike any other (the reader's marker)."""
    from benchmarks.synthetic import HEADERS
    from benchmarks.synthetic import rows as synthetic

    title = f"量子编译器工程师{n}号（增量标记）"
    path = work / f"delta-{n:02d}.csv"
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        for i, row in enumerate(synthetic(rows, seed=1000 + n)):
            row = list(row)
            row[0] = title if i == 0 else f"{row[0]}·增量{n}-{i}"  # distinct from the store's rows
            writer.writerow(row)
    return path, title


def _state(assistant: Any, title: str) -> tuple[int, bool]:
    """(postings in the store, whether the marker posting is found by vector search), from one generation."""
    gen = assistant._current()  # one generation for both parts of the reply, as one question is answered
    corpus = gen.corpus
    count = int(corpus.query("SELECT count(*) FROM postings")[0][0])
    from assistant import figures

    vector = corpus.embed_query(title)
    hits = corpus.vectors.search("posting", vector, 3,
                                 keep=lambda keys: figures.live_vector_keys(corpus, "posting", keys))  # fmt: skip
    found = figures.passages_of_vectors(corpus, [k for k, _ in hits])
    return count, any(row[4] == title for row in found.values())


def _run_and_kill(settings: Any, delta: Path, marker: str, delay: float) -> tuple[bool, list[str]]:
    proc = subprocess.Popen(_cli("ingest", str(delta), *_store_args(settings)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=_env())  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line.rstrip())
        if marker in line:
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    return proc.returncode == -signal.SIGKILL, seen


def _store_args(settings: Any) -> list[str]:
    return ["--store", str(settings.store)] + (["--chroma-url", settings.chroma_url] if settings.chroma_url else [])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


if __name__ == "__main__":
    main()
