"""Expected answers for the figure questions of `eval/questions.jsonl`, computed from the raw files.

Independent of the code under test: stdlib only, and it imports neither `assistant` nor `ingest`. It reads
the raw postings in `ingest/corpus/postings/` and re-implements, from the written definitions (the
docstring of `assistant/figures.py`, the corpus READMEs), what a figure means:

* **Postings.** Lagou (UTF-8 CSVs, one per search keyword): one posting per 职位编码 across all keyword
  files, the first file in path order and the first row in it giving its fields. Zhaopin (GBK) and 51job
  (UTF-8): exactly repeated rows are one posting. Rows whose title is empty (after stripping) are dropped.
* **Salary.** Monthly CNY. k/K/千 = 1,000, 万/w = 10,000, 元 = 1; a unit written only after the second
  number applies to both; ``/年`` ÷ 12, ``/天`` × 21.75, ``/时`` × 8 × 21.75; ``·13薪`` is ignored for the
  monthly amount. Each end is rounded to 2 decimals after conversion, as the table stores it. ``以上``,
  ``以下``, ``及以下``, ``起`` give one end only, so the posting has no salary *range* and is left out of
  salary figures; ``面议`` and empty text mean no salary; text with U+FFFD (a character lost in scraping)
  is unreadable. A bare monthly amount under 1,000 without 元 is not understood. Ranges with a minimum
  under 500, a maximum over 1,000,000, a minimum above the maximum or a maximum over 10 × the minimum are
  rejected. A posting's pay is the midpoint of its range; only postings with both ends count.
* **Median** as DuckDB ``median`` (the mean of the two middle values for an even count), rounded to one
  decimal; **share** = 100 × part / whole rounded to one decimal, where the whole is the same filters
  without roles and skills; **top lists** by count descending, then name (code-point order), five long,
  with n = all postings matching the filters.
* **City.** Lagou 所在城市 and Zhaopin 城市 are plain Chinese city names; 51job ``area`` runs province,
  city and district together (``湖北省武汉洪山区``, ``上海上海浦东新区``): the province prefix is
  stripped and the city read from the small prefix table `CITIES` below (the cities the questions use and
  those that can rank in a top-5). A city outside the table keeps its Chinese text from Lagou/Zhaopin and
  is unknown for 51job; neither can be asked about by name.
* **Year.** Lagou absolute dates (``2017-05-01``) give their year; its relative dates (``今天 09:55``,
  ``昨天 14:47``) are from the spring-2017 scrape, so 2017. Zhaopin ``2025/4/1`` and 51job
  ``2023-12-12 09:22:00`` give their year.
* **Role family.** Implemented here from the DATA file `assistant/data/roles.json` (reading data is
  allowed; importing its code is not), following that file's own written rules: families in order, the
  first whose pattern occurs in the title wins; a pattern with a Chinese character matches as a
  case-insensitive substring; a Latin-only pattern case-insensitively as a whole word with ASCII
  boundaries (no ASCII letter or digit on either side); ``head_only`` families ignore bracketed parts.
* **Skills.** From `assistant/data/skills.json` with the same matching rules (one-letter aliases such as
  C and R also refuse a neighbouring Chinese character and a following ``+``, ``#`` or ``&``; at each
  position the longest alias wins and consumes its text). Lagou: skills named in the title. Zhaopin:
  every tag of its 技能 list that is not experience or education (a tag naming vocabulary skills gives
  those, a benefit tag nothing, any other tag itself as written), plus skills in the title. 51job: the
  tags that name vocabulary skills, plus skills in the title.

Run ``python eval/expected.py`` to rewrite `eval/expected.json`; ``--check`` compares instead.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
import statistics
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTINGS = ROOT / "ingest" / "corpus" / "postings"
DATA = ROOT / "assistant" / "data"
QUESTIONS = Path(__file__).resolve().parent / "questions.jsonl"
OUTPUT = Path(__file__).resolve().parent / "expected.json"

WORKING_DAYS = 21.75
#: Chinese city name -> canonical English name (the names the assistant reports).
CITIES = {
    "北京": "Beijing", "上海": "Shanghai", "深圳": "Shenzhen", "广州": "Guangzhou", "杭州": "Hangzhou",
    "成都": "Chengdu", "南京": "Nanjing", "武汉": "Wuhan", "长沙": "Changsha", "苏州": "Suzhou",
    "西安": "Xi'an", "厦门": "Xiamen", "郑州": "Zhengzhou", "重庆": "Chongqing", "天津": "Tianjin",
    "济南": "Jinan", "合肥": "Hefei", "青岛": "Qingdao", "大连": "Dalian", "福州": "Fuzhou",
    "昆明": "Kunming", "南昌": "Nanchang", "沈阳": "Shenyang", "哈尔滨": "Harbin", "贵阳": "Guiyang",
    "东莞": "Dongguan", "长春": "Changchun", "珠海": "Zhuhai", "芜湖": "Wuhu", "无锡": "Wuxi",
    "石家庄": "Shijiazhuang", "南宁": "Nanning", "佛山": "Foshan", "宁波": "Ningbo",
}  # fmt: skip
_PROVINCE = re.compile(r"^(?:[\u4e00-\u9fff]{2,3}省|广西|内蒙古|宁夏|新疆|西藏)")
_CJK = re.compile(r"[\u3400-\u9fff]")
_BRACKETED = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
FILTER_KEYS = ("cities", "roles", "skills", "companies", "years", "sources")


@dataclass(frozen=True)
class Posting:
    """The fields a figure needs, read from one raw row."""

    source: str
    title: str
    company: str | None
    city: str | None
    pay: float | None  # midpoint of a fully known monthly range
    year: int | None
    role: str
    skills: frozenset[str]
    ref: str = ""  # file and line, for a person checking a value


# ---------------------------------------------------------------- salary


def monthly_range(text: str) -> tuple[float, float] | None:
    """A salary text as (min, max) monthly CNY, or None when not stated, open-ended or not plausible."""
    s = unicodedata.normalize("NFKC", text or "").strip().lower()
    if s in ("", "面议", "薪资面议") or "\ufffd" in s:
        return None
    s = re.sub(r"[·\s]*\d{1,2}薪", "", s)
    factor = 1.0
    for mark, f in (("/年", 1 / 12), ("/天", WORKING_DAYS), ("/小时", 8 * WORKING_DAYS), ("/时", 8 * WORKING_DAYS)):
        if mark in s:
            factor, s = f, s.replace(mark, "")
            break
    if any(word in s for word in ("以上", "以下", "起", "+")):
        return None  # one end only: not a range
    has_yuan = "元" in s
    s = s.replace("元", "").strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(k|千|万|w)?(?:-(\d+(?:\.\d+)?)(k|千|万|w)?)?", s)
    if not m:
        return None
    a, ua, b, ub = m.groups()
    mult = {"k": 1000.0, "千": 1000.0, "万": 10000.0, "w": 10000.0, None: 1.0}
    if ua is None:
        ua = ub
    low = float(a) * mult[ua]
    high = float(b) * mult[ub or ua] if b is not None else low
    if ua is None and factor == 1.0 and not has_yuan and low < 1000:
        return None
    low, high = round(low * factor, 2), round(high * factor, 2)
    if low < 500 or high > 1_000_000 or low > high or high > 10 * low:
        return None
    return low, high


# ---------------------------------------------------------------- vocabularies (data files, own matching)


def _latin_word(pattern: str, one_letter_strict: bool) -> str:
    body = r"\s*".join(re.escape(part) for part in pattern.split())
    if one_letter_strict and len(pattern) == 1:
        return rf"(?<![A-Za-z0-9\u3400-\u9fff+#&.]){body}(?![A-Za-z0-9\u3400-\u9fff+#&])"
    return rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])"


def _pattern(alias: str, one_letter_strict: bool = False) -> str:
    alias = unicodedata.normalize("NFKC", alias)
    if _CJK.search(alias):
        return re.escape(alias)
    return _latin_word(alias, one_letter_strict)


class Roles:
    """Role families from roles.json, checked in order."""

    def __init__(self) -> None:
        doc = json.loads((DATA / "roles.json").read_text(encoding="utf-8"))
        self.fallback: str = doc["fallback"]
        self.rules = [
            (f["key"], bool(f["head_only"]),
             re.compile("|".join(_pattern(p) for p in [*f["zh_patterns"], *f["en_patterns"]]), re.I))
            for f in doc["families"]
        ]  # fmt: skip

    def family(self, title: str) -> str:
        text = unicodedata.normalize("NFKC", title)
        head = _BRACKETED.sub(" ", text).strip() or text
        for key, head_only, rx in self.rules:
            if rx.search(head if head_only else text):
                return key
        return self.fallback


class Skills:
    """Skills vocabulary from skills.json: leftmost, longest alias first, each match consuming its text."""

    def __init__(self) -> None:
        doc = json.loads((DATA / "skills.json").read_text(encoding="utf-8"))
        self.by_alias: dict[str, str] = {}
        aliases: list[str] = []
        for row in doc["skills"]:
            for alias in row["aliases"]:
                key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", alias)).casefold()
                self.by_alias[key] = row["name"]
                aliases.append(unicodedata.normalize("NFKC", alias))
        aliases.sort(key=lambda a: (-len(a), a))
        self.rx = re.compile("|".join(_pattern(a, one_letter_strict=True) for a in aliases), re.I)
        self.classes = doc["tag_classes"]

    def find(self, text: str) -> list[str]:
        out: list[str] = []
        for m in self.rx.finditer(unicodedata.normalize("NFKC", text or "")):
            name = self.by_alias[re.sub(r"\s+", "", m.group(0)).casefold()]
            if name not in out:
                out.append(name)
        return out

    def tag_kind(self, tag: str) -> str:
        t = unicodedata.normalize("NFKC", tag).strip()
        if not t:
            return "other"
        if t in self.classes["experience"] or any(re.match(rx, t) for rx in self.classes["experience_regex"]):
            return "experience"
        if t in self.classes["education"]:
            return "education"
        if self.find(t):
            return "skill"
        if any(b in t for b in self.classes["benefit_substrings"]):
            return "benefit"
        return "other"

    def from_tags(self, tags: Iterable[str], keep_other: bool) -> list[str]:
        out: list[str] = []
        for raw in tags:
            tag = raw.strip().strip("'\"")
            kind = self.tag_kind(tag)
            if kind == "skill":
                out += self.find(tag)
            elif kind == "other" and keep_other and tag:
                out.append(tag)
        return out


# ---------------------------------------------------------------- reading the raw files


def _city_51job(area: str) -> str | None:
    rest = _PROVINCE.sub("", re.sub(r"\s+", "", area))
    for zh in sorted(CITIES, key=len, reverse=True):
        if rest.startswith(zh):
            return CITIES[zh]
    return None


def _year(text: str) -> int | None:
    m = re.match(r"\s*(\d{4})[-/]\d{1,2}[-/]\d{1,2}", text or "")
    return int(m.group(1)) if m else None


def _pay(text: str) -> float | None:
    found = monthly_range(text)
    return (found[0] + found[1]) / 2 if found else None


def load_postings(root: Path = POSTINGS) -> list[Posting]:
    """Every distinct posting of the bundled corpus, with the fields figures use."""
    roles, skills = Roles(), Skills()
    out: list[Posting] = []

    def make(source: str, title: str, company: str, city: str | None, salary: str, year: int | None,
             tag_skills: list[str], ref: str) -> Posting:  # fmt: skip
        found = set(tag_skills) | set(skills.find(title))
        return Posting(source, title, company.strip() or None, city, _pay(salary), year, roles.family(title),
                       frozenset(found), ref)  # fmt: skip

    seen: set[str] = set()
    for path in sorted((root / "lagou_2017").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                title, job_id = row["职位名称"].strip(), row["职位编码"].strip()
                if not title or job_id in seen:
                    continue
                seen.add(job_id)
                raw_city = row["所在城市"].strip()
                year = _year(row["发布日期"]) or (2017 if row["发布日期"].strip() else None)
                out.append(make("Lagou", title, row["公司名称"], CITIES.get(raw_city, raw_city or None),
                                row["薪资待遇"], year, [], f"{path.name}:{reader.line_num}"))  # fmt: skip

    for source, path, encoding in (
        ("Zhaopin", root / "zhaopin_ai_2025" / "ai_jobs.csv", "gbk"),
        ("51job", root / "job51_python_2023" / "51job.csv", "utf-8"),
    ):
        rows: set[tuple[str, ...]] = set()
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                key = tuple(row.values())
                if key in rows:
                    continue
                rows.add(key)
                if source == "Zhaopin":
                    title, raw = row["岗位"].strip(), row["技能"].strip()
                    try:
                        value = ast.literal_eval(raw) if raw else []
                        tags = [str(t) for t in value] if isinstance(value, (list, tuple)) else [str(value)]
                    except (ValueError, SyntaxError):
                        tags = re.split(r"[,，、;；|/]+", raw.strip("[]"))
                    city = CITIES.get(row["城市"].strip(), row["城市"].strip() or None)
                    tag_skills = skills.from_tags(tags, keep_other=True)
                    salary, company, date = row["薪酬"], row["公司名称"], row["职位更新日期"]
                else:
                    title = row["jobName"].strip()
                    tag_skills = skills.from_tags(re.split(r"[,，、;；|/]+", row["tags"]), keep_other=False)
                    city, salary, company, date = _city_51job(row["area"]), row["salary"], row["companyName"], \
                        row["issueDate"]  # fmt: skip
                if title:
                    ref = f"{path.name}:{reader.line_num}"
                    out.append(make(source, title, company, city, salary, _year(date), tag_skills, ref))
    return out


# ---------------------------------------------------------------- figures


def matches(p: Posting, filters: dict[str, list[Any]]) -> bool:
    """Whether a posting is inside the filters (each kind: any of its values; kinds combined with AND)."""
    checks: dict[str, Callable[[Any], bool]] = {
        "cities": lambda v: p.city == v,
        "roles": lambda v: p.role == v,
        "skills": lambda v: v in p.skills,
        "companies": lambda v: p.company is not None and v.casefold() in p.company.casefold(),
        "years": lambda v: p.year == int(v),
        "sources": lambda v: p.source == v,
    }
    return all(any(checks[k](v) for v in values) for k, values in filters.items() if values)


def median(values: list[float]) -> float:
    return round(float(statistics.median(values)), 1)


def _described(filters: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {k: [str(v) for v in filters[k]] for k in FILTER_KEYS if filters.get(k)}


def figures_for(postings: list[Posting], name: str, filters: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The expected figure(s) of one subject: [{"name", "filters", "value", "n"}] or a ranking."""
    chosen = [p for p in postings if matches(p, filters)]
    described = _described(filters)
    if name == "count":
        return [{"name": "count", "filters": described, "value": len(chosen), "n": len(chosen)}]
    if name == "salary_median":
        pays = [p.pay for p in chosen if p.pay is not None]
        return [{"name": name, "filters": described, "value": median(pays), "n": len(pays)}] if pays else []
    if name == "share_percent":
        whole_filters = {k: v for k, v in filters.items() if k not in ("roles", "skills")}
        whole = [p for p in postings if matches(p, whole_filters)]
        value = round(100 * len(chosen) / len(whole), 1)
        return [{"name": name, "filters": described, "value": value, "n": len(whole)}]
    if name.startswith("top_"):
        dimension = name.removeprefix("top_")
        counts: Counter[str] = Counter()
        for p in chosen:
            if dimension == "skill":
                counts.update(p.skills)
            else:
                label = {"city": p.city, "company": p.company, "title": p.title, "role": p.role}[dimension]
                if label is not None:
                    counts[label] += 1
        ranking = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
        return [{"name": name, "filters": described, "ranking": [list(r) for r in ranking], "n": len(chosen)}]
    if name == "trend":
        out: list[dict[str, Any]] = []
        groups: dict[tuple[int, str], list[Posting]] = {}
        for p in chosen:
            if p.year is not None:
                groups.setdefault((p.year, p.source), []).append(p)
        for (year, source), group in sorted(groups.items()):
            extra = {**described, "year": [str(year)], "source": [source]}
            out.append({"name": "count", "filters": extra, "value": len(group), "n": len(group)})
            pays = [p.pay for p in group if p.pay is not None]
            if pays:
                out.append({"name": "salary_median", "filters": extra, "value": median(pays), "n": len(pays)})
        return out
    raise ValueError(f"unknown figure {name!r}")


def expected_for(question: dict[str, Any], postings: list[Posting]) -> list[dict[str, Any]]:
    """All figures a question expects; a comparison expects one per value of its `compare` key."""
    filters: dict[str, list[Any]] = question["filters"]
    subjects = [filters]
    if question.get("compare"):
        key = question["compare"]
        subjects = [{**filters, key: [value]} for value in filters[key]]
    return [f for subject in subjects for f in figures_for(postings, question["figure"], subject)]


def compute(questions_path: Path = QUESTIONS) -> dict[str, Any]:
    postings = load_postings()
    out: dict[str, Any] = {}
    with questions_path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                question = json.loads(line)
                if question.get("figure"):
                    out[question["id"]] = expected_for(question, postings)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with eval/expected.json, write nothing")
    args = parser.parse_args(argv)
    result = compute()
    text = json.dumps(result, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print("eval/expected.json is up to date" if same else "eval/expected.json differs: rerun eval/expected.py")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(result)} questions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
