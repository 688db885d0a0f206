"""Growth benchmark: the store at 10k, 100k and 1M postings, embedded and on a Chroma server.

Run:  python benchmarks/scale.py [--sizes 10000,100000,1000000] [--modes embedded,server] [--work DIR]
      python benchmarks/scale.py --table        (the table of every result saved so far)

For each size and mode, from nothing:

1. synthetic postings (benchmarks/synthetic.py: realistic titles, cities, salaries and skills in Chinese and
   English; 5% reposts) are written as CSV files of at most 100,000 rows (a monthly export each);
2. `ingest` reads them all into a new store, in a process of its own: rows/s, peak RSS of that process (and
   of the Chroma server in server mode), store size on disk (the store folder plus the server's data folder);
3. another process opens the store and times, after one warm-up each: a figure (median pay or count for a
   city and role, exact SQL over the postings table) over 60 city x role pairs; vector retrieval (the
   assistant's dense search: nearest live records of the postings' segments, with and without a city
   filter, and their rows) for 40 questions embedded beforehand, and apart for 20 with a narrow filter (a
   smaller city and a rarer role, ~0.2% of postings, which the nearest records seldom pass); and the whole
   retriever (vector search and
   BM25 over every posting, fused, the question embedded), after the first question built its BM25 index
   (timed: each new generation builds it once);
4. a 3-row CSV is added with `career-assistant ingest FILE` as a person would (a new process: start-up,
   model load, the 3 texts embedded by the real model), wall-clock.

Vectors: at 10k and 100k every text is embedded by the packaged model (use-multilingual-v3). Embedding a
million texts would take about 80 minutes on this 2-core machine, so from `--pooled-from` rows on (default:
1M) each text's vector is one of 4,096 really embedded texts' vectors plus a per-text random offset (unit
length, cosine ~0.9 to its base): the index holds a million distinct vectors clustered like real ones. The
table says which. The second mode of a size reuses the first's vectors by text (a cache file keyed by the
text's hash): the same vectors, without embedding twice; its rows/s then excludes embedding (the table
splits out the embedding time).

Results go to `benchmarks/out/scale.json` (one entry per size and mode, replaced when run again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "out" / "scale.json"
PART_ROWS = 100_000
POOL = 4096
QUESTIONS = [
    "北京大模型算法工程师", "上海数据工程师需要什么技能", "深圳计算机视觉岗位", "杭州推荐算法",
    "NLP engineer in Beijing",
    "machine learning engineer Shanghai", "AI infrastructure architect", "自动驾驶感知算法", "风控模型分析师",
    "LLM application developer with RAG", "数据仓库开发 Hive Spark", "语音识别研究员", "后端Java开发转大模型",
    "MLOps Kubernetes", "搜索算法专家", "Senior Computer Vision Scientist", "大数据开发 Flink Kafka", "前端开发",
    "测试工程师 Python", "首席AI平台架构师",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--modes", default="embedded,server")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "ca-scale")
    parser.add_argument("--pooled-from", type=int, default=1_000_000)
    parser.add_argument("--table", action="store_true")
    parser.add_argument(
        "--reuse-store", action="store_true", help="measure a store built by an earlier run (no ingest)"
    )
    parser.add_argument("--child", choices=["ingest", "query"])
    parser.add_argument("--store", type=Path)
    parser.add_argument("--chroma-url")
    parser.add_argument("--vectors", choices=["real", "pooled"], default="real")
    parser.add_argument("--files", nargs="*", type=Path)
    args = parser.parse_args()
    if args.child == "ingest":
        return _child_ingest(args)
    if args.child == "query":
        return _child_query(args)
    if not args.table:
        for size in [int(s) for s in args.sizes.split(",")]:
            for mode in args.modes.split(","):
                result = run(size, mode, args.work, pooled=size >= args.pooled_from, reuse=args.reuse_store)
                _save(result)
                print(json.dumps(result), flush=True)
    print(table(json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else []))


def run(size: int, mode: str, work: Path, pooled: bool, reuse: bool = False) -> dict[str, Any]:
    from tests.chroma_server import ChromaServer

    work.mkdir(parents=True, exist_ok=True)
    files = _files(size, work)
    store = work / f"store-{size}-{mode}"
    data = work / f"chroma-{size}"
    reuse = reuse and (store / "CURRENT").exists()
    if not reuse:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    server = ChromaServer(data) if mode == "server" else None
    result: dict[str, Any] = {"size": size, "mode": mode, "vectors": "pooled" if pooled else "real"}
    if reuse:
        result["reused_store"] = True
    try:
        if server is not None:
            server.start()
        url = server.url if server is not None else None
        common = ["--store", str(store)] + (["--chroma-url", url] if url else [])
        if not reuse:
            t0 = time.perf_counter()
            args = ["--child", "ingest", *common, "--vectors", result["vectors"], "--files", *map(str, files)]
            out = _python(args, work)
            result["ingest_s"] = time.perf_counter() - t0
            result.update(out)
            result["rows_per_s"] = size / result["ingest_s"]
            result["write_rows_per_s"] = size / max(1e-9, result["ingest_s"] - out["embed_s"])
        result["store_mb"] = (_du(store) + (_du(data) if server else 0)) / 1e6
        if server is not None and server.process is not None:
            result["server_peak_mb"] = _peak_rss_mb(server.process.pid)
        result.update(_python(["--child", "query", *common], work))
        extra = _three_rows(work / f"add-{size}.csv", tag=str(time.time_ns() % 10**9))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        t0 = time.perf_counter()
        added = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", str(extra), *common, "--json"],
                               capture_output=True, text=True, env=env, check=False)  # fmt: skip
        result["add_3_rows_s"] = time.perf_counter() - t0
        report = json.loads(added.stdout) if added.returncode == 0 else {}
        result["add_3_rows_embedded"] = report.get("texts_embedded")
        result["add_3_rows_ingest_s"] = report.get("seconds")  # inside the process: without start-up
        if added.returncode != 0:
            result["add_error"] = added.stderr[-500:]
        check = subprocess.run([sys.executable, "-m", "assistant.cli", "check", *common, "--json"],
                               capture_output=True, text=True, env=env, check=False)  # fmt: skip
        result["check_ok"] = check.returncode == 0
        if server is not None and server.process is not None:
            result["server_peak_mb"] = max(result.get("server_peak_mb", 0), _peak_rss_mb(server.process.pid))
    finally:
        if server is not None:
            server.stop()
    return result


def _python(args: list[str], work: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env["SCALE_CACHE"] = str(work / "vector-cache")
    run = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args, "--work", str(work)],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed: {run.stderr[-3000:]}")
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def _files(size: int, work: Path) -> list[Path]:
    from benchmarks.synthetic import write_csv

    folder = work / f"files-{size}"
    folder.mkdir(exist_ok=True)
    out = []
    for part in range((size + PART_ROWS - 1) // PART_ROWS):
        rows = min(PART_ROWS, size - part * PART_ROWS)
        path = folder / f"part-{part:02d}.csv"
        if not path.exists():
            write_csv(path, rows, seed=7 + part)
        out.append(path)
    return out


def _three_rows(path: Path, tag: str) -> Path:
    """Three postings no store holds yet (`tag` makes their titles new: a store measured again gets new texts)."""
    path.write_text("title,company,city,salary,date,skills,description\n"
                    f"大模型推理优化工程师（新增{tag}）,新公司甲,北京,40-60K,2026-11-20,\"vLLM,CUDA\",负责大模型推理优化。\n"
                    f"Senior RAG Engineer ({tag}),New Co B,Shanghai,35-55K,2026-11-21,\"RAG,LangChain\",Build RAG.\n"
                    f"数据标注平台开发（新增{tag}）,新公司丙,成都,15-25K,2026-11-22,\"Python,SQL\",负责数据平台开发。\n",
                    encoding="utf-8")  # fmt: skip
    return path


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _peak_rss_mb(pid: int) -> float:
    from benchmarks.ui_load import _peak_rss_mb as peak

    return peak(pid) or 0.0


# -- children -----------------------------------------------------------------------------------------


class _CachedEmbedder:
    """The packaged model behind a cache of vectors by text hash (shared by the modes of one size); `pooled`:
    a vector made from one of `POOL` really embedded texts plus a per-text offset, instead of the model."""

    def __init__(self, real: Any, cache: Path, pooled: bool) -> None:
        import numpy as np

        self.real, self.cache, self.pooled = real, cache, pooled
        self.dimension = real.dimension
        self.vectors: dict[str, Any] = {}
        self.new: dict[str, Any] = {}
        if cache.exists() and not pooled:
            data = np.load(cache)
            self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self.pool: Any = None
        self.seconds = 0.0

    def _pool(self) -> Any:
        if self.pool is None:
            from benchmarks.synthetic import rows

            texts = [f"{r[0]} {r[2]} {r[5]}" for r in rows(POOL, seed=99)]
            self.pool = self.real.embed_documents(texts)
        return self.pool

    def embed_documents(self, texts: list[str]) -> Any:
        import numpy as np

        t0 = time.perf_counter()
        keys = [hashlib.sha256(t.encode()).hexdigest()[:20] for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.vectors]
        if self.pooled:  # made again from the text's hash when asked again: nothing is kept (a million: 2 GB)
            pool = np.asarray(self._pool(), dtype=np.float32)
            out = []
            for key in keys:
                seed = int(key[:8], 16)
                rng = np.random.default_rng(seed)
                v = pool[seed % len(pool)] + 0.45 * rng.standard_normal(pool.shape[1]).astype(np.float32) / np.sqrt(
                    pool.shape[1]
                )
                out.append(v / np.linalg.norm(v))
            self.seconds += time.perf_counter() - t0
            return out
        if todo:
            made = self.real.embed_documents([texts[i] for i in todo])
            for i, v in zip(todo, made, strict=True):
                self.vectors[keys[i]] = self.new[keys[i]] = np.asarray(v, dtype=np.float32)
        self.seconds += time.perf_counter() - t0
        return [self.vectors[k] for k in keys]

    def embed_query(self, text: str) -> Any:
        return self.real.embed_query(text)

    def save(self) -> None:
        import numpy as np

        if self.new and not self.pooled:
            keys = list(self.vectors)
            np.savez(self.cache, keys=np.asarray(keys), vectors=np.stack([self.vectors[k] for k in keys]))


def _child_ingest(args: argparse.Namespace) -> None:
    from assistant import embeddings
    from assistant.config import Settings
    from ingest.pipeline import ingest

    settings = Settings.from_env(store=args.store, chroma_url=args.chroma_url)
    cache = Path(os.environ["SCALE_CACHE"] + ".npz")  # real vectors only: pooled ones are made again, cheaply
    real_get = embeddings.get_embedder
    wrapped: dict[str, Any] = {}

    def get(s: Any) -> Any:
        if "e" not in wrapped:
            wrapped["e"] = _CachedEmbedder(real_get(s), cache, pooled=args.vectors == "pooled")
        return wrapped["e"]

    embeddings.get_embedder = get  # type: ignore[assignment]
    embeddings.release_embedder = lambda s: None  # type: ignore[assignment]
    report = ingest(list(args.files), settings)
    if not report.ok:
        raise SystemExit(f"ingest failed: {[f.error for f in report.files if f.error]}")
    embedder = wrapped.get("e")
    if embedder is not None:
        embedder.save()
    print(json.dumps({
        "postings": report.postings, "posting_vectors": report.posting_vectors,
        "embed_s": embedder.seconds if embedder else 0.0,
        "ingest_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))  # fmt: skip


def _child_query(args: argparse.Namespace) -> None:
    from assistant import figures
    from assistant.config import Settings
    from assistant.corpus import Corpus
    from assistant.retrieval import _dense
    from assistant.schema import Filters

    settings = Settings.from_env(store=args.store, chroma_url=args.chroma_url)
    t0 = time.perf_counter()
    corpus = Corpus(settings)
    vectors = [corpus.embed_query(q) for q in QUESTIONS]
    open_s = time.perf_counter() - t0
    cities = ["Beijing", "Shanghai", "Shenzhen", "Hangzhou", "Chengdu", "Wuhan"]
    roles = [
        r[0] for r in corpus.query("SELECT role_family, count(*) FROM postings GROUP BY 1 ORDER BY 2 DESC LIMIT 5")
    ]
    pairs = [Filters(cities=(c,), roles=(r,)) for c in cities for r in roles]
    figure_ms: list[float] = []
    for n, f in enumerate([pairs[0], *pairs, *pairs]):
        t = time.perf_counter()
        figures.salary(corpus, f) if n % 2 else figures.count(corpus, f)
        if n:
            figure_ms.append((time.perf_counter() - t) * 1000)
    retrieval_ms: list[float] = []
    for n, v in enumerate([vectors[0], *vectors, *vectors]):
        filters = Filters(cities=(cities[n % len(cities)],)) if n % 2 else None
        t = time.perf_counter()
        found = _dense(corpus, v, "posting", filters, 20)
        if n:
            retrieval_ms.append((time.perf_counter() - t) * 1000)
        assert found, "no posting found"
    # Narrow filters: a smaller city and a less common role (~0.2% of postings at every size), which the nearest
    # records seldom pass: the search runs among the records that pass.
    rare = [r[0] for r in corpus.query("SELECT role_family, count(*) FROM postings GROUP BY 1 ORDER BY 2 DESC")][8:11]
    narrow_ms: list[float] = []
    for n, v in enumerate(vectors):
        narrow = Filters(cities=(["Wuhan", "Chengdu", "Xiamen", "Dalian"][n % 4],), roles=(rare[n % len(rare)],))
        t = time.perf_counter()
        found = _dense(corpus, v, "posting", narrow, 20)
        narrow_ms.append((time.perf_counter() - t) * 1000)
    narrow_share = figures.share_passing(corpus, narrow)
    # The whole retriever (vector search and BM25, fused), as a question uses it; the BM25 index over every
    # posting is built by the first question of a generation.
    from assistant.retriever import HybridRetriever

    retriever = HybridRetriever(corpus=corpus, k=4)
    t = time.perf_counter()
    retriever.search(QUESTIONS[0], kinds=("posting",))
    lexical_build_s = time.perf_counter() - t
    hybrid_ms: list[float] = []
    for n, q in enumerate(QUESTIONS * 2):
        filters = Filters(cities=(cities[n % len(cities)],)) if n % 2 else None
        t = time.perf_counter()
        retriever.search(q, kinds=("posting",), filters=filters)
        hybrid_ms.append((time.perf_counter() - t) * 1000)
    corpus.close()

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    print(json.dumps({
        "open_s": open_s, "figure_p50_ms": pct(figure_ms, 50), "figure_p95_ms": pct(figure_ms, 95),
        "retrieval_p50_ms": pct(retrieval_ms, 50), "retrieval_p95_ms": pct(retrieval_ms, 95),
        "narrow_p50_ms": pct(narrow_ms, 50), "narrow_p95_ms": pct(narrow_ms, 95), "narrow_share": narrow_share,
        "lexical_build_s": lexical_build_s, "hybrid_p50_ms": pct(hybrid_ms, 50), "hybrid_p95_ms": pct(hybrid_ms, 95),
        "query_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))  # fmt: skip


# -- results ------------------------------------------------------------------------------------------


def _save(result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else []
    old = [r for r in saved if (r["size"], r["mode"]) == (result["size"], result["mode"])]
    if result.get("reused_store") and old:  # the ingest's figures stay those of the run that built the store
        built = ("ingest", "rows_", "write_", "embed", "store_mb")  # the store's size as its ingest left it
        result = {**result, **{k: v for k, v in old[0].items() if k.startswith(built)}}
    saved = [r for r in saved if (r["size"], r["mode"]) != (result["size"], result["mode"])] + [result]
    saved.sort(key=lambda r: (r["size"], r["mode"]))
    RESULTS.write_text(json.dumps(saved, indent=1), encoding="utf-8")


COLUMNS = [
    ("rows/s", "rows_per_s", "{:,.0f}"), ("embed s", "embed_s", "{:,.0f}"),
    ("write rows/s", "write_rows_per_s", "{:,.0f}"),
    ("store MB", "store_mb", "{:,.0f}"), ("ingest peak MB", "ingest_peak_mb", "{:,.0f}"),
    ("server peak MB", "server_peak_mb", "{:,.0f}"), ("figure p50 ms", "figure_p50_ms", "{:.1f}"),
    ("figure p95 ms", "figure_p95_ms", "{:.1f}"), ("retrieval p50 ms", "retrieval_p50_ms", "{:.1f}"),
    ("retrieval p95 ms", "retrieval_p95_ms", "{:.1f}"), ("narrow p50 ms", "narrow_p50_ms", "{:.1f}"),
    ("narrow p95 ms", "narrow_p95_ms", "{:.1f}"), ("BM25 build s", "lexical_build_s", "{:.1f}"),
    ("hybrid p50 ms", "hybrid_p50_ms", "{:.1f}"), ("hybrid p95 ms", "hybrid_p95_ms", "{:.1f}"),
    ("add 3 rows s", "add_3_rows_s", "{:.1f}"), ("of it, ingest s", "add_3_rows_ingest_s", "{:.1f}"),
    ("query peak MB", "query_peak_mb", "{:,.0f}"), ("check", "check_ok", "{}"),
]  # fmt: skip


def table(results: list[dict[str, Any]]) -> str:
    head = "| postings | mode | vectors | " + " | ".join(c[0] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLUMNS))]
    for r in results:
        cells = [c[2].format(r[c[1]]) if c[1] in r else "" for c in COLUMNS]
        lines.append(f"| {r['size']:,} | {r['mode']} | {r['vectors']} | " + " | ".join(cells) + " |")
    ratios = ["", "server / embedded:", head.replace("| mode | vectors ", ""), "|" + "---|" * (1 + len(COLUMNS))]
    by = {(r["size"], r["mode"]): r for r in results}
    for size in sorted({r["size"] for r in results}):
        e, s = by.get((size, "embedded")), by.get((size, "server"))
        if e and s:
            cells = [f"{s[c[1]] / e[c[1]]:.2f}" if isinstance(e.get(c[1]), float) and e[c[1]] and c[1] in s else ""
                     for c in COLUMNS]  # fmt: skip
            ratios.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines + (ratios if len(ratios) > 4 else []))


if __name__ == "__main__":
    main()
