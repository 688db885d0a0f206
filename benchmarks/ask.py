"""Question latency on a built store: first answer after process start, then warm p50/p95 by kind.

Run:  python benchmarks/ask.py [--store vectorstore] [--rounds 3]

The first answer is timed in a fresh process (imports, opening the store, loading the model, building
the BM25 index); warm latencies repeat a fixed set of English and Chinese questions of every kind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = {
    "figure": [
        "What do NLP engineers earn in Beijing?",
        "深圳大模型岗位的月薪中位数是多少？",
        "How many data engineering jobs are there in Hangzhou?",
        "Which cities have the most machine learning jobs?",
        "上海算法岗位最需要哪些技能？",
    ],
    "comparison": ["Compare NLP salaries in Beijing and Shanghai", "北京和杭州的大模型岗位哪个薪资高？"],
    "trend": ["How has demand for machine learning jobs changed over time?"],
    "fact": ["Why is there a shortage of AI talent in China?", "DeepSeek对招聘有什么影响？"],
    "advice": [
        "I'm a Java backend developer in Shanghai on 15k a month. How do I move into machine learning?",
        "我在北京做测试，月薪1.2万，怎么转数据分析？",
    ],
    "out_of_scope": ["What's the weather in Beijing tomorrow?"],
}


def _first_answer(store: str, question: str) -> float:
    code = (
        "import time; t = time.perf_counter(); from assistant import CareerAssistant;"
        f"ca = CareerAssistant(store={store!r}); ca.ask({question!r});"
        "print(time.perf_counter() - t)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    return float(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default="vectorstore")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant import CareerAssistant

    first_figure = _first_answer(args.store, QUESTIONS["figure"][0])
    first_fact = _first_answer(args.store, QUESTIONS["fact"][0])  # also builds the BM25 index
    ca = CareerAssistant(store=args.store)
    for questions in QUESTIONS.values():  # warm up every path once
        ca.ask(questions[0])
    timings: dict[str, list[float]] = {kind: [] for kind in QUESTIONS}
    for _ in range(args.rounds):
        for kind, questions in QUESTIONS.items():
            for question in questions:
                t0 = time.perf_counter()
                ca.ask(question)
                timings[kind].append((time.perf_counter() - t0) * 1000)
    every = [t for values in timings.values() for t in values]
    print(f"\nAsk latency, store {args.store}, {args.rounds} rounds, {os.cpu_count()} cores\n")
    print("| kind | questions | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for kind, values in [*timings.items(), ("all", every)]:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"| {kind} | {len(values)} | {statistics.median(values):.0f} | {p95:.0f} | {max(values):.0f} |")
    print(
        f"\n- first answer after process start: {first_figure:.1f} s for a figure question, "
        f"{first_fact:.1f} s for a fact question (target < 10 s)"
    )
    ca.close()


if __name__ == "__main__":
    main()
