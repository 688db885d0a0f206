"""Ingest speed and memory on the bundled corpus, against a naive LangChain baseline and the model's own speed.

Run:  python benchmarks/ingest.py [--skip-baseline]

Each case runs in a fresh process (so peak RSS is that case's own) with a private cache folder, and
prints one row of a Markdown table:

- first run: empty store and empty model cache (includes the one-time ONNX export of the model);
- cold: empty store, model export cached — the quick start's second and later machines' case;
- re-ingest: the same files again (nothing changed);
- raw model: the configured backend embedding exactly the unique texts the cold run embedded;
- baseline: `langchain_chroma.Chroma.from_documents` with `HuggingFaceEmbeddings` (sentence-transformers,
  torch) over the same summaries, one Document per posting, into a fresh Chroma folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _child(case: str, store: Path) -> dict[str, object]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from assistant.config import BUNDLED_CORPUS, Settings

    settings = Settings.from_env(store=str(store))
    if case in ("first", "cold", "reingest"):
        from ingest.pipeline import ingest

        t0 = time.perf_counter()
        report = ingest([BUNDLED_CORPUS], settings)
        total = time.perf_counter() - t0
        assert report.ok, report.render()
        return {
            "seconds": total,
            "embed_seconds": report.embed_seconds,
            "texts": report.texts_embedded,
            "postings": report.postings,
            "rows": report.rows_in,
        }
    summaries = _summaries(store)
    if case == "raw":
        from assistant.embeddings import get_embedder

        unique = list(dict.fromkeys(summaries))
        embedder = get_embedder(settings)
        embedder.embed_documents(unique[:64])  # load and warm up outside the timing
        t0 = time.perf_counter()
        embedder.embed_documents(unique)
        return {"seconds": time.perf_counter() - t0, "texts": len(unique)}
    if case == "baseline":
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_huggingface import HuggingFaceEmbeddings

        from assistant.embeddings import packaged_model_path

        t0 = time.perf_counter()
        embeddings = HuggingFaceEmbeddings(
            model_name=str(packaged_model_path()),
            model_kwargs={"device": "cpu"},
            encode_kwargs={"normalize_embeddings": True},
        )
        client = chromadb.PersistentClient(
            path=str(store.parent / "baseline-chroma"), settings=ChromaSettings(anonymized_telemetry=False)
        )
        Chroma.from_documents(
            [Document(page_content=s) for s in summaries], embeddings, client=client, collection_name="postings"
        )
        return {"seconds": time.perf_counter() - t0, "texts": len(summaries)}
    raise SystemExit(f"unknown case {case}")


def _summaries(store: Path) -> list[str]:
    from assistant.market import PostingsTable
    from assistant.store import current_generation

    gen = current_generation(store)
    assert gen is not None, "run the cold case first"
    with PostingsTable(gen / "postings.duckdb", read_only=True) as table:
        return [row[0] for row in table.query("SELECT summary FROM postings ORDER BY posting_id")]


def _run(case: str, store: Path, env: dict[str, str]) -> dict[str, object]:
    """Run one case in a fresh process; add its wall time and its own peak RSS."""
    out = store.parent / f"{case}.json"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", case, "--store", str(store), "--out", str(out)], env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"case {case} failed with status {status}")
    result = json.loads(out.read_text())
    result["wall"] = wall
    result["rss_mb"] = usage.ru_maxrss / 1024
    return dict(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child")
    parser.add_argument("--store")
    parser.add_argument("--out")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if args.child:
        Path(args.out).write_text(json.dumps(_child(args.child, Path(args.store))))
        return

    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "HF_HUB_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False", "TQDM_DISABLE": "1"}  # fmt: skip
    rows = {}
    rows["first"] = _run("first", work / "store-first", env)
    rows["cold"] = _run("cold", work / "store", env)
    rows["reingest"] = _run("reingest", work / "store", env)
    rows["raw"] = _run("raw", work / "store", env)
    if not args.skip_baseline:
        rows["baseline"] = _run("baseline", work / "store", env)

    backend = os.environ.get("CAREER_ASSISTANT_EMBEDDING_BACKEND", "onnx-int8")
    cold = rows["cold"]
    print(f"\nIngest benchmark: bundled corpus, {cold['postings']:,} postings from {cold['rows']:,} rows, "
          f"backend {backend}, {os.cpu_count()} cores\n")  # fmt: skip
    print("| case | wall s | in-process s | embedding s | texts embedded | texts/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "first": "first run (empty store, model export)",
        "cold": "cold (empty store, export cached)",
        "reingest": "re-ingest, nothing changed",
        "raw": f"raw model ({backend}) on the same unique texts",
        "baseline": "LangChain baseline (from_documents, torch)",
    }
    for case, row in rows.items():
        embed = row.get("embed_seconds", row["seconds"] if case in ("raw", "baseline") else 0)
        rate = row["texts"] / row["seconds"] if row.get("texts") else 0  # type: ignore[operator]
        print(
            f"| {labels[case]} | {row['wall']:.1f} | {row['seconds']:.1f} | {embed:.1f} | {row.get('texts', 0):,} "
            f"| {rate:,.0f} | {row['rss_mb']:,.0f} |"
        )
    print()
    share = cold["embed_seconds"] / cold["seconds"]  # type: ignore[operator]
    print(f"- cold ingest spends {share:.0%} of its time embedding (target >= 70%)")
    raw_rate = rows["raw"]["texts"] / rows["raw"]["seconds"]  # type: ignore[operator]
    in_ingest = cold["texts"] / cold["embed_seconds"]  # type: ignore[operator]
    print(f"- embedding inside ingest runs at {in_ingest / raw_rate:.0%} of the raw model's speed")
    if "baseline" in rows:
        speedup = rows["baseline"]["wall"] / cold["wall"]  # type: ignore[operator]
        print(f"- cold ingest (wall) is {speedup:.1f}x faster than the LangChain baseline (target >= 2x)")
    print(f"- re-ingest of unchanged files: {rows['reingest']['wall']:.1f} s wall (target < 3 s)")


if __name__ == "__main__":
    main()
