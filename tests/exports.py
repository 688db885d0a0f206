"""Exports of the shape public postings datasets come in (tests make them; nothing here reads the code under
test): pay as two numeric columns with 0 or blank where none was stated, education and experience columns,
Chinese headers, and a few rows repeated exactly, as exports have them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EDUCATION = {"本科": "bachelor", "硕士": "master", "大专": "college", "学历不限": None}
TITLES = ["算法工程师", "数据分析师", "大模型应用开发", "机器学习工程师"]


def postings(count: int, cities: Sequence[str], seed: int, *, zero_pay: float = 0.12,
             blank_pay: float = 0.04) -> list[dict[str, Any]]:  # fmt: skip
    """`count` postings, then exact repeats of the first and second; pay is 0/0 in about `zero_pay` of them
    and blank in about `blank_pay`."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        low = rng.choice([8000, 12000, 15000, 20000, 25000])
        high = low + rng.choice([3000, 5000, 10000])
        kind = rng.random()
        pay = (0, 0) if kind < zero_pay else (None, None) if kind < zero_pay + blank_pay else (low, high)
        made.append({"title": rng.choice(TITLES), "department": rng.choice(["技术部", "数据中心", "研发二部"]),
                     "city": rng.choice(list(cities)), "low": pay[0], "high": pay[1],
                     "description": f"负责第{i}个模型的训练与部署", "education": rng.choice(list(EDUCATION)),
                     "experience": rng.choice(["1-3年", "3-5年", "经验不限"]),
                     "date": f"2023-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"})  # fmt: skip
    return made + [dict(made[0]), dict(made[1])]


def save_xlsx(path: Path, columns: dict[str, str], rows: Sequence[dict[str, Any]]) -> Path:
    """An .xlsx with one column per `columns` entry (header -> key of the rows)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row[key] for key in columns.values()])
    book.save(path)
    return path


def distinct(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """The rows as postings: an exact repeat (over the columns written) is one."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(tuple(row[k] for k in keys), row)
    return list(seen.values())


def stated(value: object) -> bool:
    return value not in (None, "", 0)
