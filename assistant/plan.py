"""From an understood question to one typed `Plan`: what is measured, over which subjects, and which words of
the question each part came from, including the parts that cannot be used and why.

Pure and stdlib only: cue words are data (`data/intents.json`, key "plan"). The planner turns a Plan into
SQL figures; the writer states it back in words. Decisions worth knowing:

* A stated pay with a judging cue ("offer of 10k, high or low?", "月 base 40k 值得去吗") is placed among the
  matching postings (`pay_position`), never answered with a count. Yearly pay (年薪, 总包, TC, "a year") is
  divided by 12; a pay in another currency is named and not converted (the data has no exchange rate).
* A pay with a threshold cue ("more than 30k", "3万以上") bounds the postings and asks for their count and share.
* "AI jobs" means the AI role families, not the skill tag "Artificial Intelligence".
* A job name outside the role families and the skills ("prompt engineer", "AI开发专家") filters titles by its
  own words.
* Advice (ranked target roles and the skill gap) is only for questions about moving into another role.
  Other "should I" questions get the figures that bear on them and a plain word on what the data can't judge.
* Topics the postings cannot speak to (age, school rank, visas, hours, severance, options, interviews...) are
  named with the reason, never silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from assistant import vocab
from assistant.schema import Filters
from assistant.understand import Profile, Query, _data, _number, mentions

#: The role families that make up "AI jobs".
AI_FAMILIES = ("llm", "nlp", "ml", "cv", "speech", "ai_infra", "ai_engineering")
#: Where a worker usually aims when a switching question names no target role.
AI_TARGETS = ("llm", "nlp", "ml", "cv", "ai_infra", "data_engineering", "data_analysis")
#: Experience bands (minimum years a posting asks for) that a stated experience is placed in.
EXPERIENCE_BANDS = ((0, 0), (1, 2), (3, 4), (5, 9), (10, 99))
_AI_SKILL = "Artificial Intelligence"


@dataclass(frozen=True)
class Part:
    """A part of the question: its words, what it was read as, and, when it could not be used, why."""

    words: str
    meaning: str
    reason: str = ""

    @property
    def used(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class StatedPay:
    """A pay amount written in the question, as monthly CNY where it can be."""

    words: str
    monthly: float | None  # None when in another currency
    period: str  # month, year, day
    bound: str = ""  # "above" / "below" for a threshold, "" for a stated pay


@dataclass(frozen=True)
class Plan:
    """One question, planned: what is measured over which subjects, and how each part of it was read.

    `intent`: figure, comparison, trend, fact, advice, guidance (a "should I" with figures that bear on it),
    decline (nothing in the data answers it) or out_of_scope. `measure`: count, salary, share, top_city,
    top_company, top_skill, top_title, pay_position, education or experience. `subjects` are the
    populations measured, one per side of a comparison. `rank_by` is "count" or "salary" for top_* measures.
    """

    query: Query
    intent: str
    measure: str | None
    subjects: tuple[Filters, ...]
    rank_by: str = "count"
    stated_pay: float | None = None
    parts: tuple[Part, ...] = ()
    period: str = ""  # "this_year" / "last_year": resolved against the newest data by the planner
    extra_measures: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # advice: the role families to rank
    target_skills: tuple[str, ...] = ()
    compare_kind: str = ""  # the filter kind the subjects differ in
    notes: tuple[str, ...] = field(default=())

    @property
    def language(self) -> str:
        return self.query.language

    @property
    def text(self) -> str:
        return self.query.text

    @property
    def profile(self) -> Profile | None:
        return self.query.profile

    def unused(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if not p.used)


@cache
def _cue(name: str) -> re.Pattern[str]:
    node: Any = _data()["plan"]
    for part in name.split("."):
        node = node[part]
    words = node["words"] if isinstance(node, dict) and "words" in node else node
    return vocab.alias_pattern(words)


def _has(name: str, text: str) -> bool:
    return bool(_cue(name).search(text))


_AMOUNT = re.compile(
    r"(?P<cur>[$¥€£]\s*)?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<mult>[kKwW](?![A-Za-z])|万|千)?"
    r"(?:\s*[-–~到至]\s*(?P<num2>\d+(?:\.\d+)?)\s*(?P<mult2>[kKwW](?![A-Za-z])|万|千)?)?"
    r"(?:\s*(?P<unit>元|块|rmb|cny|yuan|usd|dollars?|美元|美金|eur|euros?))?",
    re.IGNORECASE,
)
_ZH_AMOUNT = re.compile(r"[一二两三四五六七八九十][零一二两三四五六七八九十百千]*[千万][一二两三四五六七八九]?")


def _value(num: str, mult: str | None) -> float:
    value = float(num.replace(",", ""))
    return value * {"k": 1000, "w": 10000, "万": 10000, "千": 1000}.get((mult or "").lower(), 1)


def stated_pays(text: str) -> list[StatedPay]:
    """Pay amounts in a question: "10,000 RMB per month", "年薪 30w", "20w-30w 总包", "TC: 135K", "3万以上"."""
    found: list[StatedPay] = []
    hits: list[tuple[int, int, re.Match[str] | None]] = [(m.start(), m.end(), m) for m in _AMOUNT.finditer(text)]
    hits += [(m.start(), m.end(), None) for m in _ZH_AMOUNT.finditer(text)]
    for start, end, hit in sorted(hits, key=lambda h: h[0]):
        before, after = text[max(0, start - 12) : start], text[end : end + 14]
        if hit is not None:
            mult, unit, cur = hit.group("mult"), (hit.group("unit") or ""), (hit.group("cur") or "")
            money_cue = mult or unit or cur or re.search(r"薪|工资|base|salary|pay|offer|包|TC|收入", before, re.I)
            if not money_cue:
                continue  # "5 years", "2017", "985" are not pay
            value = _value(hit.group("num"), mult)
            if hit.group("num2"):
                value = (value + _value(hit.group("num2"), hit.group("mult2") or mult)) / 2
        else:
            value = _number(text[start:end])
            cur = unit = ""
        words = text[start:end].strip()
        near = f"{before} {words} {after}"
        foreign = bool(_cue("foreign_currency").search(f"{cur}{unit} {after[:8]}"))
        # "TC: 135K" on an English forum is a yearly package in an unstated currency: not CNY by default.
        if re.search(r"\bTC\b|total comp", before, re.I) and not re.search(r"rmb|cny|yuan|元|万|w\b", near, re.I):
            foreign = True
        ctx_before = before[-8:]
        period = "month"
        if _cue("year_pay").search(ctx_before) or _cue("year_pay").search(after[:10]):
            period = "year"
        if _cue("month_pay").search(after[:10]) or re.search(r"月\s*(?:base)?\s*$|monthly\s*$", ctx_before, re.I):
            period = "month"
        elif _cue("day_pay").search(after[:6]) and not _cue("year_pay").search(ctx_before):
            period = "day"
        monthly = None if foreign else {"month": value, "year": value / 12, "day": value * 21.75}[period]
        if monthly is not None and not 1000 <= monthly <= 1_000_000:
            continue
        bound = ""
        if _cue("above").search(before[-8:]) or re.match(r"\s*(?:以上|\+|or more|plus)", after, re.I):
            bound = "above"
        elif _cue("below").search(before[-8:]) or re.match(r"\s*(?:以下|以内|or less)", after, re.I):
            bound = "below"
        found.append(StatedPay(words, round(monthly, 2) if monthly else None, period, bound))
    return found


def _ai_jobs(query: Query, base: Filters) -> tuple[Filters, list[Part]]:
    """ "AI jobs" is the AI role families, not the skill tag "Artificial Intelligence"."""
    hit = _cue("ai_jobs").search(query.text)
    if not hit or _AI_SKILL not in base.skills or base.roles:
        return base, []
    skills = tuple(s for s in base.skills if s != _AI_SKILL)
    meaning = "AI roles: " + ", ".join(vocab.role_label(r, "en") for r in AI_FAMILIES)
    return base.with_(roles=AI_FAMILIES, skills=skills), [Part(hit.group(0), meaning)]


def _title_terms(query: Query, base: Filters) -> tuple[Filters, list[Part]]:
    """A job name outside the role families and skills becomes a title filter on its own words."""
    text = query.text
    nouns_en = "|".join(_data()["plan"]["job_nouns_en"])
    parts: list[Part] = []
    terms: list[str] = []
    for hit in re.finditer(rf"\b((?:[A-Za-z][\w+#.-]*\s+){{0,1}}[A-Za-z][\w+#.-]*)\s+(?:{nouns_en})\b", text, re.I):
        head = hit.group(1)
        last = head.split()[-1]
        if last.lower() in ("a", "an", "the", "as", "my", "ai", "software", "senior", "junior", "an"):
            continue
        if _known(head) or _known(last) or _known(hit.group(0)):
            continue
        terms.append(last if len(head.split()) > 1 and _stop(head.split()[0]) else head)
        parts.append(Part(hit.group(0), f"job titles containing “{terms[-1]}”"))
    nouns_zh = "|".join(_data()["plan"]["job_nouns_zh"])
    for hit in re.finditer(rf"((?:[A-Za-z]+\s*)?[\u4e00-\u9fff]{{1,4}}?)(?:{nouns_zh})", text):
        head = re.sub(r"\s+", "", hit.group(1))
        head = re.sub(r"^(?:的|做|当|个|名|位|老|资深|高级|初级|中级|一个|一名)+", "", head)
        if len(head) < 2 or _known(hit.group(0)) or _known(head) or re.search(r"[的是在做找]", head):
            continue
        terms.append(head)
        parts.append(Part(hit.group(0).strip(), f"job titles containing “{head}”"))
    if not terms:
        return base, []
    return base.with_(title_terms=tuple(dict.fromkeys(terms))), parts


_STOP = {"a", "an", "the", "as", "my", "our", "for", "to", "of", "and", "or", "is", "be", "do", "does", "what",
         "senior", "junior", "lead", "good", "experienced"}  # fmt: skip


def _stop(word: str) -> bool:
    return word.lower() in _STOP


def _known(words: str) -> bool:
    """Does a role family, a skill or a city already name these words?"""
    found = mentions(words, (), strict_case=False)
    return bool(found.roles or found.skills or found.cities) or _stop(words)


def _unanswerable(text: str, language: str) -> list[Part]:
    parts = []
    for name, topic in _data()["plan"]["unanswerable"].items():
        hit = _cue(f"unanswerable.{name}").search(text)
        if hit:
            parts.append(Part(hit.group(0), name, topic["reason"][language]))
    return parts


def _experience(text: str) -> tuple[int, int] | None:
    """Years of experience the asker states ("5 years of experience", "YOE: 1.5", "8年经验", "干了8年")."""
    m = re.search(r"(\d+(?:\.\d+)?)\+?\s*(?:years?|yrs?)\s*(?:of\s+)?(?:experience|exp\b|in\b)", text, re.I)
    m = m or re.search(r"YOE\s*[:：]?\s*(\d+(?:\.\d+)?)", text, re.I)
    m = m or re.search(
        r"(?:干了|工作了?|做了|从业)\s*(\d+)\s*年|(\d+)\s*年(?:工作)?经验|(\d+)\s*年(?=[^\d月]{0,4}(?:开发|前端|后端|java|程序员))",
        text,
        re.I,
    )  # noqa: E501
    if not m:
        return None
    years = float(next(g for g in m.groups() if g))
    return next(band for band in EXPERIENCE_BANDS if band[0] <= round(years) <= band[1] or band == EXPERIENCE_BANDS[-1])


def _education_levels(text: str) -> tuple[str, ...]:
    levels = _data()["plan"]["education_levels"]
    return tuple(level for level, words in levels.items() if vocab.alias_pattern(words).search(text))


def _split_sides(text: str, base: Filters, companies: tuple[str, ...]) -> tuple[Filters, Filters, str] | None:
    """Two sides of a comparison split at its cue ("ML compared with Java jobs", "深圳 vs 全国"): the kind both
    sides name with different values is compared; "all cities" on the second side drops that kind there; with
    a strong cue ("compared with", "相比"), sides of different kinds are compared as they are."""
    _KINDS = ("cities", "roles", "companies", "sources", "skills")
    for hit in _cue("compare_split").finditer(text):
        strong = bool(_cue("strong_compare").fullmatch(hit.group(0)))
        left, right = text[: hit.start()], text[hit.end() :]
        a, b = mentions(left, companies, strict_case=False), mentions(right, companies, strict_case=False)
        sides = [{k: tuple(getattr(found, k)) for k in _KINDS if getattr(found, k)} for found in (a, b)]
        for kind, words in _data()["plan"]["all_of_kind"].items():
            if vocab.alias_pattern(words).search(right) and sides[0].get(kind):
                return base.with_(**{kind: sides[0][kind]}), base.with_(**{kind: ()}), kind
        for kind in _KINDS:
            if kind in sides[0] and kind in sides[1] and sides[0][kind] != sides[1][kind]:
                first, second = base.with_(**{kind: sides[0][kind]}), base.with_(**{kind: sides[1][kind]})
                if kind == "roles":
                    first, second = first.with_(skills=()), second.with_(skills=())
                if kind == "skills" and not (a.roles and b.roles):
                    first, second = first.with_(roles=base.roles), second.with_(roles=base.roles)
                return first, second, kind
        if strong and sides[0] and sides[1]:
            one = next(iter(sides[0]))
            two = next(iter(sides[1]))
            if one != two and {one, two} <= {"roles", "skills"}:
                first = base.with_(roles=(), skills=(), **{one: sides[0][one]})
                second = base.with_(roles=(), skills=(), **{two: sides[1][two]})
                return first, second, "roles"
    return None


def _two_of(base: Filters) -> tuple[tuple[Filters, ...], str]:
    for kind in ("cities", "roles", "companies", "sources", "title_terms", "skills"):
        values = getattr(base, kind)
        if kind == "roles" and values == AI_FAMILIES:
            continue  # "AI jobs" is one population
        if len(values) >= 2 and not (kind == "skills" and base.roles):
            return tuple(base.with_(**{kind: (v,)}) for v in values), kind
    return (base,), ""


def make_plan(query: Query, companies: tuple[str, ...] = ()) -> Plan:
    """Plan a question understood by `understand`: measure, subjects and the part each word played."""
    text = unicodedata.normalize("NFKC", query.text).replace("’", "'")
    lang = query.language
    base = Filters(
        cities=query.cities, roles=query.roles, skills=() if query.roles else query.skills,
        companies=query.companies, years=query.years, sources=query.sources,
    )  # fmt: skip
    parts: list[Part] = []
    base, found = _ai_jobs(query, base)
    parts += found
    if not base.roles and not base.skills and not base.companies:
        base, found = _title_terms(query, base)
        parts += found
    parts += _unanswerable(text, lang)
    intent, measure = query.intent, query.measure
    if intent == "out_of_scope":
        return Plan(query, intent, None, (), parts=tuple(parts))
    # The asker's own pay (a stated profile) is not what they ask about unless they ask to judge it.
    pays = [p for p in stated_pays(text)]
    judging = _has("judge", text)
    period = "this_year" if _has("this_year", text) else "last_year" if _has("last_year", text) else ""
    if period and query.years:
        period = ""
    extra: list[str] = []
    rank_by = "count"
    stated: float | None = None
    switching = _has("switch", text)
    if any(p.monthly is None for p in pays) and query.profile and query.profile.monthly_pay:
        query = replace(query, profile=replace(query.profile, monthly_pay=None))  # "TC 135K" is not 135k CNY
    for pay in pays:
        if pay.monthly is None:
            parts.append(Part(pay.words, "pay in another or unstated currency",
                              "the postings are in CNY and no exchange rate is applied"))  # fmt: skip
    cny = [p for p in pays if p.monthly is not None]
    if cny and _has("take_home", text):
        hit = _cue("take_home").search(text)
        assert hit is not None
        parts.append(Part(hit.group(0), "take-home pay", "postings advertise pre-tax pay; compared as you wrote it"))
    bounded = [p for p in cny if p.bound]
    if bounded and intent not in ("advice",):
        pay = bounded[0]
        base = base.with_(**{"pay_min" if pay.bound == "above" else "pay_max": pay.monthly})
        parts.append(Part(pay.words, f"postings paying {'more' if pay.bound == 'above' else 'less'} than "
                                     f"{pay.monthly:,.0f} CNY a month"))  # fmt: skip
        intent, measure = "figure", "share"
    elif cny and (judging or measure in ("salary", None) or intent in ("figure", "fact")) and not switching:
        pay = cny[0]
        stated = pay.monthly
        read = f"{pay.monthly:,.0f} CNY a month" + (" (yearly ÷ 12)" if pay.period == "year" else "")
        parts.append(Part(pay.words, read))
        intent, measure = "figure", "pay_position"
    experience = _experience(text)
    if experience is not None:
        words = "years of experience"
        if measure in ("salary", "pay_position") or intent == "figure":
            base = base.with_(experience_years=experience)
            parts.append(Part(words, "postings asking for {}–{} years".format(*experience)))
        else:
            parts.append(Part(words, "years of experience", "used only for pay figures"))
    education_asked = _has("education", text)
    levels = _education_levels(text)
    if education_asked and _has("requirement", text) and not stated and not switching:
        intent, measure = ("figure", "education") if intent != "comparison" else (intent, measure)
        if levels:
            parts.append(Part(", ".join(levels), "education the postings ask for"))
    elif education_asked and levels:
        extra.append("education")
    if _has("salary_asked", text) and measure in (None, "count"):
        measure = "salary"
        intent = "figure" if intent in ("fact", "figure") else intent
    if measure and measure.startswith("top_") and _has("rank_by_pay", text) and measure != "top_skills":
        rank_by = "salary"
    subjects: tuple[Filters, ...] = (base,)
    compare_kind = ""
    choosing = query.intent == "comparison" or _has("choice", text)
    split = _split_sides(text, base, companies) if choosing else None
    if split and measure not in ("pay_position", "share", "education") and not switching:
        first, second, compare_kind = split
        subjects = (first, second)
        intent = "comparison"
        measure = measure if measure in ("count", "salary", "share") else _compare_measure(text)
    elif intent == "comparison" or (choosing and not switching and intent in ("advice", "fact") and _two_of(base)[1]):
        subjects, compare_kind = _two_of(base)
        if len(subjects) > 1:
            intent = "comparison"
            measure = measure if measure in ("count", "salary", "share") else _compare_measure(text)
            if compare_kind == "skills":
                measure = "share"
    targets: tuple[str, ...] = ()
    target_skills: tuple[str, ...] = ()
    if intent == "advice":
        if switching:
            profile = query.profile or Profile()
            cue = _cue("switch").search(text)
            assert cue is not None
            # Roles named before the switching cue are where the asker comes from; after it, where they aim.
            before = mentions(text[: cue.start()], companies, strict_case=False)
            after = mentions(text[cue.start() :], companies, strict_case=False)
            origin = {*before.roles, profile.role}
            targets = tuple(r for r in after.roles if r not in origin)
            if not after.roles:
                targets = tuple(r for r in query.roles if r not in origin)
            target_skills = tuple(s for s in after.skills if s not in profile.skills and not after.roles)
            if not targets and (not target_skills or _cue("ai_jobs").search(text[cue.start() :])):
                targets = tuple(r for r in AI_TARGETS if r not in origin)
        else:
            intent = "guidance" if (base.roles or base.skills or base.cities or base.title_terms) else "decline"
            measure = "salary"
    elif intent == "fact" and _has("opinion", text) and not _has("prediction", text):
        intent = "decline" if not (base.roles or base.skills) else "guidance"
    if intent == "fact" and _has("prediction", text) and (base.roles or base.skills or base.title_terms):
        intent, measure = "trend", None  # what the data can say about a forecast: how demand moved
        parts.append(Part(_cue("prediction").search(text).group(0).strip(), "a forecast",  # type: ignore[union-attr]
                          "the data can't predict; it shows how postings moved between snapshots"))  # fmt: skip
    if intent == "guidance":
        measure = measure if measure in ("education", "pay_position", "share") else "salary"
    return Plan(
        query=query, intent=intent, measure=measure, subjects=subjects, rank_by=rank_by, stated_pay=stated,
        parts=tuple(parts), period=period, extra_measures=tuple(extra), targets=targets,
        target_skills=target_skills, compare_kind=compare_kind,
    )  # fmt: skip


def _compare_measure(text: str) -> str:
    return "count" if _data()["comparison_count"] and vocab.alias_pattern(_data()["comparison_count"]).search(text) \
        else "salary"  # fmt: skip


def with_period(plan: Plan, year: int) -> Plan:
    """The plan with its relative period ("this year") resolved to a year of the data."""
    return replace(plan, subjects=tuple(s.with_(years=(year,)) for s in plan.subjects))
