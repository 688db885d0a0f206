"""Embedding speed and agreement of the three backends on real posting summaries.

Builds N one-line bilingual summaries from the bundled Lagou, Zhaopin and 51job CSVs (the shape ingest
embeds), then for each backend measures the first load (including the ONNX export or int8 quantisation,
in a fresh cache folder), the cached load, throughput, and cosine to the torch vectors.

    python benchmarks/embed.py --n 4000

Prints a Markdown table. Offline: the model is the packaged one, loaded by path.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import cycle, islice
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from assistant import embeddings  # noqa: E402
from assistant.config import BUNDLED_CORPUS, VOCAB_DIR, Settings  # noqa: E402

POSTINGS = BUNDLED_CORPUS / "postings"
# A rough English gloss of the title, as the real summaries carry one (first match wins).
ROLE_GLOSS = (
    ("自然语言", "NLP engineer"),
    ("NLP", "NLP engineer"),
    ("推荐", "recommendation engineer"),
    ("搜索", "search engineer"),
    ("机器学习", "machine learning engineer"),
    ("大模型", "LLM engineer"),
    ("算法", "algorithm engineer"),
    ("人工智能", "AI engineer"),
    ("数据挖掘", "data mining engineer"),
    ("数据分析", "data analyst"),
    ("测试", "QA engineer"),
    ("运维", "operations engineer"),
    ("产品", "product manager"),
    ("销售", "sales"),
    ("老师", "teacher"),
    ("java", "Java developer"),
    ("python", "Python developer"),
    ("后端", "backend developer"),
    ("前端", "frontend developer"),
)
SKILL_WORDS = ("python", "java", "c++", "go", "sql", "linux", "spark", "hadoop", "pytorch", "tensorflow")
NOT_SKILLS = (
    "五险一金",
    "年终奖",
    "补贴",
    "体检",
    "双休",
    "旅游",
    "带薪",
    "培训",
    "年",
    "本科",
    "大专",
    "硕士",
)


def city_names() -> dict[str, str]:
    """Chinese short city name -> English, from the project's city vocabulary."""
    cities = json.loads((VOCAB_DIR / "cities.json").read_text(encoding="utf-8"))["cities"]
    return {c["zh"]: c["name"] for c in cities}


def gloss(title: str) -> str:
    lowered = title.lower()
    return next((en for zh, en in ROLE_GLOSS if zh.lower() in lowered), "software engineer")


def city_of(text: str, cities: dict[str, str]) -> str:
    """`北京·海淀` or `广东省广州黄埔区` -> `Guangzhou 广州`; unknown places are kept as written."""
    for zh, en in cities.items():
        if zh in text:
            return f"{en} {zh}"
    return text


def lagou_lines(cities: dict[str, str]) -> Iterator[str]:
    for path in sorted((POSTINGS / "lagou_2017").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                title = row["职位名称"]
                skills = [s for s in SKILL_WORDS if s in title.lower()] or [path.stem.replace("_", " ")]
                yield (
                    f"{title} ({gloss(title)}) | {row['公司名称']} | {city_of(row['所在城市'], cities)} | "
                    f"{row['薪资待遇']} CNY/month | posted {row['发布日期']} | "
                    f"skills: {', '.join(skills)} | lagou"
                )


def zhaopin_lines(cities: dict[str, str]) -> Iterator[str]:
    with (POSTINGS / "zhaopin_ai_2025" / "ai_jobs.csv").open(encoding="gbk", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            skills = row["技能"].strip("[]").replace("'", "")
            place = city_of(row["地址"], cities)
            yield (
                f"{row['岗位']} ({gloss(row['岗位'])}) | {row['公司名称']} | {place} | "
                f"{row['薪酬']} | {row['工作经验']}, {row['学历']} | posted {row['职位更新日期']} | "
                f"skills: {skills or 'not stated'} | zhaopin"
            )


def job51_lines(cities: dict[str, str]) -> Iterator[str]:
    with (POSTINGS / "job51_python_2023" / "51job.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            tags = [t for t in row["tags"].split(",") if t and not any(w in t for w in NOT_SKILLS)]
            yield (
                f"{row['jobName']} ({gloss(row['jobName'])}) | {row['companyName']} | "
                f"{city_of(row['area'], cities)} | {row['salary'] or 'pay not stated'} | "
                f"posted {row['issueDate'][:10]} | skills: {', '.join(tags[:12]) or 'not stated'} | 51job"
            )


def summary_lines(n: int) -> list[str]:
    """N lines taken in turn from the three sources, so every batch mixes them."""
    cities = city_names()
    sources = [lagou_lines(cities), zhaopin_lines(cities), job51_lines(cities)]
    mixed = (line for group in zip(*sources, strict=False) for line in group)
    return list(islice(cycle(list(mixed)), n))


def measure(backend: str, texts: list[str], cache: Path, batch_size: int | None) -> dict[str, float | np.ndarray]:
    settings = Settings(embedding_backend=backend, model_cache=cache)
    if batch_size:
        settings = settings.with_(embed_batch_size=batch_size)
    embeddings._EMBEDDERS.clear()  # a fresh process: nothing loaded yet
    started = time.perf_counter()
    embedder = embeddings.get_embedder(settings)
    first_load = time.perf_counter() - started
    embeddings._EMBEDDERS.clear()
    started = time.perf_counter()
    embedder = embeddings.get_embedder(settings)
    cached_load = time.perf_counter() - started
    embedder.embed_documents(texts[:64])  # warm-up: first-run allocations are not throughput
    started = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    seconds = time.perf_counter() - started
    return {"first": first_load, "cached": cached_load, "rate": len(texts) / seconds, "vectors": vectors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="number of summary lines (default 4000)")
    parser.add_argument("--batch-size", type=int, default=None, help="texts per batch (default: Settings)")
    args = parser.parse_args()
    texts = summary_lines(args.n)
    with tempfile.TemporaryDirectory(prefix="embed-bench-") as tmp:
        results = {}
        for backend in ("torch", "onnx", "onnx-int8"):
            # A cache folder each: every first load pays the full cold cost (export, then quantise).
            results[backend] = measure(backend, texts, Path(tmp) / backend, args.batch_size)
    reference = results["torch"]["vectors"]
    lengths = [len(t) for t in texts]
    print(
        f"{len(texts)} summaries, {min(lengths)}-{max(lengths)} chars (median {int(np.median(lengths))}), "
        f"{os.cpu_count()} cores\n"
    )
    print("| backend | first load s (incl. export) | cached load s | texts/s | mean cos to torch | min cos |")
    print("|---|---:|---:|---:|---:|---:|")
    for backend, r in results.items():
        cos = np.sum(np.asarray(r["vectors"]) * reference, axis=1)
        print(
            f"| {backend} | {r['first']:.1f} | {r['cached']:.2f} | {r['rate']:.0f} | "
            f"{cos.mean():.4f} | {cos.min():.4f} |"
        )


if __name__ == "__main__":
    main()
