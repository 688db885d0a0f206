"""Synthetic job postings for benchmarks: realistic titles, cities, salaries, skills and dates, in English and
Chinese, made from a seed (the same seed makes the same file).

Run:  python benchmarks/synthetic.py OUT.csv --rows 200000 [--seed 7]

The file is in the generic layout (title, company, city, salary, date, skills, description headers), so
`career-assistant ingest OUT.csv` reads it without a column mapping. Titles combine a level, a specialty and a
role word, so most rows have a text of their own (the embedding model sees as many distinct texts as a real
national export would give it); about one row in twenty repeats an earlier one, as reposts do.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

HEADERS = ["title", "company", "city", "salary", "date", "skills", "description"]

_LEVELS_EN = ["", "Junior ", "Senior ", "Lead ", "Staff ", "Principal "]
_LEVELS_ZH = ["", "初级", "中级", "高级", "资深", "首席"]
_SPECIALTIES = [
    ("Machine Learning", "机器学习"), ("NLP", "自然语言处理"), ("Computer Vision", "计算机视觉"),
    ("Large Model", "大模型"), ("Recommendation", "推荐算法"), ("Search", "搜索算法"), ("Data", "数据"),
    ("Big Data", "大数据"), ("AI Infrastructure", "AI平台"), ("Speech", "语音识别"), ("Autonomous Driving", "自动驾驶"),
    ("Backend", "后端"), ("Java", "Java"), ("Python", "Python"), ("Frontend", "前端"), ("Test", "测试"),
    ("Data Warehouse", "数据仓库"), ("MLOps", "MLOps"), ("LLM Application", "大模型应用"), ("Risk Control", "风控"),
]  # fmt: skip
_ROLES = [("Engineer", "工程师"), ("Developer", "开发工程师"), ("Scientist", "科学家"), ("Analyst", "分析师"),
          ("Architect", "架构师"), ("Researcher", "研究员"), ("Expert", "专家")]  # fmt: skip
_TEAMS_EN = ["", " (Ads)", " (E-commerce)", " (Finance)", " (Healthcare)", " (Gaming)", " (Cloud)", " (Robotics)"]
_TEAMS_ZH = ["", "（广告）", "（电商）", "（金融）", "（医疗）", "（游戏）", "（云计算）", "（机器人）"]
_CITIES = [
    "北京", "上海", "深圳", "杭州", "广州", "成都", "南京", "武汉", "西安", "苏州", "合肥", "天津", "重庆", "厦门",
    "长沙", "郑州", "青岛", "大连", "济南", "无锡", "Beijing", "Shanghai", "Shenzhen", "Hangzhou",
]  # fmt: skip
_SKILLS = [
    "Python", "PyTorch", "TensorFlow", "C++", "Java", "Go", "SQL", "Spark", "Hadoop", "Flink", "Kafka", "Docker",
    "Kubernetes", "CUDA", "Transformer", "LLM", "RAG", "LangChain", "深度学习", "机器学习", "数据挖掘", "推荐系统",
    "自然语言处理", "计算机视觉", "Linux", "Redis", "MySQL", "Hive", "Scala", "TensorRT", "vLLM", "强化学习",
]  # fmt: skip
_COMPANIES = [
    "字节跳动", "阿里巴巴", "腾讯", "百度", "美团", "京东", "小米", "华为", "快手", "网易", "商汤科技", "科大讯飞",
    "拼多多", "滴滴", "蚂蚁集团", "Zhipu AI", "Moonshot AI", "MiniMax", "SenseTime", "DJI",
]  # fmt: skip
_FIRST_DAY = date(2023, 1, 1)


def _salary(rng: random.Random) -> str:
    low = rng.choice([8, 10, 12, 15, 18, 20, 25, 30, 35, 40, 50])
    high = low + rng.choice([5, 8, 10, 15, 20])
    shape = rng.random()
    if shape < 0.55:
        return f"{low}-{high}K"
    if shape < 0.7:
        return f"{low}-{high}K·{rng.choice([13, 14, 15, 16])}薪"
    if shape < 0.85:
        return f"{low / 10:.1f}-{high / 10:.1f}万/月"
    if shape < 0.95:
        return f"{low * 12 // 10}-{high * 12 // 10}万/年"
    return "面议"


def rows(count: int, seed: int = 7) -> Iterator[list[str]]:
    """`count` posting rows (without the header), the same ones for the same seed."""
    rng = random.Random(seed)
    made: list[list[str]] = []
    for _ in range(count):
        if made and rng.random() < 0.05:
            row = list(rng.choice(made[-1000:]))  # a repost: the same posting again
            yield row
            continue
        specialty, role = rng.choice(_SPECIALTIES), rng.choice(_ROLES)
        chinese = rng.random() < 0.6
        if chinese:
            title = f"{rng.choice(_LEVELS_ZH)}{specialty[1]}{role[1]}{rng.choice(_TEAMS_ZH)}"
        else:
            title = f"{rng.choice(_LEVELS_EN)}{specialty[0]} {role[0]}{rng.choice(_TEAMS_EN)}"
        skills = rng.sample(_SKILLS, rng.randint(2, 6))
        day = _FIRST_DAY + timedelta(days=rng.randrange(0, 1000))
        company = rng.choice(_COMPANIES)
        description = (
            f"负责{specialty[1]}相关的研发工作，熟悉{'、'.join(skills[:3])}。"
            if chinese
            else f"Build {specialty[0].lower()} systems with {', '.join(skills[:3])}."
        )
        row = [title, company, rng.choice(_CITIES), _salary(rng), day.isoformat(), ",".join(skills), description]
        made.append(row)
        yield row


def write_csv(path: Path, count: int, seed: int = 7) -> Path:
    """Write `count` synthetic postings to `path` (UTF-8 CSV with a header) and return the path."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(rows(count, seed))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_csv(args.out, args.rows, args.seed)
    print(f"wrote {args.rows:,} rows to {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
