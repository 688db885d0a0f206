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

* **Education.** The board's education text (Zhaopin 学历, 51job ``degree``; when empty, the first tag of
  the skills list that is an education tag per `skills.json` ``tag_classes``), read as a level: contains
  博士 → phd, else 硕士/研究生 → master, else 本科 → bachelor, else 大专/专科 → college, else
  高中/中专/中技/初中 → secondary, else 不限 → any, else unknown (not counted). Lagou states none.
* **Experience.** Zhaopin 工作经验, 51job ``workYear`` (else the first experience tag), read as the minimum
  years asked: 应届/在校/无需/无经验/不限/1年以下 → 0, else the first integer in the text.
* **Newer populations.** ``title_terms``: the title contains one of the terms (case-insensitive);
  ``pay_min``/``pay_max``: the posting has pay and its midpoint is above/below the bound; ``education``:
  its level is one of those; ``experience_years`` [low, high]: its minimum years lie in that band.
* **Nearest population.** When no posting meets a subject (its pay bounds aside), every figure but ``count`` is
  computed for the first relaxation that some posting meets, in this order: without experience; without
  education; without both; without the city; without city, experience and education; with every engineering role
  family (``TECH_FAMILIES``) in place of its role, title and skill conditions; that and without experience and
  education. The city and role steps apply only to a subject naming both a city and a job.
* **Pay at the same position.** ``pay_at_same_position`` for one stated monthly pay: share = the percent of the
  first subject's postings (the place the pay is from, listed first in ``expected_plan.subjects``) with pay
  whose midpoint is below it, rounded to one decimal; for each other subject, the
  linear-interpolation quantile of its midpoints at that share (sorted, position share × (n − 1)), one decimal;
  n = that subject's postings with pay; filters gain ``share`` (the percent, one decimal).
* **Yearly packages.** A posting's yearly total is its pay midpoint × the months a year its salary text states
  (the number before 薪, as in ``·14薪``), else × 12. For a stated yearly package (``expected_plan.yearly``):
  ``percent_paying_less_yearly``/``more_yearly`` = 100 × postings with pay whose total is below/above it ÷
  postings with pay (one decimal); ``yearly_median`` = median of the totals; ``months_stated`` = postings with
  pay whose text states months; n = postings with pay; filters gain ``yearly_pay``.
* **Newer figures.** ``percent_paying_less``/``more`` for a stated monthly pay: 100 × postings with pay whose
  midpoint is below/above it ÷ postings with pay (one decimal), n = postings with pay, filters gain
  ``pay``. ``top_<city|company|title|role>_by_pay``: groups with at least 20 postings with pay, by median
  pay descending, then postings with pay descending, then name; five long; each entry's value its median
  and n its postings with pay. ``top_education``/``top_experience``: postings per level (per minimum
  years), count descending then level (years ascending), eight long, n = postings that state one.
  ``share_percent`` of a pay-bounded population: its count as a percent of the postings *with pay* under
  the same filters without the bound; of a role's postings listing a skill (``share_of: roles``): the
  whole keeps the role and drops the skill.
* **Questions.** A legacy question gives ``filters`` (and ``compare``: one subject per value); a newer one
  gives its populations as ``expected_plan.subjects`` and stated pays as ``expected_plan.pays``. ``figure``
  is one name or a list of names, each computed for every subject. The two rules below then narrow the
  subjects, in this order; a subject's "postings" are all postings matching it.
* **Recent rule.** For a question whose expected intent is figure, comparison or guidance, when no subject
  names years or sources and the question states no relative period (this year, last year, 今年, 去年, ...;
  such a period is a named year in its subjects): newest = the newest year of any posting's date in the
  whole table, recent = (newest-2, newest-1, newest). Per subject, n_r = its postings in recent years and n
  = all its postings. No change when n_r is 0 for the only subject, when the smallest n_r over subjects is
  under 10 (`THIN`), or when the total of (n - n_r) over subjects is 0. Otherwise every subject gets
  years = recent (so its figures' filters carry those years).
* **Same-board rule.** After the recent rule, for a comparison of 2+ subjects where no subject names
  sources: per subject, count_i(b) = its postings (in its possibly narrowed population) on board b and
  share_i(b) = count_i(b) / total_i. spread = the largest, over every board b of any subject, of
  max_i share_i(b) - min_i share_i(b). Common boards = those present in every subject; best = the common
  board with the largest min_i count_i(b), ties to the board name first in alphabetical order. No change
  when spread < 0.25, there is no common board, or min_i count_i(best) < 10; otherwise every subject gets
  sources = (best,).
* **Expected plans.** ``python eval/expected.py --plans`` writes the years/sources the rules add into each
  question's ``expected_plan.subjects``. Applying the rules to such a rewritten plan changes nothing (its
  subjects already name years or sources and were narrowed the same way), so figures of newer questions,
  read from the plan, and of legacy ones, read from ``filters``, agree.

Run ``python eval/expected.py`` to rewrite `eval/expected.json`; ``--check`` compares instead; ``--plans``
rewrites the expected plans of `eval/questions.jsonl` (see above).
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
FILTER_KEYS = ("cities", "roles", "skills", "companies", "years", "sources", "title_terms", "education",
               "pay_min", "pay_max", "experience_years")  # fmt: skip
MIN_RANKED = 20  # a ranking by pay leaves out groups with fewer postings with pay
THIN = 10  # the recent and same-board rules need at least this many postings per subject
RECENT_YEARS = 3  # "recent": the newest year of the table and the two before it
BOARD_SPREAD = 0.25  # the same-board rule applies from this difference between the subjects' board shares
CURRENT_INTENTS = ("figure", "comparison", "guidance")  # intents the recent rule applies to
_RELATIVE = re.compile(r"\b(?:this|last|previous|past)\s+year\b|今年|去年|本年度|上一年", re.I)


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
    education: str | None = None  # phd, master, bachelor, college, secondary, any
    experience: int | None = None  # minimum years asked
    months: int | None = None  # months of pay a year the salary text states ("·13薪"), else None


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


def months_a_year(text: str) -> int | None:
    """The months of pay a year a salary text states ("30-60K·14薪" -> 14), None when it states none."""
    m = re.search(r"(\d{1,2})\s*薪", unicodedata.normalize("NFKC", text or ""))
    return int(m.group(1)) if m else None


def _pay(text: str) -> float | None:
    found = monthly_range(text)
    return (found[0] + found[1]) / 2 if found else None


def education_level(text: str | None) -> str | None:
    """The level an education text asks for (see the module docstring); None when not understood."""
    t = (text or "").strip()
    for level, words in (("phd", ("博士",)), ("master", ("硕士", "研究生")), ("bachelor", ("本科",)),
                         ("college", ("大专", "专科")), ("secondary", ("高中", "中专", "中技", "初中")),
                         ("any", ("不限",))):  # fmt: skip
        if any(w in t for w in words):
            return level
    return None


def experience_years(text: str | None) -> int | None:
    """The minimum years an experience text asks for; None when it names none."""
    t = (text or "").strip()
    if not t:
        return None
    if re.search(r"应届|在校|无需|无经验|不限|1年以下", t):
        return 0
    m = re.search(r"\d+", t)
    return int(m.group(0)) if m else None


def load_postings(root: Path = POSTINGS) -> list[Posting]:
    """Every distinct posting of the bundled corpus, with the fields figures use."""
    roles, skills = Roles(), Skills()
    out: list[Posting] = []

    def make(source: str, title: str, company: str, city: str | None, salary: str, year: int | None,
             tag_skills: list[str], ref: str, education: str = "", experience: str = "") -> Posting:  # fmt: skip
        found = set(tag_skills) | set(skills.find(title))
        return Posting(source, title, company.strip() or None, city, _pay(salary), year, roles.family(title),
                       frozenset(found), ref, education_level(education), experience_years(experience),
                       months_a_year(salary))  # fmt: skip

    def first_tag(tags: Iterable[str], kind: str) -> str:
        return next((t.strip().strip("'\"") for t in tags if skills.tag_kind(t.strip().strip("'\"")) == kind), "")

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
                    education = row["学历"].strip() or first_tag(tags, "education")
                    experience = row["工作经验"].strip() or first_tag(tags, "experience")
                else:
                    title = row["jobName"].strip()
                    tags = re.split(r"[,，、;；|/]+", row["tags"])
                    tag_skills = skills.from_tags(tags, keep_other=False)
                    city, salary, company, date = _city_51job(row["area"]), row["salary"], row["companyName"], \
                        row["issueDate"]  # fmt: skip
                    education = row["degree"].strip() or first_tag(tags, "education")
                    experience = row["workYear"].strip() or first_tag(tags, "experience")
                if title:
                    ref = f"{path.name}:{reader.line_num}"
                    out.append(make(source, title, company, city, salary, _year(date), tag_skills, ref, education,
                                    experience))  # fmt: skip
    return out


# ---------------------------------------------------------------- figures


def matches(p: Posting, filters: dict[str, Any]) -> bool:
    """Whether a posting is inside the filters (each kind: any of its values; kinds combined with AND)."""
    checks: dict[str, Callable[[Any], bool]] = {
        "cities": lambda v: p.city == v,
        "roles": lambda v: p.role == v,
        "skills": lambda v: v in p.skills,
        "companies": lambda v: p.company is not None and v.casefold() in p.company.casefold(),
        "years": lambda v: p.year == int(v),
        "sources": lambda v: p.source == v,
        "title_terms": lambda v: v.casefold() in p.title.casefold(),
        "education": lambda v: p.education == v,
    }
    for key, values in filters.items():
        if values is None or values == []:
            continue
        if key == "pay_min":
            if p.pay is None or not p.pay > float(values):
                return False
        elif key == "pay_max":
            if p.pay is None or not p.pay < float(values):
                return False
        elif key == "experience_years":
            low, high = values
            if p.experience is None or not low <= p.experience <= high:
                return False
        elif not any(checks[key](v) for v in values):
            return False
    return True


def median(values: list[float]) -> float:
    return round(float(statistics.median(values)), 1)


def _money(value: float) -> str:
    return str(round(float(value)))


def _described(filters: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in FILTER_KEYS:
        value = filters.get(k)
        if value is None or value == []:
            continue
        if k in ("pay_min", "pay_max"):
            out[k] = [_money(value)]
        elif k == "experience_years":
            out[k] = ["{}-{}".format(*value)]
        else:
            out[k] = [str(v) for v in value]
    return out


_LABEL: dict[str, Callable[[Posting], Any]] = {
    "city": lambda p: p.city, "company": lambda p: p.company, "title": lambda p: p.title,
    "role": lambda p: p.role, "education": lambda p: p.education, "experience": lambda p: p.experience,
}  # fmt: skip


def _whole_of_share(filters: dict[str, Any], share_of: str) -> dict[str, Any]:
    if share_of == "roles":
        return {k: v for k, v in filters.items() if k != "skills"}
    return {k: v for k, v in filters.items() if k not in ("roles", "skills")}


def figures_for(postings: list[Posting], name: str, filters: dict[str, Any], pay: float | None = None,
                share_of: str = "") -> list[dict[str, Any]]:  # fmt: skip
    """The expected figure(s) of one subject: [{"name", "filters", "value", "n"}] or a ranking."""
    chosen = [p for p in postings if matches(p, filters)]
    described = _described(filters)
    if name == "count":
        return [{"name": "count", "filters": described, "value": len(chosen), "n": len(chosen)}]
    if name == "salary_median":
        pays = [p.pay for p in chosen if p.pay is not None]
        return [{"name": name, "filters": described, "value": median(pays), "n": len(pays)}] if pays else []
    if name in ("percent_paying_less", "percent_paying_more"):
        assert pay is not None, "a pay position needs a stated pay"
        pays = [p.pay for p in chosen if p.pay is not None]
        if not pays:
            return []
        side = sum(1 for v in pays if (v < pay if name == "percent_paying_less" else v > pay))
        value = round(100 * side / len(pays), 1)
        return [{"name": name, "filters": {**described, "pay": [_money(pay)]}, "value": value, "n": len(pays)}]
    if name in ("percent_paying_less_yearly", "percent_paying_more_yearly", "yearly_median", "months_stated"):
        assert pay is not None, "a yearly pay position needs a stated yearly package"
        paid = [p for p in chosen if p.pay is not None]
        if not paid:
            return []
        totals = [p.pay * (p.months or 12) for p in paid]
        described = {**described, "yearly_pay": [_money(pay)]}
        if name == "yearly_median":
            value: float = median(totals)
        elif name == "months_stated":
            value = sum(1 for p in paid if p.months is not None)
        else:
            side = sum(1 for v in totals if (v < pay if name == "percent_paying_less_yearly" else v > pay))
            value = round(100 * side / len(totals), 1)
        return [{"name": name, "filters": described, "value": value, "n": len(paid)}]
    if name == "share_percent":
        if filters.get("pay_min") is not None or filters.get("pay_max") is not None:
            whole_filters = {k: v for k, v in filters.items() if k not in ("pay_min", "pay_max")}
            whole = [p for p in postings if matches(p, whole_filters) and p.pay is not None]
        else:
            whole = [p for p in postings if matches(p, _whole_of_share(filters, share_of))]
        value = round(100 * len(chosen) / len(whole), 1)
        return [{"name": name, "filters": described, "value": value, "n": len(whole)}]
    if name.startswith("top_") and name.endswith("_by_pay"):
        dimension = name.removeprefix("top_").removesuffix("_by_pay")
        groups: dict[str, list[float]] = {}
        for p in chosen:
            label = _LABEL[dimension](p)
            if p.pay is not None and label is not None:
                groups.setdefault(str(label), []).append(p.pay)
        rows = [(label, median(v), len(v), float(statistics.median(v))) for label, v in groups.items()
                if len(v) >= MIN_RANKED]  # fmt: skip
        rows.sort(key=lambda r: (-r[3], -r[2], r[0]))
        ranking = [[label, value, n] for label, value, n, _ in rows[:5]]
        return [{"name": name, "filters": described, "ranking": ranking, "n": None}]
    if name.startswith("top_"):
        dimension = name.removeprefix("top_")
        counts: Counter[Any] = Counter()
        stating = 0
        for p in chosen:
            if dimension == "skill":
                counts.update(p.skills)
            else:
                label = _LABEL[dimension](p)
                if label is not None:
                    counts[label] += 1
                    stating += 1
        limit = 8 if dimension in ("education", "experience") else 5
        ranking = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
        n = stating if dimension in ("education", "experience") else len(chosen)
        return [{"name": name, "filters": described, "ranking": [[str(k), c] for k, c in ranking], "n": n}]
    if name == "trend":
        out: list[dict[str, Any]] = []
        by_year: dict[tuple[int, str], list[Posting]] = {}
        for p in chosen:
            if p.year is not None:
                by_year.setdefault((p.year, p.source), []).append(p)
        for (year, source), group in sorted(by_year.items()):
            extra = {**described, "year": [str(year)], "source": [source]}
            out.append({"name": "count", "filters": extra, "value": len(group), "n": len(group)})
            pays = [p.pay for p in group if p.pay is not None]
            if pays:
                out.append({"name": "salary_median", "filters": extra, "value": median(pays), "n": len(pays)})
        return out
    raise ValueError(f"unknown figure {name!r}")


def subjects_of(question: dict[str, Any]) -> list[dict[str, Any]]:
    """The populations a question asks about: its expected plan's subjects, else its filters (split on
    `compare`)."""
    plan = question.get("expected_plan") or {}
    if "filters" not in question and plan.get("subjects"):
        return [dict(s) for s in plan["subjects"]]
    filters: dict[str, Any] = question["filters"]
    if question.get("compare"):
        key = question["compare"]
        return [{**filters, key: [value]} for value in filters[key]]
    return [filters]


def _count(postings: list[Posting], subject: dict[str, Any], years: Iterable[int] | None = None) -> int:
    if years is None:
        return sum(1 for p in postings if matches(p, subject))
    wanted = set(years)
    return sum(1 for p in postings if p.year in wanted and matches(p, subject))


def recent_years(postings: list[Posting]) -> list[int]:
    """The newest `RECENT_YEARS` years, ending at the newest year of any posting."""
    newest = max(p.year for p in postings if p.year is not None)
    return list(range(newest - RECENT_YEARS + 1, newest + 1))


def narrowing(question: dict[str, Any], subjects: list[dict[str, Any]], postings: list[Posting]) -> dict[str, Any]:
    """What the recent and same-board rules add to every subject (see the module docstring): {}, or some of
    {"years": recent years, "sources": [best board]}."""
    plan = question.get("expected_plan") or {}
    intent = plan.get("intent")
    added: dict[str, Any] = {}
    if not subjects:
        return added
    names_period = any(s.get("years") or s.get("sources") for s in subjects)
    if intent in CURRENT_INTENTS and not names_period and not _RELATIVE.search(question.get("question", "")):
        recent = recent_years(postings)
        counts = [(_count(postings, s, recent), _count(postings, s)) for s in subjects]
        only_empty = len(subjects) == 1 and counts[0][0] == 0
        older = sum(n - n_r for n_r, n in counts)
        if not only_empty and min(n_r for n_r, _ in counts) >= THIN and older > 0:
            added["years"] = recent
    if intent == "comparison" and len(subjects) > 1 and not any(s.get("sources") for s in subjects):
        mixes = [Counter(p.source for p in postings if matches(p, {**s, **added})) for s in subjects]
        totals = [sum(m.values()) for m in mixes]
        boards = sorted(set().union(*mixes))
        spread = max(
            (max(m[b] / t if t else 0.0 for m, t in zip(mixes, totals, strict=True))
             - min(m[b] / t if t else 0.0 for m, t in zip(mixes, totals, strict=True)))
            for b in boards
        ) if boards else 0.0  # fmt: skip
        common = [b for b in boards if all(m[b] > 0 for m in mixes)]
        best = None
        for b in common:  # alphabetical: the first of equal minimum counts wins
            if best is None or min(m[b] for m in mixes) > min(m[best] for m in mixes):
                best = b
        if spread >= BOARD_SPREAD and best is not None and min(m[best] for m in mixes) >= THIN:
            added["sources"] = [best]
    return added


def populations(question: dict[str, Any], postings: list[Posting]) -> list[dict[str, Any]]:
    """The subjects a question's figures are computed for: `subjects_of` narrowed by the two rules."""
    subjects = subjects_of(question)
    added = narrowing(question, subjects, postings)
    return [{**s, **added} for s in subjects]


def expected_for(question: dict[str, Any], postings: list[Posting]) -> list[dict[str, Any]]:
    """All figures a question expects: each of its figure names for each subject (and each stated pay)."""
    names = question["figure"] if isinstance(question["figure"], list) else [question["figure"]]
    pays = (question.get("expected_plan") or {}).get("pays") or []
    share_of = question.get("share_of", "")
    out: list[dict[str, Any]] = []
    subjects = populations(question, postings)
    if "pay_at_same_position" in names and pays:
        out += same_position(postings, subjects, pays[0])
    for asked in subjects:
        for name in names:
            # A subject no posting meets is widened as the assistant says it does; a count of it is its own answer.
            subject = asked if name == "count" else nearest(postings, asked)
            if name == "pay_at_same_position":
                continue  # computed above, across the subjects
            if name.endswith("_yearly") or name in ("yearly_median", "months_stated"):
                for package in (question.get("expected_plan") or {}).get("yearly") or []:
                    out += figures_for(postings, name, subject, pay=package)
            elif name.startswith("percent_paying"):
                for pay in pays:
                    out += figures_for(postings, name, subject, pay=pay)
            else:
                out += figures_for(postings, name, subject, share_of=share_of)
    return out


#: Every engineering role family (what a population widened to "every role in that city" keeps).
TECH_FAMILIES = ["backend", "frontend", "mobile", "devops", "qa", "security", "embedded", "data_engineering",
                 "data_analysis", "ml", "nlp", "cv", "llm", "speech", "ai_infra", "ai_engineering"]  # fmt: skip
#: What is left out, in order, when no posting meets a subject's conditions (see the module docstring).
RELAXATIONS = [("experience",), ("education",), ("experience", "education"), ("city",),
               ("city", "experience", "education"), ("role",), ("role", "experience", "education")]  # fmt: skip


def relaxed(subject: dict[str, Any], dropped: tuple[str, ...]) -> dict[str, Any] | None:
    """The subject without the dropped conditions; None when it has none of them to drop."""
    out = dict(subject)
    job = subject.get("roles") or subject.get("title_terms") or subject.get("skills")
    for name in dropped:
        if name == "experience":
            if not subject.get("experience_years"):
                return None
            out.pop("experience_years", None)
        elif name == "education":
            if not subject.get("education"):
                return None
            out.pop("education", None)
        elif name == "city":
            if not subject.get("cities") or not job:
                return None
            out.pop("cities", None)
        elif name == "role":
            if not subject.get("cities") or not job:
                return None
            out = {k: v for k, v in out.items() if k not in ("title_terms", "skills")}
            out["roles"] = list(TECH_FAMILIES)
    return out


def nearest(postings: list[Posting], subject: dict[str, Any]) -> dict[str, Any]:
    """The subject itself when any posting matches it (pay bounds aside), else its first relaxation that has one."""
    unbounded = {k: v for k, v in subject.items() if k not in ("pay_min", "pay_max")}
    if any(matches(p, unbounded) for p in postings):
        return subject
    for dropped in RELAXATIONS:
        wider = relaxed(subject, dropped)
        if wider is not None and any(matches(p, wider) for p in postings):
            return wider
    return subject


def quantile_cont(values: list[float], share: float) -> float:
    """The linear-interpolation quantile (DuckDB's ``quantile_cont``): position share × (n − 1) in sorted order."""
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (position - low) * (ordered[high] - ordered[low]), 1)


def same_position(postings: list[Posting], subjects: list[dict[str, Any]], pay: float) -> list[dict[str, Any]]:
    """``pay_at_same_position``: the percent of the first subject's postings with pay whose midpoint is below the
    pay (one decimal), then, for each other subject, the pay at that share of its postings with pay."""
    home = [p.pay for p in postings if matches(p, subjects[0]) and p.pay is not None]
    if not home:
        return []
    share = round(100 * sum(1 for v in home if v < pay) / len(home), 1) / 100
    out = []
    for subject in subjects[1:]:
        pays = [p.pay for p in postings if matches(p, subject) and p.pay is not None]
        if pays:
            described = {**_described(subject), "share": [f"{100 * share:.1f}"]}
            out.append({"name": "pay_at_same_position", "filters": described, "value": quantile_cont(pays, share),
                        "n": len(pays)})  # fmt: skip
    return out


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


def rewrite_plans(questions_path: Path = QUESTIONS) -> int:
    """Add what the two rules give to the subjects of each question's expected plan; the number changed."""
    postings = load_postings()
    lines = questions_path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    changed = 0
    for line in lines:
        if not line.strip():
            out.append(line)
            continue
        question = json.loads(line)
        plan = question.get("expected_plan") or {}
        if plan.get("subjects"):
            added = narrowing(question, subjects_of(question), postings)
            subjects = [{**s, **added} for s in plan["subjects"]]
            if subjects != plan["subjects"]:
                plan["subjects"] = subjects
                changed += 1
                line = json.dumps(question, ensure_ascii=False)
        out.append(line)
    questions_path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with eval/expected.json, write nothing")
    parser.add_argument(
        "--plans",
        action="store_true",
        help="write the rules' years/sources into the expected plans of eval/questions.jsonl",
    )
    args = parser.parse_args(argv)
    if args.plans:
        changed = rewrite_plans()
        print(f"rewrote the expected plans of {changed} questions in {QUESTIONS}")
        return 0
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
