"""The asker's own facts, and the accounting of a question: every number and every named thing in it is either
used by the plan, with how it was read, or named as not used, with why.

Pure and stdlib only. Two jobs, each a set of named rules over the question's text:

* `asker_facts` reads what the asker says of themselves: years of experience ("5 年前端", "YOE: 1.5", "one and a
  half years"), graduation year ("19 年毕业", "20 届", "class of 2020"), birth year ("94 年生人"), age ("35岁",
  "in my 30s"), degree ("应届本科", "an MS in CS", "专科"), and months of pay a year ("16薪"). A two-digit "NN年"
  right before 毕业, 届 or a degree is a year ("17年专科": 2017), never years of experience; that reading is
  said in the answer.
* `inventory` lists every number and every named city, place, role, skill, company, degree and job board with
  its span. `account` compares that list with a finished `Plan` and returns one `Part` for each mention the plan
  neither uses nor already names, with the reason it was not used. The writer shows those parts as "Not used".

What counts as used: a city, role, skill, company, board or year that is a filter of a figure's population (or,
for advice, of the asker's profile or the targets); a degree that is a filter or the measure; a number inside a
part the plan already states (a placed pay, a threshold, an experience band). Everything else is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from assistant import vocab
from assistant.money import AMOUNT, chinese_number
from assistant.understand import _data, detect_language, mentions, role_spans, stated_pay

if TYPE_CHECKING:
    from assistant.plan import Plan

_CJK = re.compile(r"[\u3400-\u9fff]")
_ZH_DIGITS = "零一二两三四五六七八九十"
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "a": 1, "an": 1}  # fmt: skip
#: A count in Chinese numerals before what it counts ("三年", "两万", "十届"); digit amounts are `money.AMOUNT`.
_ZH_COUNT = re.compile(
    r"(?<![一二两三四五六七八九十百千万])(?!一年)[一二两三四五六七八九十][零一二两三四五六七八九十百千万]*(?=[年岁万千届])"
)
_TWO_DIGIT_YEAR = re.compile(
    r"(?<!\d)(\d{2})\s*年\s*(?=毕业|届|专科|大专|本科|硕士|研究生|博士|入职|入行|生人|出生|生)"
)
_FULL_YEAR_EVENT = re.compile(
    r"(?<!\d)((?:19|20)\d{2})\s*(?:年)?\s*(?=毕业|届|专科|大专|本科|硕士|研究生|博士|入职|入行|生人|出生)"
    r"|\b(?:class of|graduated in|graduating in|grad(?:uated)?\s+(?:in\s+)?)\s*((?:19|20)\d{2})\b"
    r"|(?<!\d)((?:19|20)\d{2})\s+(?:grad|graduate)\b",
    re.I,
)
_COHORT = re.compile(r"(?<!\d)(\d{2})\s*届")
_BIRTH = re.compile(r"(?<!\d)(\d{2}|(?:19|20)\d{2})\s*年?\s*(?:生人|出生|后)(?!端)")
_AGE = re.compile(
    r"(?<!\d)(\d{2})\s*岁|年龄\s*[:：]?\s*(\d{2})(?!\d)"
    r"|\b(?:I'm|I am|aged?)\s+(\d{2})\b(?!\s*(?:k\b|w\b|years? of|yrs|万|千|%|年))"
    r"|\b(\d{2})[- ]years?[- ]olds?\b|\b(?:in\s+)?my\s+((?:[2-6]0)s)\b"
    r"|\b(?:in\s+)?my\s+(twenties|thirties|forties|fifties)\b",
    re.I,
)
_DECADE_WORDS = {"twenties": 20, "thirties": 30, "forties": 40, "fifties": 50}
_YEARS_EN = re.compile(
    r"(?P<n>\d+(?:\.\d+)?|(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|an?)"
    r"(?:\s+and\s+a\s+half)?)\+?\s*(?:years?|yrs?)'?(?![A-Za-z])(?!\s*old)",
    re.I,
)
_YOE = re.compile(r"\bYOE\s*[:：]?\s*(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*YOE\b", re.I)
_YEARS_ZH = re.compile(
    rf"(?P<n>\d+(?:\.\d+)?|[{_ZH_DIGITS}]+)\s*(?:多)?\s*(?:年半|年)(?P<after>[^\d，。,.?？!！]{{0,8}})"
)
_EXPERIENCE_BEFORE_ZH = re.compile(
    r"(?:干了|工作了?|做了|从业|入行|毕业|写了|搬砖|工作经验)[\]】)）]*\s*(?:快|近|将近|已经|已|有|了|大概|差不多)*\s*$"
)
_EXPERIENCE_AFTER_ZH = re.compile(
    r"^(?:的)?(?:工作)?(?:经验|工龄|开发|前端|后端|java|Java|JAVA|测试|运维|产品|算法|程序员|码农|经历|全栈|ios|iOS|安卓|android|"
    r"Android|go|Go|python|Python|c\+\+|C\+\+|php|PHP|数据|嵌入式|移动端|客户端|服务端|大数据|运营|设计|UI|web|Web)"
)
_EXPERIENCE_EN = re.compile(
    r"^\s*(?:of\s+)?(?:work(?:ing)?\s+)?(?:experience|exp\b|in\s+(?:the\s+)?(?:industry|tech|software|backend|frontend|"
    r"web|it|data|ml|ai)|as\s+an?\b|(?:of\s+)?(?:professional|industry|coding|backend|frontend|software|dev)|"
    r"working|programming|coding|developing|of\s+(?:[\w+#.-]+\s+){0,3}(?:work|experience|development|coding|"
    r"programming|engineering)\b)",
    re.I,
)
_EXPERIENCE_EN_BEFORE = re.compile(
    r"(?:for\s+(?:the\s+)?(?:past|last)\s*|(?:about|around|~|nearly|almost|over)\s*|\b(?:with|for|have|having|had|"
    r"spent|after)\s+(?:about\s+|around\s+|over\s+|~)?)$",
    re.I,
)
_MONTHS_A_YEAR = re.compile(
    r"(?<!\d)(1[2-9]|2[0-4])\s*薪|(?:(?:times|x|×|\*)\s*)(1[2-9]|2[0-4])\s*months?\b|(1[2-9]|2[0-4])\s*months?\s*"
    r"(?:a|per|of pay|of salary)\s*(?:year)?",
    re.I,
)


@dataclass(frozen=True)
class Part:
    """A part of the question: its words, what it was read as, and, when it could not be used, why."""

    words: str
    meaning: str
    reason: str = ""
    term: str = ""  # a job-title word this part filters on (checked against the data by the planner)
    topic: bool = False  # a topic the data holds nothing on (age, visas...): a reason to decline
    named: bool = False  # a number or name the plan does not use, named by the accounting (see `account`)
    asked: bool = False  # what the question asks and no figure measures ("is it hard to find"): said first

    @property
    def used(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class Fact:
    """One thing the asker says of themselves: the words, where they are, and the value read."""

    words: str
    start: int
    end: int
    value: Any


@dataclass(frozen=True)
class AskerFacts:
    """What the asker states about themselves; each field None when not stated."""

    experience: Fact | None = None  # value: years (float)
    graduation: Fact | None = None  # value: year (int)
    birth: Fact | None = None  # value: year (int)
    age: Fact | None = None  # value: years (int)
    degree: Fact | None = None  # value: an education level key ("bachelor", ...)
    months_a_year: Fact | None = None  # value: months of pay a year (int)

    def facts(self) -> tuple[Fact, ...]:
        return tuple(f for f in (self.experience, self.graduation, self.birth, self.age, self.degree,
                                 self.months_a_year) if f is not None)  # fmt: skip


def _zh_number(text: str) -> float | None:
    """A count written in digits or Chinese numerals ("3", "两", "十二"); None for anything else."""
    if text.replace(".", "", 1).isdigit() or all(c in "零一二两三四五六七八九十" for c in text):
        return chinese_number(text)
    return None


def _full_year(two: str) -> int:
    value = int(two)
    return value + (1900 if len(two) == 2 and value >= 50 else 2000 if len(two) == 2 else 0)


def _experience(text: str, taken: list[tuple[int, int]]) -> Fact | None:
    """Years of work the asker states, read by named rules in order; spans already read as years are skipped."""

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in taken)

    if (hit := _YOE.search(text)) and free(*hit.span()):
        return Fact(hit.group(0), *hit.span(), float(hit.group(1) or hit.group(2)))
    for hit in _YEARS_EN.finditer(text):
        after, before = text[hit.end() : hit.end() + 40], text[max(0, hit.start() - 30) : hit.start()]
        if not free(*hit.span()) or not (_EXPERIENCE_EN.match(after) or _EXPERIENCE_EN_BEFORE.search(before)):
            continue
        if re.match(r"\s*(?:to\b|until|left|ago|later|from now|out of|off\b)", after, re.I) or re.search(
            r"unemployed|out of work|\bgap\b|\bin\s*$", before, re.I
        ):
            continue  # "3 years to decide", "unemployed for 2 years": not years of work
        words = hit.group("n").lower()
        half = 0.5 if "half" in words else 0.0
        head = words.split()[0]
        value = float(head) if head[0].isdigit() else float(_WORD_NUMBERS[head])
        end = hit.end() + (m.end() if (m := _EXPERIENCE_EN.match(after)) else 0)
        return Fact(text[hit.start() : end].strip(), hit.start(), end, value + half)
    for hit in _YEARS_ZH.finditer(text):
        if not free(*hit.span()):
            continue
        number = _zh_number(hit.group("n"))
        before = text[max(0, hit.start() - 6) : hit.start()]
        after = hit.group("after")
        if number is None or number > 45 or len(hit.group("n")) == 4:
            continue  # "2019年" is a year
        if after.startswith("前") and not after.startswith("前端"):
            continue  # "三年前": three years ago
        if after.startswith(("内", "后", "里")) and not _EXPERIENCE_BEFORE_ZH.search(before):
            continue  # "三年内", "两年后": a span of time ahead, not experience ("工作三年后" is)
        if _EXPERIENCE_AFTER_ZH.match(after.lstrip()) or "经验" in after or _EXPERIENCE_BEFORE_ZH.search(before):
            value = number + (0.5 if "年半" in hit.group(0) else 0.0)
            end = hit.start() + len(hit.group(0)) - len(hit.group("after"))
            return Fact(text[hit.start() : end], hit.start(), end, value)
    return None


@cache
def _degree_words() -> tuple[tuple[str, re.Pattern[str]], ...]:
    levels = dict(_data()["plan"]["education_levels"])
    extra = {"bachelor": ["bs", "b.s.", "b.tech", "btech", "be", "bca", "b.e."], "master": ["ms", "m.s.", "mtech"]}
    return tuple((level, vocab.alias_pattern([*words, *extra.get(level, [])])) for level, words in levels.items())


def degree_mentions(text: str) -> list[Fact]:
    """Every degree named in the text ("本科", "Master's", "PhD", "BCA"), with its level."""
    found: list[Fact] = []
    for level, pattern in _degree_words():
        for hit in pattern.finditer(text):
            if level == "bachelor" and hit.group(0).lower() == "be" and not re.search(r"\bBE\b", hit.group(0)):
                continue  # "be" is a verb; only "BE" is the degree
            found.append(Fact(hit.group(0), *hit.span(), level))
    return sorted(found, key=lambda f: f.start)


@lru_cache(maxsize=1024)  # pure; one question asks for its facts from several rules
def asker_facts(text: str) -> AskerFacts:
    """What the asker says of themselves, by named rules over the text (see the module docstring)."""
    taken: list[tuple[int, int]] = []
    graduation = birth = age = None
    for two in _TWO_DIGIT_YEAR.finditer(text):
        fact = Fact(two.group(0).strip(), *two.span(), _full_year(two.group(1)))
        if text[two.end() : two.end() + 2].startswith(("生", "出")):
            birth = birth or fact
        else:
            graduation = graduation or fact
        taken.append(two.span())
    hit: re.Match[str] | None
    if graduation is None and (hit := _FULL_YEAR_EVENT.search(text)):
        year = int(next(g for g in hit.groups() if g))
        if re.search(r"生人|出生", text[hit.end() : hit.end() + 3]):
            birth = Fact(hit.group(0).strip(), *hit.span(), year)
        else:
            graduation = Fact(hit.group(0).strip(), *hit.span(), year)
        taken.append(hit.span())
    if graduation is None and (hit := _COHORT.search(text)):
        graduation = Fact(hit.group(0), *hit.span(), _full_year(hit.group(1)))
        taken.append(hit.span())
    if birth is None and (hit := _BIRTH.search(text)) and not any(s <= hit.start() < e for s, e in taken):
        birth = Fact(hit.group(0), *hit.span(), _full_year(hit.group(1)))
        taken.append(hit.span())
    if hit := _AGE.search(text):
        raw = next(g for g in hit.groups() if g)
        value = _DECADE_WORDS.get(raw.lower()) or int(raw.rstrip("sS"))
        if 14 <= value <= 75:
            age = Fact(hit.group(0).strip(), *hit.span(), value)
            taken.append(hit.span())
    experience = _experience(text, taken)
    degrees = degree_mentions(text)
    months = _MONTHS_A_YEAR.search(text)
    return AskerFacts(
        experience=experience, graduation=graduation, birth=birth, age=age,
        degree=degrees[0] if degrees else None,
        months_a_year=(
            Fact(months.group(0), *months.span(), int(next(g for g in months.groups() if g))) if months else None
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class Mention:
    """A number or a named thing in the question: its words, span, kind and value.

    kind: number, year, city, place, role, skill, company, degree, source, experience, graduation, birth, age.
    """

    words: str
    start: int
    end: int
    kind: str
    value: Any


def inventory(text: str, companies: tuple[str, ...] = ()) -> list[Mention]:
    """Every number and named thing in the question, in order; a number inside a stated fact (an age, years of
    experience, a graduation year) is that fact, not a number of its own."""
    found: list[Mention] = []
    facts = asker_facts(text)
    for kind in ("experience", "graduation", "birth", "age", "months_a_year"):
        fact = getattr(facts, kind)
        if fact is not None:
            found.append(Mention(fact.words, fact.start, fact.end, kind, fact.value))
    for degree in degree_mentions(text):
        found.append(Mention(degree.words, degree.start, degree.end, "degree", degree.value))
    english = detect_language(text) == "en"
    named = mentions(text, companies, strict_case=english)
    for place in vocab.find_places(text):
        found.append(Mention(text[place.start : place.end], place.start, place.end,
                             "city" if place.known else "place", place.name))  # fmt: skip
    for start, end, family in role_spans(text):
        found.append(Mention(text[start:end], start, end, "role", family))
    lower_words = {w.lower() for w in _data()["lowercase_words"]}
    for start, end, skill in vocab.skill_spans(text):
        if english and text[start:end] in lower_words:
            continue  # "go with", "go straight": a word in English prose, not the Go language
        found.append(Mention(text[start:end], start, end, "skill", skill))
    for company in named.companies:
        for hit in re.finditer(re.escape(company), text, re.I):
            found.append(Mention(hit.group(0), *hit.span(), "company", company))
    for source in named.sources:
        found.append(Mention(source, -1, -1, "source", source))
    covered = [
        (m.start, m.end) for m in found if m.kind in ("experience", "graduation", "birth", "age", "months_a_year")
    ]
    numbers = [h for h in AMOUNT.finditer(text) if not re.search(r"[A-Za-z]$", text[: h.start()])]  # not "P7"
    for hit in sorted([*numbers, *_ZH_COUNT.finditer(text)], key=lambda h: h.start()):
        start, end = hit.span()
        words = hit.group(0).strip()
        if not words or any(s <= start and end <= e for s, e in covered):
            continue
        if re.fullmatch(r"\d", words) and (
            re.search(r"[(（]\s*$", text[:start])
            and re.match(r"\s*[)）]", text[end:])
            or re.search(r"(?:^|[\s:：])$", text[:start])
            and re.match(r"[.)、]\s", text[end:])
        ):
            continue  # "(1)", "2. ": a list marker, not a number of the question
        if re.match(r"(?:st|nd|rd|th)\b", text[end : end + 3], re.I):
            continue  # "4th-semester": an ordinal, not a quantity
        if re.fullmatch(r"(?:19|20)\d\d", words):
            found.append(Mention(words, start, end, "year", int(words)))
        else:
            found.append(Mention(words, start, end, "number", words))
    return sorted(found, key=lambda m: (m.start, -m.end))


# ------------------------------------------------------------------ accounting

_REASONS = {
    "en": {
        "number": "a number I could not place: not read as pay, a year, an age or years of experience",
        "year": "the figures are not limited to that year",
        "city": "not a place these figures are limited to",
        "place": "not a place these figures are limited to",
        "role": "not a role these figures are about",
        "skill": "not a skill these figures are limited to",
        "company": "not a company these figures are limited to",
        "source": "not a board these figures are limited to",
        "degree": "the figures are not limited by degree",
        "experience": "years of experience ({value:g}): the figures are not limited by experience",
        "graduation": "graduation year ({value}): postings state the experience they ask, not a graduation year",
        "birth": "birth year ({value}): the postings don't state age limits",
        "age": "age ({value}): the postings don't state age limits",
        "months_a_year": "{value} months of pay a year: the figures are monthly pay",
    },
    "zh": {
        "number": "无法确定含义的数字：未当作薪资、年份、年龄或工作年限",
        "year": "数字未限定在该年份",
        "city": "数字未限定在该地",
        "place": "数字未限定在该地",
        "role": "数字不是关于该岗位的",
        "skill": "数字未按该技能筛选",
        "company": "数字未限定该公司",
        "source": "数字未限定该招聘网站",
        "degree": "数字未按学历筛选",
        "experience": "工作年限（{value:g} 年）：数字未按经验筛选",
        "graduation": "毕业年份（{value}）：招聘数据写的是经验要求，不是毕业年份",
        "birth": "出生年份（{value}）：招聘数据不含年龄要求",
        "age": "年龄（{value}）：招聘数据不含年龄要求",
        "months_a_year": "一年 {value} 薪：数字是月薪",
    },
}
_READINGS = {
    "en": {"graduation_two_digit": "a graduation year, {value}", "birth_two_digit": "a birth year, {value}"},
    "zh": {"graduation_two_digit": "毕业年份 {value} 年（不是工作年限）", "birth_two_digit": "出生年份 {value} 年"},
}


def _spans(text: str, words: str) -> list[tuple[int, int]]:
    if not words:
        return []
    return [m.span() for m in re.finditer(re.escape(words), text)]


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _used_values(plan: Plan) -> dict[str, set[Any]]:
    """What the plan's populations, targets and (for advice) profile are limited to, by kind."""
    used: dict[str, set[Any]] = {k: set() for k in ("city", "role", "skill", "company", "source", "year", "degree",
                                                      "place", "title")}  # fmt: skip
    for subject in plan.subjects:
        used["city"] |= set(subject.cities)
        used["role"] |= set(subject.roles)
        used["skill"] |= set(subject.skills)
        used["company"] |= set(subject.companies)
        used["source"] |= set(subject.sources)
        used["year"] |= set(subject.years)
        used["degree"] |= set(subject.education)
        used["title"] |= {t.lower() for t in subject.title_terms}
    used["role"] |= set(plan.targets)
    used["skill"] |= set(plan.target_skills)
    used["place"] |= set(plan.query.unknown_places)  # the answer says there are no postings there
    profile = plan.query.profile
    if plan.intent == "advice" and profile is not None:
        used["city"] |= {profile.city} if profile.city else set()
        used["role"] |= {profile.role} if profile.role else set()
        used["skill"] |= set(profile.skills)  # the skill gap is against them
    if plan.measure == "education" or "education" in plan.extra_measures:
        used["degree"] |= {"phd", "master", "bachelor", "college"}
    return used


def _is_used(mention: Mention, plan: Plan, used: dict[str, set[Any]]) -> bool:
    kind, value = mention.kind, mention.value
    if kind == "degree" and "open_to" in plan.extra_measures:
        return True
    if kind in ("city", "company", "source", "year", "degree", "place"):
        return value in used[kind]
    if kind == "role":
        return value in used["role"] or (value == "ml" and bool(used["title"]))
    if kind == "skill" and value == "Artificial Intelligence" and {"llm", "nlp", "ml", "cv"} <= used["role"]:
        return True  # "AI" read as the AI role families (or the AI roles advice ranks)
    if kind == "skill":
        family = vocab.role_family(value)
        return (value in used["skill"] or family in used["role"] or value.lower() in used["title"]
                or any(t in value.lower() for t in used["title"]))  # fmt: skip
    if kind == "experience":
        return (any(s.experience_years is not None for s in plan.subjects) or "open_to" in plan.extra_measures
                or plan.measure == "top_experience")  # fmt: skip
    if kind == "graduation":
        return any(s.experience_years == (0, 0) for s in plan.subjects)
    if kind == "number" and plan.intent == "advice" and plan.query.profile and plan.query.profile.monthly_pay:
        return stated_pay(mention.words) == plan.query.profile.monthly_pay  # the pay the uplift is measured from
    return False


def account(plan: Plan, companies: tuple[str, ...] = ()) -> tuple[Part, ...]:
    """The parts of the question the plan neither uses nor already names, each with why, plus the reading taken
    where the words allow two ("17年专科": a year, not 17 years). Mentions inside a part the plan states are used
    (a placed pay, a threshold); inside a part it names as unused, already said."""
    text, lang = plan.text, plan.language
    stated = [(span, part) for part in plan.parts for span in _spans(text, part.words)]
    used = _used_values(plan)
    out: list[Part] = []
    seen: set[tuple[int, int]] = set()
    facts = asker_facts(text)
    mentioned = inventory(text, companies)
    # A skill written with the same words as a role the plan uses ("数据分析") is that role.
    used_roles = [(m.start, m.end) for m in mentioned if m.kind == "role" and _is_used(m, plan, used)]
    for mention in mentioned:
        span = (mention.start, mention.end)
        if mention.start >= 0 and any(_overlaps(span, s) for s, _ in stated):
            continue
        if mention.kind == "skill" and any(_overlaps(span, s) for s in used_roles):
            continue
        if any(_overlaps(span, s) for s in seen) or _is_used(mention, plan, used):
            continue
        if mention.kind in ("age", "birth") and any(p.topic and p.meaning == "age" for p in plan.parts):
            continue  # already declined or named as a topic the data lacks
        reason = _REASONS[lang][mention.kind].format(value=mention.value)
        out.append(Part(mention.words, mention.kind, reason, named=True))
        if mention.start >= 0:
            seen.add(span)
    unused = {(p.words, p.meaning) for p in out}
    for fact, key in ((facts.graduation, "graduation_two_digit"), (facts.birth, "birth_two_digit")):
        kind = key.split("_")[0]
        if fact is not None and re.match(r"\d{2}\s*年", fact.words) and (fact.words, kind) not in unused:
            out.append(Part(fact.words, _READINGS[lang][key].format(value=fact.value)))
    return tuple(out)


def with_accounting(plan: Plan, companies: tuple[str, ...] = ()) -> Plan:
    """The plan with a part for every number and named thing it neither uses nor names."""
    return replace(plan, parts=(*plan.parts, *account(plan, companies)))
